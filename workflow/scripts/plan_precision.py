import time

import polars as pl

from culturalign.estimate import ESTIMATE_SCHEMA
from culturalign.logs import script_log
from culturalign.precision import Design, SurveyStatistics, simulated_half_widths
from culturalign.precision_plan import precision_plan
from culturalign.regression import load_capabilities, model_capabilities
from culturalign.survey import native_mapping

with script_log(snakemake.log[0]) as log:
    params, inputs = snakemake.params, snakemake.input
    started = time.perf_counter()
    capabilities, left_out = model_capabilities(
        load_capabilities(inputs.capabilities),
        params.capability_names,
        params.given_capabilities,
        [tuple(pair) for pair in params.model_languages],
    )
    if left_out:
        log.warning("left out of RQ1, without a capability: %s", "; ".join(left_out))
    design = Design(
        runs=tuple((run["model"], run["language"], run["seed"]) for run in params.runs),
        prompts={
            seed: pl.read_parquet(path).select("prompt_id", "item")
            for seed, path in zip(params.seeds, inputs.prompts, strict=True)
        },
        models=params.models,
        families=params.families,
        native_countries=native_mapping(pl.read_csv(inputs.native_countries)),
        rq2_languages=tuple(params.rq2_languages),
        rq1_models=tuple(params.rq1_models),
        capabilities=capabilities,
        safety_runs=tuple((run["model"], run["language"], run["attack"]) for run in params.safety_runs),
        safety_prompts={
            language: pl.read_parquet(path)
            for language, path in zip(params.safety_languages, inputs.safety_prompts, strict=True)
        },
        safety_reference=params.safety_reference,
        prompts_per_seed=params.prompts_per_seed,
    )
    precision = params.precision
    widths, notes = simulated_half_widths(
        design,
        pl.read_parquet(inputs.ground_truth),
        SurveyStatistics(**params.statistics | {"units": tuple(params.statistics["units"])}),
        consistency=precision["consistency"],
        simulations=precision["simulations"],
        seed=precision["seed"],
    )
    for subject, note in notes.items():
        log.info("%s: %s", subject, note)
    plan = precision_plan(
        widths,
        notes,
        design,
        pl.read_csv(inputs.estimate, schema_overrides=ESTIMATE_SCHEMA),
        precision["target_half_width"],
        len(params.seeds),
    )
    plan.write_csv(snakemake.output[0])
    log.info(
        "%d measures planned from %d simulations in %.1f s",
        plan.height,
        precision["simulations"],
        time.perf_counter() - started,
    )
