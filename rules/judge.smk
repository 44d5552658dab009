# Judging stage: statements, filters (list format, prompted language) and stance labels.


rule judge:
    input:
        responses="results/responses/{model}/{language}/{seed}.parquet",
        phrase_banks=phrase_banks,
        real_model_check=judged_models_only,
    output:
        "results/judged/{model}/{language}/{seed}.parquet",
    log:
        "logs/judge/{model}/{language}/{seed}.log",
    conda:
        "../envs/core.yaml"
    params:
        min_statements=config["judging"]["min_statements"],
    script:
        "../workflow/scripts/judge.py"
