import polars as pl

from culturalign.logs import script_log
from culturalign.safety.rates import alignment_safety_correlation, safety_alignment_pairs

with script_log(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    pairs = safety_alignment_pairs(
        pl.read_parquet(inputs.rates),
        pl.read_parquet(inputs.gaps),
        pl.read_parquet(inputs.alignment),
        params.unit,
    )
    correlation = alignment_safety_correlation(pairs, params.bootstrap, params.seed)
    for measure, rho, low, high, n in correlation.iter_rows():
        log.info(
            "alignment ~ %s over %d (model, language) pairs: rho %.2f [%.2f, %.2f]",
            measure,
            n,
            rho,
            low,
            high,
        )
    pairs.write_csv(snakemake.output.pairs)
    correlation.write_csv(snakemake.output.correlation)
