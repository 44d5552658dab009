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
    ledger,
    estimate_cost,


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
        settings=lookup(dpath="models/{model}", within=config),
        sampling=config["generation"],
        cache=COMPLETION_CACHE,
        state=BATCH_STATE,
    script:
        "../workflow/scripts/submit_batch.py"


rule generate_vllm:
    input:
        unpack(vllm_prompts),
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
    params:
        settings=lookup(dpath="models/{model}", within=config),
        sampling=config["generation"],
        safety_sampling={**config["generation"], **SAFETY["sampling"]},
        attacks=SAFETY["attacks"],
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
    conda:
        "../envs/core.yaml"
    resources:
        api_requests=api_requests("model"),
    params:
        settings=lookup(dpath="models/{model}", within=config),
        sampling=config["generation"],
        cache=COMPLETION_CACHE,
        state=BATCH_STATE,
    script:
        "../workflow/scripts/generate.py"


rule ledger:
    input:
        per_model_language_seed("results/ledger/generate/{model}/{language}/{seed}.csv"),
        per_judge_and_run("results/ledger/judge/{judge}/{model}/{language}/{seed}.csv"),
        translation_ledgers(),
        per_safety_run("results/ledger/safety/{model}/{language}/{attack}.csv"),
        per_safety_run("results/ledger/safety_judge/{model}/{language}/{attack}.csv")
        if SAFETY_JUDGE
        else [],
    output:
        "results/ledger.csv",
    log:
        "logs/ledger.log",
    conda:
        "../envs/core.yaml"
    script:
        "../workflow/scripts/concat_tables.py"


rule generation:
    input:
        per_model_language_seed("results/responses/{model}/{language}/{seed}.parquet"),
        per_model_language_seed("results/ledger/generate/{model}/{language}/{seed}.csv"),


rule estimate_cost:
    input:
        prompts=expand(
            "results/prompts/{language}/{seed}.parquet", language=LANGUAGES, seed=SEEDS
        ),
        prices=PRICES_FILE,
    output:
        "results/cost_estimate.csv",
    log:
        "logs/estimate_cost.log",
    conda:
        "../envs/core.yaml"
    params:
        models=MODELS,
        sampling=config["generation"],
        cache=COMPLETION_CACHE,
    script:
        "../workflow/scripts/estimate_cost.py"
