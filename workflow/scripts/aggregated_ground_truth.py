from pathlib import Path

import polars as pl

from culturalign.items import load_items
from culturalign.logs import script_log
from culturalign.survey import empty_consistency, validate_aggregated

with script_log(snakemake.log[0]) as log:
    source = Path(snakemake.input.table)
    table = pl.read_parquet(source) if source.suffix == ".parquet" else pl.read_csv(source)
    truth = validate_aggregated(table, load_items(snakemake.input.item_bank), source)
    log.info("%d aggregated scores from %s", truth.height, source)
    truth.write_parquet(snakemake.output.ground_truth)
    log.info("no microdata: the survey's self-consistency cannot be computed and is left empty")
    empty_consistency().write_parquet(snakemake.output.consistency)
