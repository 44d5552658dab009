import polars as pl

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.generate import generate_responses, generation_requests, sampling_parameters
from culturalign.ledger import ledger_row, load_prices
from culturalign.logs import script_log
from culturalign.phrase_bank import load_phrase_banks

with script_log(snakemake.log[0]) as log:
    wildcards, params = snakemake.wildcards, snakemake.params
    model, language, seed = wildcards.model, wildcards.language, int(wildcards.seed)
    settings = params.settings
    simulated = settings["backend"] == "simulated"
    backend = create_backend(
        model,
        settings,
        phrase_banks=load_phrase_banks(snakemake.input.phrase_banks) if simulated else None,
        ground_truth=pl.read_parquet(snakemake.input.ground_truth) if simulated else None,
    )
    prompts = pl.read_parquet(snakemake.input.prompts)
    parameters = sampling_parameters(params.sampling, settings)
    requests = generation_requests(
        prompts, language=language, seed=seed, settings=settings, parameters=parameters
    )
    log.info(
        "%s (%s backend): %d prompts in %s, seed %d",
        model,
        settings["backend"],
        len(requests),
        language,
        seed,
    )
    # Simulated answers are free and reproducible; everything else is cached the moment it arrives.
    cache = None if simulated else CompletionCache(params.cache)
    responses, seconds = generate_responses(requests, backend, cache)
    log.info(
        "%d responses: %d from the cache, %d failed",
        responses.height,
        responses["cached"].sum(),
        responses["error"].is_not_null().sum(),
    )
    responses.write_parquet(snakemake.output.responses)
    price = load_prices(snakemake.input.prices).get(settings.get("model", ""))
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
