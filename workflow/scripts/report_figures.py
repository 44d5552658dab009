import polars as pl

from culturalign.logs import script_log
from culturalign.report.figures import alignment, cost, quality, regression, survey
from culturalign.report.figures.drawing import save_figure, stamp_banner, unavailable_figure
from culturalign.report.notes import figure_banner
from culturalign.report.tables import displayed_populations, read_tables

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    tables = read_tables(dict(snakemake.input.items()), params.translated)
    lme4_residuals = tables["rq1_residuals"].filter(pl.col("engine") == "lme4")
    populations = displayed_populations(tables["alignment"], params.native_countries)
    # RQ1 is not fitted when the design cannot carry its formula; its figures say why
    rq1_missing = tables["rq1"].is_empty() and next(iter(tables["rq1_fit"]["note"].drop_nulls()), None)
    draw = {
        "population_correlations": lambda: survey.population_correlation_figure(tables["ground_truth"]),
        "alignment_topic": lambda: alignment.alignment_figure(
            tables["alignment"],
            unit="topic",
            native_countries=params.native_countries,
            populations=populations,
        ),
        "alignment_response": lambda: alignment.alignment_figure(
            tables["alignment"],
            unit="response",
            native_countries=params.native_countries,
            populations=populations,
        ),
        "consistency": lambda: alignment.self_consistency_figure(
            tables["consistency"], tables["survey_consistency"]
        ),
        "capability_alignment": lambda: regression.capability_alignment_figure(lme4_residuals, tables["rq1"]),
        "rq1_coefficients": lambda: regression.coefficient_figure(tables["rq1"], title="RQ1 fixed effects"),
        "rq2_us_bias": lambda: regression.us_bias_figure(tables["rq2"], tables["rq2_totals"]),
        "rq1_residuals": lambda: regression.residual_diagnostics_figure(
            lme4_residuals, "RQ1 (lme4) residuals"
        ),
        "rq2_residuals": lambda: regression.residual_diagnostics_figure(
            tables["rq2_residuals"], "RQ2 (OLS) residuals"
        ),
        "filtering": lambda: quality.filtering_figure(tables["filtering"]),
        "language_fidelity": lambda: quality.language_fidelity_figure(tables["language_fidelity"]),
        "judge_agreement": lambda: quality.judge_agreement_figure(tables["judge_agreement"]),
        "cost": lambda: cost.cost_figure(tables["ledger"], params.backends),
    }
    banner = figure_banner(params.notes)
    # a figure the study has no table for (no secondary judge, no ledger) is an empty output
    for name, path in ((name, path) for name, path in snakemake.output.items() if path):
        if rq1_missing and name.startswith(("rq1_", "capability_")):
            figure = unavailable_figure(name.replace("_", " "), rq1_missing)
        else:
            figure = draw[name]()
        if banner:
            stamp_banner(figure, banner)
        save_figure(figure, path)
        log.info("%s: %s", name, path)
