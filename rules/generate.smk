# Generation stage: one model answers one (language, seed) sample of prompts. Completions of real
# models are cached as they arrive; every run adds a row to the cost ledger.


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
    params:
        settings=lookup(dpath="models/{model}", within=config),
        sampling=config["generation"],
        cache=COMPLETION_CACHE,
    script:
        "../workflow/scripts/generate.py"


rule ledger:
    input:
        per_model_language_seed("results/ledger/generate/{model}/{language}/{seed}.csv"),
    output:
        "results/ledger.csv",
    log:
        "logs/ledger.log",
    conda:
        "../envs/core.yaml"
    script:
        "../workflow/scripts/concat_tables.py"
