# Alignment stage: per (model, language, seed) alignment with every survey population and the
# model's self-consistency, then the study-wide tables, and the filtering counts.


rule alignment_part:
    input:
        polarity="results/polarity/{model}/{language}/{seed}.parquet",
        ground_truth="results/survey/ground_truth.parquet",
    output:
        alignment="results/alignment/{model}/{language}/{seed}.parquet",
        consistency="results/consistency/{model}/{language}/{seed}.parquet",
    log:
        "logs/alignment/{model}/{language}/{seed}.log",
    conda:
        "../envs/core.yaml"
    params:
        family=model_family,
        units=config["alignment"]["units"],
        bootstrap=config["alignment"]["bootstrap"],
        bootstrap_seed=config["alignment"]["seed"],
        repeats=config["self_consistency"]["repeats"],
        consistency_seed=config["self_consistency"]["seed"],
    script:
        "../workflow/scripts/alignment_part.py"


localrules:
    alignment,
    consistency,


rule alignment:
    input:
        per_model_language_seed("results/alignment/{model}/{language}/{seed}.parquet"),
    output:
        "results/alignment.parquet",
    log:
        "logs/alignment/all.log",
    conda:
        "../envs/core.yaml"
    script:
        "../workflow/scripts/concat_tables.py"


rule consistency:
    input:
        parts=per_model_language_seed(
            "results/consistency/{model}/{language}/{seed}.parquet"
        ),
        # with several judges, their agreement measures the primary judge's reliability
        agreement="results/judge_agreement.csv" if JUDGES["secondary"] else [],
    output:
        "results/consistency.parquet",
    log:
        "logs/consistency/all.log",
    conda:
        "../envs/core.yaml"
    params:
        primary_judge=JUDGES["primary"],
    script:
        "../workflow/scripts/consistency.py"


if JUDGED_IMPORT:

    localrules:
        imported_filtering,

    rule imported_filtering:
        input:
            table=JUDGED_IMPORT,
        output:
            "results/filtering.parquet",
        log:
            "logs/filtering/all.log",
        conda:
            "../envs/core.yaml"
        params:
            scored_items=list(ITEMS),
        script:
            "../workflow/scripts/imported_filtering.py"

else:

    localrules:
        filtering,

    rule filtering:
        input:
            per_model_language_seed("results/judged/{model}/{language}/{seed}.parquet"),
        output:
            "results/filtering.parquet",
        log:
            "logs/filtering/all.log",
        conda:
            "../envs/core.yaml"
        params:
            units=model_language_seeds(),
        script:
            "../workflow/scripts/filtering.py"
