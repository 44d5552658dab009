from pathlib import Path

from culturalign.logs import script_log
from culturalign.report.pages import tables_page
from culturalign.report.tables import (
    alignment_table,
    consistency_table,
    filtering_table,
    ledger_table,
    read_tables,
)

with script_log(snakemake.log[0]) as log:
    inputs, params, outputs = snakemake.input, snakemake.params, snakemake.output
    template = Path(inputs.template).read_text(encoding="utf-8")
    tables = read_tables(dict(snakemake.input.items()), params.translated)
    fit = tables["rq1_fit"]
    # name: (title, [(heading, table)], warnings)
    pages = {
        "alignment": lambda: (
            "Alignment with survey populations",
            [
                (
                    "Spearman rho per model, language and population, mean over seeds",
                    alignment_table(tables["alignment"]),
                )
            ],
            [],
        ),
        "consistency": lambda: (
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
        "rq1": lambda: (
            "RQ1: multilingual capability and alignment",
            [("Fixed effects (lme4 and the statsmodels cross-check)", tables["rq1"]), ("Fits", fit)],
            [unit for unit in fit["observation_unit"].unique() if "too small" in unit],
        ),
        "rq2": lambda: (
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
        "filtering": lambda: (
            "Filtering and language fidelity",
            [("Responses kept and filtered out, pooled over seeds", filtering_table(tables["filtering"]))]
            + ([("Language fidelity", tables["language_fidelity"])] if "language_fidelity" in tables else []),
            [],
        ),
        "judge_agreement": lambda: (
            "Judge agreement",
            [("Agreement per language and judge pair", tables["judge_agreement"])],
            [],
        ),
        "ledger": lambda: (
            "Cost ledger",
            [("Requests, tokens, dollars and seconds per stage and model", ledger_table(tables["ledger"]))],
            [],
        ),
    }
    for name, path in ((name, path) for name, path in outputs.items() if path):
        title, sections, warnings = pages[name]()
        Path(path).write_text(
            tables_page(template, title, sections, params.notes, warnings), encoding="utf-8"
        )
        log.info("%s: %s", name, path)
