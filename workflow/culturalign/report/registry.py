"""What the report shows: one entry per figure and per page of tables, with its caption, its place
in report.html (category, labels), how it is made from the result tables, and for which studies it
is shown. rules/report.smk builds its outputs from these entries and the report scripts make each
output by its entry: adding a figure is one drawing function, one entry and one caption file.

`draw` and `build` take the rule's result tables by name and its params (`snakemake.params`:
`simulated_models`, `gpu_models`, `reference`, `notes`)."""

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from culturalign.report.tables import (
    alignment_table,
    consistency_table,
    displayed_populations,
    filtering_table,
    ledger_table,
)
from culturalign.survey import native_mapping

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Tables = Mapping[str, pl.DataFrame]
Sections = list[tuple[str, pl.DataFrame]]


def figures(module: str):
    """A module of culturalign.report.figures, imported when a figure is drawn: planning a study
    reads this registry, and should not pay for matplotlib."""
    return importlib.import_module(f"culturalign.report.figures.{module}")


@dataclass(frozen=True)
class ReportScope:
    """What of a study decides which parts its report shows: the alignment units it measures
    (alignment.units), whether it re-analyses imported judged data (judged_import: nothing was
    generated, so no cost ledger and no language fidelity), and whether secondary judges labelled
    the same statements (their agreement)."""

    units: tuple[str, ...]
    imported: bool
    secondary_judges: bool


def result_tables(scope: ReportScope) -> dict[str, str]:
    """The study-wide results tables the report is drawn from, by name."""
    tables = {
        "ground_truth": "results/survey/ground_truth.parquet",
        "native_countries": "results/survey/native_countries.csv",
        "survey_consistency": "results/survey/consistency.parquet",
        "alignment": "results/alignment.parquet",
        "consistency": "results/consistency.parquet",
        "filtering": "results/filtering.parquet",
        "rq1": "results/regression/rq1.csv",
        "rq1_fit": "results/regression/rq1_fit.csv",
        "rq1_residuals": "results/regression/rq1_residuals.csv",
        "rq2": "results/regression/rq2.csv",
        "rq2_totals": "results/regression/rq2_totals.csv",
        "rq2_residuals": "results/regression/rq2_residuals.csv",
    }
    if not scope.imported:
        tables["language_fidelity"] = "results/language_fidelity.csv"
        tables["ledger"] = "results/ledger.csv"
    if scope.secondary_judges:
        tables["judge_agreement"] = "results/judge_agreement.csv"
    return tables


def always(scope: ReportScope) -> bool:
    return True


def generated(scope: ReportScope) -> bool:
    return not scope.imported


def judged_twice(scope: ReportScope) -> bool:
    return scope.secondary_judges


def measured_at(unit: str) -> Callable[[ReportScope], bool]:
    return lambda scope: unit in scope.units


@dataclass(frozen=True)
class FigureEntry:
    """A figure, written to `path`; `caption` is its file under workflow/report/."""

    name: str
    caption: str
    category: str
    draw: "Callable[[Tables, Any], Figure]"
    labels: Mapping[str, str] | None = None
    shown: Callable[[ReportScope], bool] = always
    # Drawn from a regression's fit (rq1, rq2): where the design could not carry it, the figure
    # says why instead.
    fitted_by: str | None = None

    @property
    def path(self) -> str:
        return f"results/report/figures/{self.name}.png"


@dataclass(frozen=True)
class TablePage:
    """A page of headed tables, written to `path`: `build` gives its title, its (heading, table)
    sections and the warnings shown above them."""

    name: str
    caption: str
    labels: Mapping[str, str]
    build: Callable[[Tables, Any], tuple[str, Sections, list[str]]]
    shown: Callable[[ReportScope], bool] = always
    category: str = "6. Tables"

    @property
    def path(self) -> str:
        return f"results/report/tables/{self.name}.html"


