import polars as pl

from culturalign.alignment import alignment, model_consistency
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    unit = {
        "model": snakemake.wildcards.model,
        "language": snakemake.wildcards.language,
        "seed": int(snakemake.wildcards.seed),
    }
    polarity = pl.read_parquet(snakemake.input.polarity)
    scores = alignment(
        polarity,
        pl.read_parquet(snakemake.input.ground_truth),
        family=params.family,
        resamples=params.bootstrap,
        bootstrap_seed=params.bootstrap_seed,
        units=tuple(params.units),
        **unit,
    )
    log.info(
        "alignment with %d (population, unit) pairs, %d bootstrap resamples each",
        scores.height,
        params.bootstrap,
    )
    scores.write_parquet(snakemake.output.alignment)
    consistency = model_consistency(
        polarity, repeats=params.repeats, consistency_seed=params.consistency_seed, **unit
    )
    log.info("self-consistency %s", consistency["consistency"][0])
    consistency.write_parquet(snakemake.output.consistency)
