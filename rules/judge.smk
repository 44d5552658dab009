# Judging stage: statements, filters (list format, prompted language) and stance labels.
#
# With judges.primary, LLM judges label every run (llm_judge, one job per judge and run, through
# the same backends, cache, Batch API and ledger as generation) but a uniform respondent's, whose
# coin flips the simulated reader reads for free; the primary judge's labels are the study's. A
# GPU judge first judges every run in one job (llm_judge_vllm, one weight load), and its per-run
# jobs read those labels back from the cache, as generation does. Without a judge, the simulated
# reader reads the simulated respondents inside each run's score_run job (rules/alignment.smk),
# which writes results/judged/ in both cases.


if STUDY.llm_judges:

    localrules:
        llm_judge,
        judge_agreement,

    rule llm_judge:
        input:
            responses="results/responses/{model}/{language}/{seed}.parquet",
            item_bank=ITEMS_FILE,
            template=JUDGE_TEMPLATE,
            prices=PRICES_FILE,
            # a judge whose one job reads every run (vLLM) has already judged this one: ancient,
            # so that a run added later reruns that job for the new run only
            manifest=lambda wildcards: (
                ancient(JUDGE_MANIFEST.format(judge=wildcards.judge))
                if STUDY.backend(wildcards.judge).one_job_per_model
                else []
            ),
        output:
            labels="results/judge_labels/{judge}/{model}/{language}/{seed}.parquet",
            ledger="results/ledger/judge/{judge}/{model}/{language}/{seed}.csv",
        log:
            "logs/llm_judge/{judge}/{model}/{language}/{seed}.log",
        benchmark:
            "results/benchmarks/llm_judge/{judge}/{model}/{language}/{seed}.tsv"
        conda:
            "../envs/core.yaml"
        resources:
            api_requests=api_requests("judge"),
        params:
            settings=model_settings("judge"),
            cache=COMPLETION_CACHE,
            state="results/batches/judge/{judge}/{model}/{language}/{seed}.json",
            min_statements=config["judging"]["min_statements"],
            language_from=config["judges"]["language_from"],
        script:
            "../workflow/scripts/llm_judge.py"

    rule llm_judge_vllm:
        input:
            responses=STUDY.per_run(
                "results/responses/{model}/{language}/{seed}.parquet",
                STUDY.llm_judged_runs(),
            ),
            item_bank=ITEMS_FILE,
            template=JUDGE_TEMPLATE,
        output:
            # one job per GPU judge loads its weights once and judges every run into the cache
            JUDGE_MANIFEST,
        log:
            "logs/llm_judge_vllm/{judge}.log",
        benchmark:
            "results/benchmarks/llm_judge_vllm/{judge}.tsv"
        wildcard_constraints:
            judge=alternatives(STUDY.gpu_judges),
        conda:
            "../envs/vllm.yaml"
        resources:
            gpu=gpus("judge"),
            vllm_engines=1,
            runtime=gpu_runtime(
                lambda wildcards: wildcards.judge, vllm_answers_to_judge
            ),
        params:
            settings=model_settings("judge"),
            runs=STUDY.as_params(STUDY.llm_judged_runs()),
            cache=COMPLETION_CACHE,
            min_statements=config["judging"]["min_statements"],
            language_from=config["judges"]["language_from"],
        script:
            "../workflow/scripts/llm_judge_vllm.py"

    rule judge_agreement:
        input:
            labels=STUDY.per_judge_and_run(
                "results/judge_labels/{judge}/{model}/{language}/{seed}.parquet"
            ),
            gold=config["judges"]["gold"] or [],
        output:
            agreement="results/judge_agreement.csv",
            gold="results/judge_gold.csv" if config["judges"]["gold"] else [],
        log:
            "logs/judge_agreement.log",
        conda:
            "../envs/core.yaml"
        params:
            runs=STUDY.judge_runs(),
            bootstrap=config["judges"]["bootstrap"],
            seed=config["judges"]["seed"],
        script:
            "../workflow/scripts/judge_agreement.py"


localrules:
    language_fidelity,


rule language_fidelity:
    input:
        STUDY.per_run("results/judged/{model}/{language}/{seed}.parquet"),
    output:
        "results/language_fidelity.csv",
    log:
        "logs/language_fidelity.log",
    conda:
        "../envs/core.yaml"
    params:
        runs=STUDY.as_params(STUDY.runs),
        min_statements=config["judging"]["min_statements"],
    script:
        "../workflow/scripts/language_fidelity.py"
