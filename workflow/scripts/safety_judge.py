import time

import polars as pl

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.io import read_runs
from culturalign.language_id import identify_language
from culturalign.language_resources import language_of
from culturalign.ledger import ledger_row, model_price
from culturalign.llm_judge import load_judge_template
from culturalign.logs import script_log
from culturalign.long_jobs import grace_seconds, stop_on_sigterm
from culturalign.phrase_bank import load_phrase_banks
from culturalign.safety.answers import answer_safety_run
from culturalign.safety.judge import (
    SafetyReader,
    SafetyRun,
    judge_safety_runs,
    read_simulated_run,
)
from culturalign.safety.sets import load_refusal_rules

if __name__ == "__main__":  # vLLM starts worker processes that re-import this script
    params, inputs, outputs = snakemake.params, snakemake.input, snakemake.output
    with script_log(snakemake.log[0]) as log, stop_on_sigterm(grace_seconds(params.settings), log):
        refusal_rules = {language_of(path): load_refusal_rules(path) for path in inputs.safety_sets}
        prompts = {
            language: pl.read_parquet(path)
            for language, path in zip(params.prompt_languages, inputs.prompts, strict=True)
        }
        # the simulated reader's banks, and those the free respondents answered here write from: read once
        banks = load_phrase_banks(inputs.get("phrase_banks", []))
        answers = {
            tuple(run.values()): table for run, table in read_runs(inputs.responses, params.answered_apart)
        }
        # free backends' answers are written here rather than by a job per run
        for run, answers_path, ledger_path in zip(
            params.answered_here, outputs.answers, outputs.answer_ledgers, strict=True
        ):
            table, ledger = answer_safety_run(
                prompts[run["language"]],
                **run,
                settings=params.respondents[run["model"]],
                sampling=params.sampling,
                prices_path=inputs.prices,
                log=log,
                cache_path=params.cache,
                phrase_banks=banks,
                answer_languages=params.answer_languages,
            )
            table.write_parquet(answers_path)
            ledger.write_csv(ledger_path)
            answers[tuple(run.values())] = table
        runs = [SafetyRun(**run, responses=answers[tuple(run.values())]) for run in params.runs]
        if params.judge:
            settings = params.settings
            log.info("%s judges %d safety runs", params.judge, len(runs))
            backend = create_backend(params.judge, settings, batch_state=params.state)
            cache = CompletionCache(params.cache, job=f"safety_judge/{params.judge}")
            started = time.perf_counter()
            judged = judge_safety_runs(
                runs,
                prompts,
                load_judge_template(inputs.template),
                backend,
                cache,
                settings=settings,
                answer_languages=params.answer_languages,
                refusal_rules=refusal_rules,
                identify=identify_language,
            )
            seconds = time.perf_counter() - started
            calls_in_all = sum(calls.height for _, calls in judged) or 1
            price = model_price(settings, inputs.prices)
            for run, (_, calls), path in zip(runs, judged, outputs.ledger, strict=True):
                ledger_row(
                    calls,
                    stage=f"safety_judge:{params.judge}:{run.attack}",
                    model=run.model,
                    language=run.language,
                    seed=None,
                    seconds=seconds * calls.height / calls_in_all,
                    price=price,
                ).write_csv(path)
            tables = [table for table, _ in judged]
        else:
            log.info("the simulated reader reads %d safety runs", len(runs))
            reader = SafetyReader(banks)
            tables = [
                read_simulated_run(
                    run.responses,
                    reader,
                    language=run.language,
                    answer_language=params.answer_languages[run.language],
                    refusal_rules=refusal_rules,
                )
                for run in runs
            ]
        for run, table, path in zip(runs, tables, outputs.judged, strict=True):
            counts = dict(table.group_by("label").len().iter_rows())
            log.info("%s %s %s: %s", run.model, run.language, run.attack, counts)
            table.write_parquet(path)
        if params.judge:
            cache.finish_job()
