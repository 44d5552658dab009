import time

import polars as pl

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.ledger import ledger_row, model_price
from culturalign.llm_judge import load_judge_template
from culturalign.logs import script_log
from culturalign.long_jobs import grace_seconds, stop_on_sigterm
from culturalign.safety.judge import judge_completions

if __name__ == "__main__":  # vLLM starts worker processes that re-import this script
    params, inputs, outputs = snakemake.params, snakemake.input, snakemake.output
    judge = snakemake.wildcards.judge
    with script_log(snakemake.log[0]) as log, stop_on_sigterm(grace_seconds(params.settings), log):
        completions = pl.read_parquet(inputs.completions)
        log.info("%s judges %d imported completions", judge, completions.height)
        backend = create_backend(judge, params.settings, batch_state=params.state)
        cache = CompletionCache(params.cache, job=f"import_judge/{judge}")
        started = time.perf_counter()
        labels, calls = judge_completions(
            completions, load_judge_template(inputs.template), backend, cache, settings=params.settings
        )
        unusable = labels["label"].is_null().sum()
        log.info(
            "%s: %d labels, %d unusable (left out of every figure)", judge, labels.height - unusable, unusable
        )
        labels.write_parquet(outputs.labels)
        ledger_row(
            calls,
            stage=f"safety_import_judge:{judge}",
            model=judge,
            language=None,
            seed=None,
            seconds=time.perf_counter() - started,
            price=model_price(params.settings, inputs.prices),
        ).write_csv(outputs.ledger)
        cache.finish_job()
