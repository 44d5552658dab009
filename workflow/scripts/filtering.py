import polars as pl

from culturalign.alignment import filtering_counts
from culturalign.io import read_runs
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    counts = pl.concat(
        [filtering_counts(judged, **run) for run, judged in read_runs(snakemake.input, snakemake.params.runs)]
    )
    log.info("filtering counts of %d (model, language, seed)", counts.height)
    counts.write_parquet(snakemake.output[0])
