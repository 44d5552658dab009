import polars as pl

from culturalign.logs import script_log
from culturalign.survey import survey_consistency

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    consistency = survey_consistency(
        pl.read_parquet(snakemake.input[0]),
        params.countries,
        k=params.k,
        repeats=params.repeats,
        resamples=params.resamples,
        seed=params.seed,
    )
    for row in consistency.iter_rows(named=True):
        log.info(
            "%s %s: consistency %s over %d items",
            row["level"],
            row["group"],
            row["consistency"],
            row["n_items"],
        )
    consistency.write_parquet(snakemake.output[0])
