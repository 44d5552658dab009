# Alignment stage: the study-wide tables of the per-run alignment and self-consistency parts
# (written by score_run, rules/polarity.smk), and the filtering counts.


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
