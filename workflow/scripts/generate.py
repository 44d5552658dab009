from culturalign.calls import answer_and_account
from culturalign.generate import run_requests
from culturalign.logs import script_log
from culturalign.phrase_bank import load_phrase_banks

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
    responses, ledger = answer_and_account(
        requests,
        model=model,
        settings=settings,
        prices_path=inputs.prices,
        stage="generate",
        language=language,
        seed=seed,
        log=log,
        cache_path=params.cache,
        manifest=inputs.get("manifest"),
        run=f"{language}/{seed}",
        phrase_banks=load_phrase_banks(inputs.get("phrase_banks", [])),
        ground_truth=inputs.get("ground_truth"),
        batch_state=params.state,
    )
    responses.write_parquet(snakemake.output.responses)
    ledger.write_csv(snakemake.output.ledger)