def _alignment_figure(unit: str) -> "Callable[[Tables, Any], Figure]":
    def draw(tables: Tables, params: Any) -> "Figure":
        natives = native_mapping(tables["native_countries"])
        return figures("alignment").alignment_figure(
            tables["alignment"],
            unit=unit,
            native_countries=natives,
            populations=displayed_populations(tables["alignment"], natives),
        )

    return draw


def _lme4_residuals(tables: Tables) -> pl.DataFrame:
    return tables["rq1_residuals"].filter(pl.col("engine") == "lme4")


# Drawn by rule report_figures, in the order the report lists them.
STUDY_FIGURES = (
    FigureEntry(
        "population_correlations",
        "population_correlations.rst",
        "4. Survey",
        lambda tables, params: figures("survey").population_correlation_figure(tables["ground_truth"]),
    ),
    FigureEntry(
        "alignment_topic",
        "alignment_figure.rst",
        "1. Alignment",
        _alignment_figure("topic"),
        labels={"figure": "alignment", "unit": "topic"},
        shown=measured_at("topic"),
    ),
    FigureEntry(
        "alignment_response",
        "alignment_figure.rst",
        "1. Alignment",
        _alignment_figure("response"),
        labels={"figure": "alignment", "unit": "response"},
        shown=measured_at("response"),
    ),
    FigureEntry(
        "consistency",
        "consistency_figure.rst",
        "1. Alignment",
        lambda tables, params: figures("alignment").self_consistency_figure(
            tables["consistency"], tables["survey_consistency"]
        ),
        labels={"figure": "self-consistency"},
    ),
    FigureEntry(
        "capability_alignment",
        "capability_alignment.rst",
        "2. Regression",
        lambda tables, params: figures("regression").capability_alignment_figure(
            _lme4_residuals(tables), tables["rq1"]
        ),
        labels={"figure": "RQ1 capability and alignment"},
        fitted_by="rq1",
    ),
    FigureEntry(
        "rq1_coefficients",
        "rq1_coefficients.rst",
        "2. Regression",
        lambda tables, params: figures("regression").coefficient_figure(
            tables["rq1"], title="RQ1 fixed effects"
        ),
        labels={"figure": "RQ1 coefficients"},
        fitted_by="rq1",
    ),
    FigureEntry(
        "rq2_us_bias",
        "rq2_us_bias.rst",
        "2. Regression",
        lambda tables, params: figures("regression").us_bias_figure(tables["rq2"], tables["rq2_totals"]),
        labels={"figure": "RQ2 US bias"},
        fitted_by="rq2",
    ),
    FigureEntry(
        "rq1_residuals",
        "residuals.rst",
        "2. Regression",
        lambda tables, params: figures("regression").residual_diagnostics_figure(
            _lme4_residuals(tables), "RQ1 (lme4) residuals"
        ),
        labels={"figure": "RQ1 residuals"},
        fitted_by="rq1",
    ),
    FigureEntry(
        "rq2_residuals",
        "residuals.rst",
        "2. Regression",
        lambda tables, params: figures("regression").residual_diagnostics_figure(
            tables["rq2_residuals"], "RQ2 (OLS) residuals"
        ),
        labels={"figure": "RQ2 residuals"},
        fitted_by="rq2",
    ),
    FigureEntry(
        "filtering",
        "filtering_figure.rst",
        "3. Quality",
        lambda tables, params: figures("quality").filtering_figure(tables["filtering"]),
        labels={"figure": "filtering"},
    ),
    FigureEntry(
        "language_fidelity",
        "language_fidelity.rst",
        "3. Quality",
        lambda tables, params: figures("quality").language_fidelity_figure(tables["language_fidelity"]),
        labels={"figure": "language fidelity"},
        shown=generated,
    ),
    FigureEntry(
        "judge_agreement",
        "judge_agreement.rst",
        "3. Quality",
        lambda tables, params: figures("quality").judge_agreement_figure(tables["judge_agreement"]),
        labels={"figure": "judge agreement"},
        shown=judged_twice,
    ),
    FigureEntry(
        "cost",
        "cost.rst",
        "5. Cost",
        lambda tables, params: figures("cost").cost_figure(
            tables["ledger"], params.simulated_models, params.gpu_models
        ),
        labels={"figure": "cost"},
        shown=generated,
    ),
)

