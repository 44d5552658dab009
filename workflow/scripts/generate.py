from culturalign.generate import answer_run, run_requests
from culturalign.ledger import generation_ledger
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    wildcards, params, inputs = snakemake.wildcards, snakemake.params, snakemake.input
    model, language, seed = wildcards.model, wildcards.language, int(wildcards.seed)
    settings = params.settings
    requests = run_requests(
        inputs.prompts, language=language, seed=seed, settings=settings, study_sampling=params.sampling
    )
    log.info(
        "%s (%s backend): %d prompts in %s, seed %d",
        model,
        settings["backend"],
        len(requests),
        language,
        seed,
    )
    responses, seconds = answer_run(
        requests,
        model=model,
        settings=settings,
        cache_path=params.cache,
        manifest=inputs.get("manifest"),
        run=f"{language}/{seed}",
        phrase_banks=inputs.get("phrase_banks", []),
        ground_truth=inputs.get("ground_truth"),
        batch_state=params.state,
    )
    log.info(
        "%d responses: %d from the cache, %d failed",
        responses.height,
        responses["cached"].sum(),
        responses["error"].is_not_null().sum(),
    )
    responses.write_parquet(snakemake.output.responses)
    generation_ledger(
        responses,
        settings=settings,
        prices_path=inputs.prices,
        stage="generate",
        model=model,
        language=language,
        seed=seed,
        seconds=seconds,
    ).write_csv(snakemake.output.ledger)
