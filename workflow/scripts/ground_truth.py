import polars as pl

from culturalign.logs import script_log
from culturalign.survey import ground_truth

with script_log(snakemake.log[0]) as log:
    truth = ground_truth(pl.read_parquet(snakemake.input[0]), snakemake.params.countries)
    for level, rows in truth.group_by("level", maintain_order=True).len().iter_rows():
        log.info("%s: %d (group, item) scores", level, rows)
    truth.write_parquet(snakemake.output[0])
