# Generation stage: one model answers one (language, seed) sample of prompts. Completions of real
# models are cached as they arrive; every run adds a row to the cost ledger.
#
# Batch API models submit first (submit_batch, a quick local job) and are collected by generate,
# which waits for their batches. A vLLM model loads its weights once, in generate_vllm, for all
# of its languages and seeds; its per-run generate jobs then read the cache.


# On a cluster these run where Snakemake runs: API calls need the internet, and per-run
# generation of simulated or vLLM-cached answers is too small for a job of its own.
localrules:
    submit_batch,
    generate,


rule submit_batch:
    input:
        prompts="results/prompts/{language}/{seed}.parquet",
    output:
        "results/batches/{model}/{language}/{seed}.submitted.json",
    log:
        "logs/submit_batch/{model}/{language}/{seed}.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=model_settings("model"),
        sampling=config["generation"],
        cache=COMPLETION_CACHE,
        # not an output: a killed job's state must survive for the next run to resume its batches
        state="results/batches/{model}/{language}/{seed}.json",
    script:
        "../workflow/scripts/submit_batch.py"


rule generate_vllm:
    input:
        # every prompt sample the model answers, and the safety prompts of each language it
        # answers them in: one engine load for all
        prompts=lambda wildcards: STUDY.per_run(
            "results/prompts/{language}/{seed}.parquet", STUDY.runs_of(wildcards.model)
        ),
        safety_prompts=lambda wildcards: [
            f"results/safety/prompts/{language}.parquet"
            for language in STUDY.safety_languages_of(wildcards.model)
        ],
    output:
        VLLM_MANIFEST,
    log:
        "logs/generate_vllm/{model}.log",
    benchmark:
        "results/benchmarks/generate_vllm/{model}.tsv"
    conda:
        "../envs/vllm.yaml"
    resources:
        gpu=gpus("model"),
        vllm_engines=1,
        runtime=gpu_runtime(lambda wildcards: wildcards.model, vllm_generation_left),
    params:
        settings=model_settings("model"),
        runs=lambda wildcards: STUDY.as_params(STUDY.runs_of(wildcards.model)),
        safety_languages=lambda wildcards: STUDY.safety_languages_of(wildcards.model),
        sampling=config["generation"],
        safety_sampling=SAFETY_SAMPLING,
        attacks=lambda wildcards: {
            language: STUDY.safety_attacks[language]
            for language in STUDY.safety_languages_of(wildcards.model)
        },
        cache=COMPLETION_CACHE,
    script:
        "../workflow/scripts/generate_vllm.py"


rule generate:
    input:
        unpack(generation_inputs),
        prices=PRICES_FILE,
    output:
        responses="results/responses/{model}/{language}/{seed}.parquet",
        ledger="results/ledger/generate/{model}/{language}/{seed}.csv",
    log:
        "logs/generate/{model}/{language}/{seed}.log",
    benchmark:
        "results/benchmarks/generate/{model}/{language}/{seed}.tsv"
    wildcard_constraints:
        model=alternatives(STUDY.generated_apart),
    conda:
        "../envs/core.yaml"
    resources:
        api_requests=api_requests("model"),
    params:
        settings=model_settings("model"),
        sampling=config["generation"],
        cache=COMPLETION_CACHE,
        # not an output: a killed job's state must survive for the next run to resume its batches
        state="results/batches/{model}/{language}/{seed}.json",
    script:
        "../workflow/scripts/generate.py"


rule generation:
    input:
        STUDY.per_run("results/responses/{model}/{language}/{seed}.parquet"),
        STUDY.per_run("results/ledger/generate/{model}/{language}/{seed}.csv"),
