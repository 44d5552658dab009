from pathlib import Path

import polars as pl

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.canary import CANARY_LABEL_SCHEMA, drift, safety_canary, seeded_sample, stance_canary
from culturalign.io import read_table
from culturalign.items import load_items
from culturalign.language_resources import language_of
from culturalign.llm_judge import load_judge_template
from culturalign.logs import script_log
from culturalign.long_jobs import grace_seconds, stop_on_sigterm
from culturalign.safety.validity import labelled_answers

if __name__ == "__main__":  # vLLM starts worker processes that re-import this script
    inputs, params, outputs, wildcards = (
        snakemake.input,
        snakemake.params,
        snakemake.output,
        snakemake.wildcards,
    )
    canary = params.canary
    with script_log(snakemake.log[0]) as log, stop_on_sigterm(grace_seconds(params.settings), log):
        backend = create_backend(wildcards.judge, params.settings)
        cache = CompletionCache(params.cache, job=f"judge_canary/{wildcards.judge}")
        labels = [pl.DataFrame(schema=CANARY_LABEL_SCHEMA)]
        if "stance" in params.kinds:
            items = load_items(inputs.item_bank)
            gold = read_table(inputs.gold).select("item", "language", "statement").unique()
            sample = seeded_sample(
                gold.filter(pl.col("item").is_in(list(items))), canary["size"], params.seed, "stance"
            )
            stance, _ = stance_canary(
                sample,
                items,
                load_judge_template(inputs.template),
                backend,
                cache,
                settings=params.settings,
                date=wildcards.date,
            )
            labels.append(stance)
        if "safety" in params.kinds:
            answers = pl.concat(
                [
                    labelled_answers(path).with_columns(language=pl.lit(language_of(path)))
                    for path in inputs.answers
                ]
            )
            sample = seeded_sample(answers, canary["size"], params.seed, "safety")
            safety, _ = safety_canary(
                sample,
                load_judge_template(inputs.safety_template),
                backend,
                cache,
                settings=params.settings,
                date=wildcards.date,
            )
            labels.append(safety)
        today = pl.concat(labels)
        log.info(
            "%s labelled %d canary units on %s",
            wildcards.judge,
            today["label"].is_not_null().sum(),
            wildcards.date,
        )
        # the labels of earlier dates: this job's own record, not inputs Snakemake tracks
        folder = Path(outputs.labels).parent
        earlier = {
            path.stem: pl.read_parquet(path)
            for path in sorted(folder.glob("*.parquet"))
            if path.stem < wildcards.date
        }
        table = drift(
            today,
            earlier,
            judge=wildcards.judge,
            date=wildcards.date,
            min_kappa=canary["min_kappa"],
            resamples=params.bootstrap,
            seed=params.seed,
            log=log.warning,
        )
        today.write_parquet(outputs.labels)
        table.write_csv(outputs.drift)
        cache.finish_job()
