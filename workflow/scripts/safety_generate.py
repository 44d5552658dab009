import polars as pl

from culturalign.calls import answer_and_account, sampling_parameters
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
    responses, ledger = answer_and_account(
        requests,
        model=model,
        settings=settings,
        prices_path=inputs.prices,
        stage=f"safety:{attack}",
        language=language,
        seed=None,
        log=log,
        cache_path=params.cache,
        manifest=inputs.get("manifest"),
        run=f"safety/{language}/{attack}",
        phrase_banks=inputs.get("phrase_banks", []),
        batch_state=params.state,
        answer_languages=params.answer_languages,
    )
    answers = responses.drop("item").with_columns(prompts.select("kind", "category", "attack"))
    answers.select(list(SAFETY_RESPONSE_SCHEMA)).write_parquet(snakemake.output.responses)
    ledger.write_csv(snakemake.output.ledger)
