from pathlib import Path

import polars as pl

from culturalign.logs import script_log


def read(path: str) -> pl.DataFrame:
    return pl.read_csv(path) if Path(path).suffix == ".csv" else pl.read_parquet(path)


with script_log(snakemake.log[0]) as log:
    table = pl.concat([read(path) for path in snakemake.input], how="vertical_relaxed")
    log.info("%d rows from %d tables", table.height, len(snakemake.input))
    if Path(snakemake.output[0]).suffix == ".csv":
        table.write_csv(snakemake.output[0])
    else:
        table.write_parquet(snakemake.output[0])
