import polars as pl

from culturalign.io import read_runs
from culturalign.logs import script_log
from culturalign.regression import (
    RQ2_ANALYTIC_NULL,
    RQ2_NOT_FITTED_REASON,
    fit_rq2,
    rq2_alignment,
    rq2_item_notes,
    us_minus_native,
    with_residuals,
)
from culturalign.survey import native_mapping

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    ground_truth = pl.read_parquet(snakemake.input.ground_truth)
    natives = native_mapping(pl.read_csv(snakemake.input.native_countries))
    runs = [
        (run["model"], run["language"], run["seed"], polarity)
        for run, polarity in read_runs(snakemake.input.polarity, params.runs)
    ]
    rq2 = rq2_alignment(runs, ground_truth, natives, params.unit, params.resamples, params.bootstrap_seed)
    notes = rq2_item_notes(ground_truth, natives, rq2.items)
    for language, note in notes.items():
        log.warning("%s: %s", language, note)
    # the baseline's own draws would only add noise to the pooled residual variance
    data = rq2.observations.drop_nulls("alignment").filter(pl.col("model") != params.reference)
    log.info(
        "RQ2 on %d observations in %s at unit %s; %s",
        data.height,
        sorted(set(data["language"])),
        params.unit,
        RQ2_ANALYTIC_NULL,
        RQ2_NOT_FITTED_REASON,
    )
    if data.is_empty():
        log.warning(RQ2_NOT_FITTED_REASON)
    fit = fit_rq2(data)
    if fit.coefficients["note"].is_not_null().any():
        log.warning(fit.coefficients["note"][0])
    totals = us_minus_native(rq2).with_columns(
        pl.lit(params.unit).alias("unit"),
        pl.concat_str(
            pl.col("language").replace_strict(notes, default=None, return_dtype=pl.String),
            "note",
            separator="; ",
            ignore_nulls=True,
        ).alias("note"),
    )
    for row in totals.iter_rows(named=True):
        log.info(
            "%s in %s: US minus native %s [%s, %s] over %d seeds%s",
            row["model"],
            row["language"],
            row["us_minus_native"],
            row["ci_low"],
            row["ci_high"],
            row["seeds"],
            f" ({row['note']})" if row["note"] else "",
        )
    fit.coefficients.write_csv(snakemake.output.coefficients)
    with_residuals(data, fit).write_csv(snakemake.output.residuals)
    totals.write_csv(snakemake.output.totals)
