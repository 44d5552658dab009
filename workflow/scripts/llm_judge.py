import time

import polars as pl

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.items import load_items
from culturalign.language_id import identify_language
from culturalign.ledger import ledger_row, load_prices
from culturalign.llm_judge import judge_with_llm, load_judge_template
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    wildcards, params, inputs = snakemake.wildcards, snakemake.params, snakemake.input
    judge, model, language, seed = wildcards.judge, wildcards.model, wildcards.language, int(wildcards.seed)
    responses = pl.read_parquet(inputs.responses)
    log.info("%s judges %d responses of %s in %s, seed %d", judge, responses.height, model, language, seed)
    started = time.perf_counter()
    labels, calls = judge_with_llm(
        responses,
        load_items(inputs.item_bank),
        load_judge_template(inputs.template),
        create_backend(judge, params.settings, batch_state=params.state),
        CompletionCache(params.cache),
        settings=params.settings,
        language=language,
        seed=seed,
        min_statements=params.min_statements,
        language_from=params.language_from,
        identify=identify_language,
    )
    seconds = time.perf_counter() - started
    by_response = labels.unique("prompt_id")
    for status, count in by_response.group_by("status").len().sort("status").iter_rows():
        log.info("%s: %d responses", status, count)
    for problem, count in by_response.drop_nulls("judge_problem").group_by("judge_problem").len().iter_rows():
        log.info("unusable judge answers after a retry (%s): %d", problem, count)
    labels.write_parquet(snakemake.output.labels)
    ledger_row(
        calls,
        stage=f"judge:{judge}",
        model=model,
        language=language,
        seed=seed,
        seconds=seconds,
        price=load_prices(inputs.prices).get(params.settings["model"]),
        batch=params.settings.get("batch", False),
    ).write_csv(snakemake.output.ledger)
