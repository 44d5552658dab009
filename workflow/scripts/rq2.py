import polars as pl

from culturalign.logs import script_log
from culturalign.regression import fit_rq2, rq2_observations, us_minus_native, with_residuals

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    data = rq2_observations(pl.read_parquet(snakemake.input.alignment), params.native_countries, params.unit)
    log.info("RQ2 on %d observations in %s", data.height, sorted(set(data["language"])))
    fit = fit_rq2(data, params.reference)
    runs = [
        (model, language, seed, pl.read_parquet(path))
        for (model, language, seed), path in zip(params.runs, snakemake.input.polarity, strict=True)
    ]
    totals = us_minus_native(
        runs,
        pl.read_parquet(snakemake.input.ground_truth),
        params.native_countries,
        params.resamples,
        params.bootstrap_seed,
    )
    for model, language, difference, low, high, seeds in totals.iter_rows():
        log.info(
            "%s in %s: US minus native %.3f [%.3f, %.3f] over %d seeds",
            model,
            language,
            difference,
            low,
            high,
            seeds,
        )
    fit.coefficients.write_csv(snakemake.output.coefficients)
    with_residuals(data, fit).write_csv(snakemake.output.residuals)
    totals.write_csv(snakemake.output.totals)
