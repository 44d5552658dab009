# Judging stage: statements, filters (list format, prompted language) and stance labels.
#
# With judges.primary, LLM judges label every run (llm_judge, one job per judge and run, through
# the same backends, cache, Batch API and ledger as generation) but a uniform respondent's, whose
# coin flips the simulated reader reads for free; the primary judge's labels are the study's. Without one, the simulated reader reads the simulated respondents inside each run's
# score_run job (rules/polarity.smk), which writes results/judged/ in both cases.


if LLM_JUDGES:

    localrules:
        llm_judge,
        judge_agreement,

    rule llm_judge:
        input:
            responses="results/responses/{model}/{language}/{seed}.parquet",
            item_bank=ITEMS_FILE,
            template=JUDGE_TEMPLATE,
            prices=PRICES_FILE,
        output:
            labels="results/judge_labels/{judge}/{model}/{language}/{seed}.parquet",
            ledger="results/ledger/judge/{judge}/{model}/{language}/{seed}.csv",
        log:
            "logs/llm_judge/{judge}/{model}/{language}/{seed}.log",
        benchmark:
            "results/benchmarks/llm_judge/{judge}/{model}/{language}/{seed}.tsv"
        wildcard_constraints:
            judge=alternatives(API_JUDGES),
        conda:
            "../envs/core.yaml"
        resources:
            api_requests=api_requests("judge"),
        params:
            settings=lookup(dpath="models/{judge}", within=config),
            cache=COMPLETION_CACHE,
            state="results/batches/judge/{judge}/{model}/{language}/{seed}.json",
            min_statements=config["judging"]["min_statements"],
            language_from=JUDGES["language_from"],
        script:
            "../workflow/scripts/llm_judge.py"

    rule llm_judge_vllm:
        input:
            responses=per_llm_judged_run(
                "results/responses/{model}/{language}/{seed}.parquet"
            ),
            item_bank=ITEMS_FILE,
            template=JUDGE_TEMPLATE,
        output:
            # one job per vLLM judge loads its weights once for every run
            labels=per_llm_judged_run(
                "results/judge_labels/{{judge}}/{model}/{language}/{seed}.parquet"
            ),
            ledger=per_llm_judged_run(
                "results/ledger/judge/{{judge}}/{model}/{language}/{seed}.csv"
            ),
        log:
            "logs/llm_judge_vllm/{judge}.log",
        benchmark:
            "results/benchmarks/llm_judge_vllm/{judge}.tsv"
        wildcard_constraints:
            judge=alternatives(VLLM_JUDGES),
        conda:
            "../envs/vllm.yaml"
        resources:
            gpu=gpus("judge"),
            vllm_engines=1,
        params:
            settings=lookup(dpath="models/{judge}", within=config),
            runs=llm_judged_runs(),
            cache=COMPLETION_CACHE,
            min_statements=config["judging"]["min_statements"],
            language_from=JUDGES["language_from"],
        script:
            "../workflow/scripts/llm_judge_vllm.py"

    rule judge_agreement:
        input:
            labels=per_judge_and_run(
                "results/judge_labels/{judge}/{model}/{language}/{seed}.parquet"
            ),
            gold=JUDGES["gold"] or [],
        output:
            agreement="results/judge_agreement.csv",
            gold="results/judge_gold.csv" if JUDGES["gold"] else [],
        log:
            "logs/judge_agreement.log",
        conda:
            "../envs/core.yaml"
        params:
            bootstrap=JUDGES["bootstrap"],
            seed=JUDGES["seed"],
        script:
            "../workflow/scripts/judge_agreement.py"


localrules:
    language_fidelity,


rule language_fidelity:
    input:
        per_model_language_seed("results/judged/{model}/{language}/{seed}.parquet"),
    output:
        "results/language_fidelity.csv",
    log:
        "logs/language_fidelity.log",
    conda:
        "../envs/core.yaml"
    params:
        runs=model_language_seeds(),
        min_statements=config["judging"]["min_statements"],
    script:
        "../workflow/scripts/language_fidelity.py"