# Drawn by rule report_safety, which runs only when the safety stage is reported.
SAFETY_FIGURES = (
    FigureEntry(
        "safety_rates",
        "safety_rates.rst",
        "8. Safety",
        lambda tables, params: figures("safety").safety_rates_figure(tables["rates"]),
        labels={"figure": "safety rates"},
    ),
    FigureEntry(
        "safety_alignment",
        "safety_alignment.rst",
        "8. Safety",
        lambda tables, params: figures("safety").safety_alignment_figure(
            tables["pairs"], tables["correlation"], reference=params.reference
        ),
        labels={"figure": "safety and alignment"},
    ),
)

# Built by rule report_tables.
TABLE_PAGES = (
    TablePage(
        "alignment",
        "alignment_table.rst",
        {"table": "alignment"},
        lambda tables, params: (
            "Alignment with survey populations",
            [
                (
                    "Spearman rho per model, language and population, mean over seeds",
                    alignment_table(tables["alignment"]),
                )
            ],
            [],
        ),
    ),
    TablePage(
        "consistency",
        "consistency_table.rst",
        {"table": "self-consistency"},
        lambda tables, params: (
            "Self-consistency",
            [
                ("Models, mean over seeds", consistency_table(tables["consistency"])),
                (
                    "Survey populations (two disjoint draws of 10 respondents per item)",
                    tables["survey_consistency"],
                ),
            ],
            [],
        ),
    ),
    TablePage(
        "rq1",
        "rq1_table.rst",
        {"table": "RQ1"},
        lambda tables, params: (
            "RQ1: multilingual capability and alignment",
            [
                ("Fixed effects (lme4 and the statsmodels cross-check)", tables["rq1"]),
                ("Fits", tables["rq1_fit"]),
            ],
            [unit for unit in tables["rq1_fit"]["observation_unit"].unique() if "too small" in unit],
        ),
    ),
    TablePage(
        "rq2",
        "rq2_table.rst",
        {"table": "RQ2"},
        lambda tables, params: (
            "RQ2: US bias",
            [
                ("US minus native alignment per model and language", tables["rq2_totals"]),
                (
                    "OLS coefficients (reference: the analytic null of a uniform respondent; CIs over seeds)",
                    tables["rq2"],
                ),
            ],
            [],
        ),
    ),
    TablePage(
        "filtering",
        "filtering_table.rst",
        {"table": "filtering and language fidelity"},
        lambda tables, params: (
            "Filtering and language fidelity",
            [("Responses kept and filtered out, pooled over seeds", filtering_table(tables["filtering"]))]
            + ([("Language fidelity", tables["language_fidelity"])] if "language_fidelity" in tables else []),
            [],
        ),
    ),
    TablePage(
        "judge_agreement",
        "judge_agreement.rst",
        {"table": "judge agreement"},
        lambda tables, params: (
            "Judge agreement",
            [("Agreement per language and judge pair", tables["judge_agreement"])],
            [],
        ),
        shown=judged_twice,
    ),
    TablePage(
        "ledger",
        "cost.rst",
        {"table": "cost ledger"},
        lambda tables, params: (
            "Cost ledger",
            [("Requests, tokens, dollars and seconds per stage and model", ledger_table(tables["ledger"]))],
            [],
        ),
        shown=generated,
    ),
)


def shown_entries(entries: Sequence[FigureEntry | TablePage], scope: ReportScope) -> list:
    """The entries a study with this scope shows, in their order."""
    return [entry for entry in entries if entry.shown(scope)]


def entry_named(entries: Sequence[FigureEntry | TablePage], name: str) -> FigureEntry | TablePage:
    (entry,) = [entry for entry in entries if entry.name == name]
    return entry
