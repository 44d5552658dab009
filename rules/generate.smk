# Generation stage: one model answers one (language, seed) sample of prompts.


rule generate:
    input:
        unpack(generation_inputs),
    output:
        "results/responses/{model}/{language}/{seed}.parquet",
    log:
        "logs/generate/{model}/{language}/{seed}.log",
    benchmark:
        "results/benchmarks/generate/{model}/{language}/{seed}.tsv"
    conda:
        "../envs/core.yaml"
    params:
        settings=lookup(dpath="models/{model}", within=config),
    script:
        "../workflow/scripts/generate.py"
