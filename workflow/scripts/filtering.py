import polars as pl

from culturalign.alignment import filtering_counts
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    counts = pl.concat(
        [
            filtering_counts(pl.read_parquet(path), model=model, language=language, seed=seed)
            for path, (model, language, seed) in zip(snakemake.input, snakemake.params.units, strict=True)
        ]
    )
    log.info("filtering counts of %d (model, language, seed)", counts.height)
    counts.write_parquet(snakemake.output[0])
