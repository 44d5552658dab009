import polars as pl

from culturalign.io import read_table, write_table
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    # diagonal: a table written before a column was added has it as null
    table = pl.concat([read_table(path) for path in snakemake.input], how="diagonal_relaxed")
    log.info("%d rows from %d tables", table.height, len(snakemake.input))
    write_table(table, snakemake.output[0])
