import polars as pl

from culturalign.io import read_runs
from culturalign.logs import script_log
from culturalign.regression import (
    COEFFICIENT_COLUMNS,
    design_problem,
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
    capabilities, left_out = model_capabilities(
        load_capabilities(snakemake.input.capabilities),
        params.capability_names,
        params.given_capabilities,
        [tuple(pair) for pair in params.model_languages],
    )
    left_out_note = "; ".join(left_out) if left_out else None
    if left_out:
        log.warning("left out of RQ1, without a capability: %s", left_out_note)
    alignment = pl.read_parquet(snakemake.input.alignment).filter(pl.col("model").is_in(params.models))
    consistency = pl.read_parquet(snakemake.input.consistency)
    if params.consistency == "corrected":
        consistency = consistency.with_columns(consistency=pl.col("consistency_corrected"))
    data = rq1_observations(alignment, consistency, capabilities, params.unit)
    observation_unit = "one row per (model, language): alignment and consistency averaged over seeds"
    if params.observations == "bootstrap":
        cells = set(data.select("model", "language").iter_rows())
        runs = [
            (run["model"], run["language"], run["seed"], polarity)
            for run, polarity in read_runs(snakemake.input.polarity, params.runs)
            if (run["model"], run["language"]) in cells
        ]
        ground_truth = pl.read_parquet(snakemake.input.ground_truth)
        data = rq1_bootstrap_observations(
            runs, ground_truth, data, params.replicates, params.bootstrap_seed, params.unit
        )
        observation_unit = (
            f"bootstrap replicates as rows ({params.replicates} per model and language, as the original "
            "study did): replicates are not independent observations, so these p-values and CIs are too small"
        )
        log.warning(observation_unit)
    formula = without_single_level_factors(params.formula, data)
    models = data["model"].n_unique() if data.height else 0
    described = {
        "observations": data.height,
        "models": models,
        "formula": formula,
        "observation_unit": observation_unit,
        "left_out": left_out_note,
    }
    note = design_problem(data, formula)
    if note:
        log.warning(note)
        pl.DataFrame(schema=COEFFICIENT_COLUMNS).write_csv(snakemake.output.coefficients)
        pl.DataFrame([described | {"engine": None, "note": note}]).write_csv(snakemake.output.fit)
        pl.DataFrame(schema=["model", "language", "alignment", "fitted", "residual", "engine"]).write_csv(
            snakemake.output.residuals
        )
    else:
        log.info("RQ1 on %d observations of %d models: %s", data.height, models, formula)
        fits = [fit(data, formula) for fit in (fit_lme4, fit_statsmodels)]
        fit_summary = pl.DataFrame([fit.summary | described | {"note": None} for fit in fits])
        for engine, marginal, conditional in fit_summary.select(
            "engine", "r2_marginal", "r2_conditional"
        ).iter_rows():
            log.info("%s: marginal R2 %.3f, conditional R2 %.3f", engine, marginal, conditional)
        pl.concat([fit.coefficients for fit in fits]).write_csv(snakemake.output.coefficients)
        fit_summary.write_csv(snakemake.output.fit)
        pl.concat([with_residuals(data, fit) for fit in fits]).write_csv(snakemake.output.residuals)
