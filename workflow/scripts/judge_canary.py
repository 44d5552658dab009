from pathlib import Path

import polars as pl

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.canary import CANARY_LABEL_SCHEMA, ask_canary, drift, safety_questions, stance_questions
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
        questions = []
        if "stance" in params.kinds:
            questions.append(
                stance_questions(
                    read_table(inputs.gold),
                    load_items(inputs.item_bank),
                    load_judge_template(inputs.template),
                    size=canary["size"],
                    seed=params.seed,
                    settings=params.settings,
                    date=wildcards.date,
                )
            )
        if "safety" in params.kinds:
            answers = pl.concat(
                [
                    labelled_answers(path).with_columns(language=pl.lit(language_of(path)))
                    for path in inputs.answers
                ]
            )
            questions.append(
                safety_questions(
                    answers,
                    load_judge_template(inputs.safety_template),
                    size=canary["size"],
                    seed=params.seed,
                    settings=params.settings,
                    date=wildcards.date,
                )
            )
        today = pl.concat(
            [pl.DataFrame(schema=CANARY_LABEL_SCHEMA)]
            + [ask_canary(of_kind, backend, cache) for of_kind in questions]
        )
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
