from pathlib import Path

import polars as pl

from culturalign.bill import Bill
from culturalign.cache import CompletionCache
from culturalign.estimate import estimate_table, summary
from culturalign.io import read_table
from culturalign.items import load_items
from culturalign.language_resources import language_of
from culturalign.llm_judge import load_judge_template
from culturalign.logs import script_log
from culturalign.prompts import load_prompt_bank
from culturalign.safety.validity import labelled_answers
from culturalign.translate import load_translation_prompt

with script_log(snakemake.log[0]) as log:
    params, inputs = snakemake.params, snakemake.input
    bill = Bill(
        models=params.models,
        cache=CompletionCache(params.cache),
        prices=inputs.prices,
        sampling=params.sampling,
        retry_share=params.cost["retry_share"],
        tokens_per_second=params.cost["tokens_per_second"],
    )
    items = load_items(inputs.item_bank)
    for run in params.runs:
        own = Path(f"results/prompts/{run['language']}/{run['seed']}.parquet")
        # a language not translated yet: the stand-in language's sample (the same prompts)
        stand_in = Path(f"results/prompts/{params.stand_in}/{run['seed']}.parquet")
        bill.generate(**run, prompts_path=own if own.exists() else stand_in, own=own.exists())
    template = load_judge_template(inputs.judge_template)
    for judged in params.judge_runs:
        bill.judge(**judged, template=template, items=items, min_statements=params.min_statements)
    safety_prompts = {
        language: pl.read_parquet(path)
        for language, path in zip(params.safety_languages, inputs.safety_prompts, strict=True)
    }
    for run in params.safety_runs:
        bill.safety(**run, prompts=safety_prompts[run["language"]], sampling=params.safety_sampling)
    if params.safety_judge:
        safety_template = load_judge_template(inputs.safety_judge_template)
        for run in params.safety_runs:
            prompts = safety_prompts[run["language"]]
            bill.safety_judge(params.safety_judge, **run, prompts=prompts, template=safety_template)
    if params.translated:
        english = load_prompt_bank("en", items, inputs.english_templates)
        prompt = load_translation_prompt(inputs.translate_template)
        for language in params.translated:
            bill.translate(params.translator, language, english, prompt, params.max_attempts)
    if params.canary_kinds:
        gold = read_table(params.gold) if params.gold else None
        answers = None
        if inputs.canary_answers:
            answers = pl.concat(
                labelled_answers(path).with_columns(language=pl.lit(language_of(path)))
                for path in inputs.canary_answers
            )
        for judge, kinds in params.canary_kinds.items():
            bill.canary(
                judge,
                kinds,
                gold=gold,
                answers=answers,
                items=items,
                template=template,
                safety_template=load_judge_template(inputs.safety_judge_template),
                size=params.canary["size"],
                seed=params.judges_seed,
                date=params.canary_date,
            )
    for judge in params.import_judges:
        completions = pl.read_parquet(inputs.imported_completions[0])
        bill.import_judge(judge, completions, load_judge_template(inputs.safety_judge_template))
    estimate = estimate_table(bill.rows)
    estimate.write_csv(snakemake.output[0])
    text = summary(estimate)
    log.info("%s", text)
    print(text)
