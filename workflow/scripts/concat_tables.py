import polars as pl

from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    table = pl.concat([pl.read_parquet(path) for path in snakemake.input])
    log.info("%d rows from %d tables", table.height, len(snakemake.input))
    table.write_parquet(snakemake.output[0])
