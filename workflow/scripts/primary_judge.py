import polars as pl

from culturalign.judge import JUDGED_SCHEMA
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    labels = pl.read_parquet(snakemake.input[0])
    log.info("the primary judge's %d statement labels", labels.height)
    labels.select(*JUDGED_SCHEMA, "judge_language", "identified_language").write_parquet(snakemake.output[0])
