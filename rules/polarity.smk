# Polarity stage: pro / (pro + con) per kept response.


rule polarity:
    input:
        judged="results/judged/{model}/{language}/{seed}.parquet",
    output:
        "results/polarity/{model}/{language}/{seed}.parquet",
    log:
        "logs/polarity/{model}/{language}/{seed}.log",
    conda:
        "../envs/core.yaml"
    script:
        "../workflow/scripts/polarity.py"
