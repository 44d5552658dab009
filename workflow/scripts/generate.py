import json
from pathlib import Path

import polars as pl

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.generate import StoredOnly, generate_responses, run_requests, with_fresh
from culturalign.ledger import ledger_row, load_prices
from culturalign.logs import script_log
from culturalign.phrase_bank import load_phrase_banks

with script_log(snakemake.log[0]) as log:
    wildcards, params, inputs = snakemake.wildcards, snakemake.params, snakemake.input
    model, language, seed = wildcards.model, wildcards.language, int(wildcards.seed)
    settings = params.settings
    simulated = settings["backend"] == "simulated"
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
    if settings["backend"] == "vllm":
        # The model's one vLLM job generated and cached every run's completions.
        manifest = json.loads(Path(inputs.manifest).read_text()).get(f"{language}/{seed}", {})
        backend = StoredOnly(inputs.manifest)
    else:
        backend = create_backend(
            model,
            settings,
            phrase_banks=load_phrase_banks(inputs.phrase_banks) if simulated else None,
            ground_truth=pl.read_parquet(inputs.ground_truth) if simulated else None,
            batch_state=params.state.format(model=model, language=language, seed=seed),
        )
    # Simulated answers are free and reproducible; everything else is cached the moment it arrives.
    cache = None if simulated else CompletionCache(params.cache)
    responses, seconds = generate_responses(requests, backend, cache)
    if settings["backend"] == "vllm":
        responses = with_fresh(responses, requests, set(manifest.get("fresh", [])))
        seconds = manifest.get("seconds", 0.0)
    log.info(
        "%d responses: %d from the cache, %d failed",
        responses.height,
        responses["cached"].sum(),
        responses["error"].is_not_null().sum(),
    )
    responses.write_parquet(snakemake.output.responses)
    price = load_prices(inputs.prices).get(settings.get("model", ""))
    ledger_row(
        responses,
        stage="generate",
        model=model,
        language=language,
        seed=seed,
        seconds=seconds,
        price=None if simulated else price,
        batch=settings.get("batch", False),
    ).write_csv(snakemake.output.ledger)
