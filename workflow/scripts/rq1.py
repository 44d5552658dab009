import polars as pl

from culturalign.logs import script_log
from culturalign.regression import (
    fit_lme4,
    fit_statsmodels,
    load_capabilities,
    model_capabilities,
    rq1_bootstrap_observations,
    rq1_observations,
    with_residuals,
    without_single_level_factors,
)

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    capabilities = model_capabilities(
        load_capabilities(snakemake.input.capabilities),
        params.capability_names,
        params.given_capabilities,
        [tuple(pair) for pair in params.model_languages],
    )
    alignment = pl.read_parquet(snakemake.input.alignment).filter(pl.col("model").is_in(params.models))
    consistency = pl.read_parquet(snakemake.input.consistency)
    if params.consistency == "corrected":
        consistency = consistency.with_columns(consistency=pl.col("consistency_corrected"))
    data = rq1_observations(alignment, consistency, capabilities, params.unit)
    observation_unit = "one row per (model, language, seed): independent runs"
    if params.observations == "bootstrap":
        runs = [
            (model, language, seed, pl.read_parquet(path))
            for (model, language, seed), path in zip(params.runs, snakemake.input.polarity, strict=True)
        ]
        ground_truth = pl.read_parquet(snakemake.input.ground_truth)
        data = rq1_bootstrap_observations(runs, ground_truth, data, params.replicates, params.bootstrap_seed)
        observation_unit = (
            f"bootstrap replicates as rows ({params.replicates} per run, as the original study did): "
            "replicates are not independent observations, so these p-values and CIs are too small"
        )
        log.warning(observation_unit)
    formula = without_single_level_factors(params.formula, data)
    log.info("RQ1 on %d observations of %d models: %s", data.height, data["model"].n_unique(), formula)
    fits = [fit(data, formula) for fit in (fit_lme4, fit_statsmodels)]
    fit_summary = pl.DataFrame([fit.summary for fit in fits]).with_columns(
        pl.lit(data.height).alias("observations"),
        pl.lit(data["model"].n_unique()).alias("models"),
        pl.lit(formula).alias("formula"),
        pl.lit(observation_unit).alias("observation_unit"),
    )
    for engine, marginal, conditional in fit_summary.select(
        "engine", "r2_marginal", "r2_conditional"
    ).iter_rows():
        log.info("%s: marginal R2 %.3f, conditional R2 %.3f", engine, marginal, conditional)
    pl.concat([fit.coefficients for fit in fits]).write_csv(snakemake.output.coefficients)
    fit_summary.write_csv(snakemake.output.fit)
    pl.concat([with_residuals(data, fit) for fit in fits]).write_csv(snakemake.output.residuals)
