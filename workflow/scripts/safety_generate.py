import polars as pl

from culturalign.logs import script_log
from culturalign.phrase_bank import load_phrase_banks
from culturalign.safety.answers import answer_safety_run

with script_log(snakemake.log[0]) as log:
    wildcards, params, inputs = snakemake.wildcards, snakemake.params, snakemake.input
    answers, ledger = answer_safety_run(
        pl.read_parquet(inputs.prompts),
        model=wildcards.model,
        settings=params.settings,
        language=wildcards.language,
        attack=wildcards.attack,
        sampling=params.sampling,
        prices_path=inputs.prices,
        log=log,
        cache_path=params.cache,
        manifest=inputs.get("manifest"),
        phrase_banks=load_phrase_banks(inputs.get("phrase_banks", [])),
        batch_state=params.state,
        answer_languages=params.answer_languages,
    )
    answers.write_parquet(snakemake.output.responses)
    ledger.write_csv(snakemake.output.ledger)
