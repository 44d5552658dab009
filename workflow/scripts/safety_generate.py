import polars as pl

from culturalign.generate import answer_run, sampling_parameters
from culturalign.ledger import generation_ledger
from culturalign.logs import script_log
from culturalign.safety.judge import SAFETY_RESPONSE_SCHEMA
from culturalign.safety.prompts import safety_requests

with script_log(snakemake.log[0]) as log:
    wildcards, params, inputs = snakemake.wildcards, snakemake.params, snakemake.input
    model, language, attack = wildcards.model, wildcards.language, wildcards.attack
    settings = params.settings
    prompts = pl.read_parquet(inputs.prompts).filter(attack=attack)
    requests = safety_requests(
        prompts, attack=attack, settings=settings, parameters=sampling_parameters(params.sampling, settings)
    )
    log.info(
        "%s (%s backend): %d safety prompts in %s, attack %s",
        model,
        settings["backend"],
        len(requests),
        language,
        attack,
    )
    responses, seconds = answer_run(
        requests,
        model=model,
        settings=settings,
        cache_path=params.cache,
        manifest=inputs.get("manifest"),
        run=f"safety/{language}/{attack}",
        phrase_banks=inputs.get("phrase_banks", []),
        batch_state=params.state,
        answer_languages=params.answer_languages,
    )
    log.info(
        "%d answers: %d from the cache, %d failed",
        responses.height,
        responses["cached"].sum(),
        responses["error"].is_not_null().sum(),
    )
    answers = responses.drop("item").with_columns(prompts.select("kind", "category", "attack"))
    answers.select(list(SAFETY_RESPONSE_SCHEMA)).write_parquet(snakemake.output.responses)
    generation_ledger(
        responses,
        settings=settings,
        prices_path=inputs.prices,
        stage=f"safety:{attack}",
        model=model,
        language=language,
        seed=None,
        seconds=seconds,
    ).write_csv(snakemake.output.ledger)
