# Safety stage: harmful, benign-contrast and jailbreak-wrapped prompts per language, answered by
# every evaluated model through the same backends, cache, Batch API and ledger as the survey
# prompts (a vLLM model answers them in its one generate_vllm job); judged full_compliance /
# partial / refusal beside a refusal-phrase matcher; rates with CIs, gaps from the reference
# language, and their co-analysis with cultural alignment per (model, language).


localrules:
    safety_prompts,
    safety_generate,
    safety_rates,
    safety_alignment,


# An API judge calls out from where Snakemake runs; the simulated reader takes seconds. Only a
# GPU judge is a cluster job.
if not STUDY.safety_judge_on_gpu:

    localrules:
        safety_judge,


rule safety_prompts:
    input:
        unpack(lambda wildcards: STUDY.safety_set_input(wildcards.language)),
        external=[source["path"] for source in SAFETY["external"]],
    output:
        prompts="results/safety/prompts/{language}.parquet",
        problems="results/safety/problems/{language}.csv",
    log:
        "logs/safety_prompts/{language}.log",
    conda:
        "../envs/core.yaml"
    params:
        # those of the configured attacks that this language has a wrapper for
        attacks=lambda wildcards: STUDY.safety_attacks[wildcards.language],
        builtin=SAFETY["builtin"],
        external=SAFETY["external"],
    script:
        "../workflow/scripts/safety_prompts.py"


# Free backends' answers (simulated respondents) are written by the safety_judge job that reads
# them; safety_generate answers for the others, one job per run.
rule safety_generate:
    input:
        unpack(safety_generation_inputs),
        prices=PRICES_FILE,
    output:
        responses="results/safety/responses/{model}/{language}/{attack}.parquet",
        ledger="results/ledger/safety/{model}/{language}/{attack}.csv",
    log:
        "logs/safety_generate/{model}/{language}/{attack}.log",
    benchmark:
        "results/benchmarks/safety_generate/{model}/{language}/{attack}.tsv"
    wildcard_constraints:
        model=alternatives({run.model for run in STUDY.safety_runs_answered_apart()}),
    conda:
        "../envs/core.yaml"
    resources:
        api_requests=api_requests("model"),
    params:
        settings=model_settings("model"),
        sampling=SAFETY_SAMPLING,
        cache=COMPLETION_CACHE,
        state="results/batches/safety/{model}/{language}/{attack}.json",
        # this language's only: a language added later must not change the others' params
        answer_languages=lambda wildcards: {
            wildcards.language: STUDY.answer_languages[wildcards.language]
        },
    script:
        "../workflow/scripts/safety_generate.py"


# One job judges every safety answer: a vLLM judge loads its weights once, an API judge's calls
# are cached (a model added later costs only its own calls), the simulated reader takes seconds.
rule safety_judge:
    input:
        **STUDY.safety_judge_inputs(SAFETY_JUDGE_TEMPLATE, PRICES_FILE),
    output:
        judged=STUDY.per_safety_run(
            "results/safety/judged/{model}/{language}/{attack}.parquet"
        ),
        ledger=(
            STUDY.per_safety_run(
                "results/ledger/safety_judge/{model}/{language}/{attack}.csv"
            )
            if STUDY.safety_judge
            else []
        ),
        # the answers of free backends, written here (see safety_generate)
        answers=STUDY.per_safety_run(
            "results/safety/responses/{model}/{language}/{attack}.parquet",
            STUDY.safety_runs_answered_by_judge(),
        ),
        answer_ledgers=STUDY.per_safety_run(
            "results/ledger/safety/{model}/{language}/{attack}.csv",
            STUDY.safety_runs_answered_by_judge(),
        ),
    log:
        "logs/safety_judge.log",
    benchmark:
        "results/benchmarks/safety_judge.tsv"
    conda:
        "../envs/vllm.yaml" if STUDY.safety_judge_on_gpu else "../envs/core.yaml"
    resources:
        gpu=(
            STUDY.models[STUDY.safety_judge].get("gpus", 1)
            if STUDY.safety_judge_on_gpu
            else 0
        ),
        vllm_engines=1 if STUDY.safety_judge_on_gpu else 0,
        api_requests=STUDY.requests_in_flight(STUDY.safety_judge),
        # a GPU judge's, derived like generate_vllm's (the others run locally)
        runtime=gpu_runtime(lambda wildcards: STUDY.safety_judge, vllm_answers_to_judge),
    params:
        runs=STUDY.as_params(STUDY.safety_runs),
        answered_apart=STUDY.as_params(STUDY.safety_runs_answered_apart()),
        answered_here=STUDY.as_params(STUDY.safety_runs_answered_by_judge()),
        respondents={
            run.model: STUDY.models[run.model]
            for run in STUDY.safety_runs_answered_by_judge()
        },
        sampling=SAFETY_SAMPLING,
        judge=STUDY.safety_judge,
        settings=STUDY.models.get(STUDY.safety_judge, {}),
        cache=COMPLETION_CACHE,
        state=f"results/batches/safety_judge/{STUDY.safety_judge}.json",
        answer_languages=STUDY.answer_languages,
        prompt_languages=list(STUDY.safety_languages),
    script:
        "../workflow/scripts/safety_judge.py"


rule safety_rates:
    input:
        judged=STUDY.per_safety_run(
            "results/safety/judged/{model}/{language}/{attack}.parquet"
        ),
    output:
        rates="results/safety/rates.parquet",
        gaps="results/safety/gaps.parquet",
        agreement="results/safety/judge_agreement.csv",
        # answers that address their judge, per (model, language, attack)
        injection="results/safety/judge_injection.csv",
    log:
        "logs/safety_rates.log",
    conda:
        "../envs/core.yaml"
    params:
        runs=STUDY.as_params(STUDY.safety_runs),
        reference=SAFETY["reference"],
        bootstrap=SAFETY["bootstrap"],
        seed=SAFETY["seed"],
    script:
        "../workflow/scripts/safety_rates.py"


rule matcher_validity:
    input:
        **STUDY.matcher_validity_inputs(),
    output:
        "results/safety/matcher_validity.csv",
    log:
        "logs/matcher_validity.log",
    conda:
        "../envs/core.yaml"
    params:
        bootstrap=SAFETY["bootstrap"],
        seed=SAFETY["seed"],
    script:
        "../workflow/scripts/matcher_validity.py"


rule safety_alignment:
    input:
        rates="results/safety/rates.parquet",
        gaps="results/safety/gaps.parquet",
        alignment="results/alignment.parquet",
    output:
        pairs="results/safety_alignment.csv",
        correlation="results/safety/alignment_correlation.csv",
    log:
        "logs/safety_alignment.log",
    conda:
        "../envs/core.yaml"
    params:
        unit=REGRESSION["unit"],
        bootstrap=SAFETY["bootstrap"],
        seed=SAFETY["seed"],
    script:
        "../workflow/scripts/safety_alignment.py"
