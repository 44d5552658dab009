from pathlib import Path

import polars as pl

from culturalign.logs import script_log
from culturalign.report.summary import judge_validity_summary, safety_summary, summary_markdown
from culturalign.report.tables import native_scores, read_tables

with script_log(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    validity = read_tables({name: inputs[name] for name in params.validity}, params.language_labels)
    if params.completions_import:
        # a re-analysis of safety completions: its judges are its results
        summary = "# culturalign: a safety re-analysis of released completions\n"
    else:
        scores = native_scores(
            pl.read_parquet(inputs.alignment),
            pl.read_parquet(inputs.consistency),
            pl.read_parquet(inputs.filtering),
            params.unit,
        )
        summary = summary_markdown(
            scores,
            pl.read_parquet(inputs.survey_consistency),
            pl.read_csv(inputs.rq1),
            pl.read_csv(inputs.rq1_fit),
            pl.read_csv(inputs.rq2),
            pl.read_csv(inputs.rq2_totals),
            pl.read_csv(inputs.ledger) if hasattr(inputs, "ledger") else None,
            params.notes,
            params.language_labels,
            params.baselines,
        )
        log.info("summary of %d (model, language) pairs", scores.height)
    if inputs.safety_pairs:
        summary += safety_summary(
            pl.read_csv(inputs.safety_pairs),
            pl.read_csv(inputs.safety_correlation),
            validity["matcher"],
            params.safety_reference,
            params.language_labels,
        )
    if validity:
        summary += judge_validity_summary(validity, params.language_labels)
    Path(snakemake.output[0]).write_text(summary, encoding="utf-8")
