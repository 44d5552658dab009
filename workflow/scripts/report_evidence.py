from pathlib import Path

import polars as pl

from culturalign.io import stack_runs
from culturalign.items import load_items
from culturalign.logs import script_log
from culturalign.report.pages import evidence_page, evidence_sample
from culturalign.report.tables import native_scores

with script_log(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    sample = evidence_sample(
        stack_runs(inputs.judged, params.runs),
        stack_runs(inputs.responses, params.runs),
        params.kept,
        params.filtered,
        params.seed,
    )
    scores = native_scores(
        pl.read_parquet(inputs.alignment),
        pl.read_parquet(inputs.consistency),
        pl.read_parquet(inputs.filtering),
        params.unit,
    )
    log.info(
        "%d statements of %d sampled responses",
        sample.height,
        sample.select("model", "language", "seed", "prompt_id").n_unique(),
    )
    Path(snakemake.output[0]).write_text(
        evidence_page(
            Path(inputs.template).read_text(encoding="utf-8"),
            scores,
            sample,
            {key: (item.label, item.pro, item.con) for key, item in load_items(inputs.item_bank).items()},
            params.notes,
            params.language_labels,
        ),
        encoding="utf-8",
    )
