import polars as pl

from culturalign.backends import create_backend
from culturalign.generate import generate_responses
from culturalign.logs import script_log
from culturalign.phrase_bank import load_phrase_banks

with script_log(snakemake.log[0]) as log:
    model, language, seed = (
        snakemake.wildcards.model,
        snakemake.wildcards.language,
        int(snakemake.wildcards.seed),
    )
    settings = snakemake.params.settings
    # Only simulated respondents read the survey.
    ground_truth = (
        pl.read_parquet(snakemake.input.ground_truth) if hasattr(snakemake.input, "ground_truth") else None
    )
    phrase_banks = load_phrase_banks(snakemake.input.phrase_banks) if ground_truth is not None else None
    backend = create_backend(model, settings, phrase_banks=phrase_banks, ground_truth=ground_truth)
    prompts = pl.read_parquet(snakemake.input.prompts)
    log.info(
        "%s (%s backend): %d prompts in %s, seed %d",
        model,
        settings["backend"],
        prompts.height,
        language,
        seed,
    )
    responses = generate_responses(prompts, backend, language=language, seed=seed)
    log.info("%d responses, %d failed", responses.height, responses["error"].is_not_null().sum())
    responses.write_parquet(snakemake.output[0])
