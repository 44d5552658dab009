# Alignment stage: per-run scoring (score_run) and the study-wide tables of its parts, and the
# filtering counts.
#
# score_run judges one (model, language, seed) (the simulated reader, or a copy of the primary LLM
# judge's labels), and writes its polarity, its alignment with every survey population and its
# self-consistency. Each step is milliseconds of work behind half a second of interpreter and
# Snakemake start-up, so a run's steps share one job; their outputs keep their own paths. A
# re-analysis of imported judged data starts at polarity.


rule score_run:
    input:
        unpack(scoring_inputs),
        ground_truth="results/survey/ground_truth.parquet",
    output:
        judged=(
            []
            if STUDY.imported
            else "results/judged/{model}/{language}/{seed}.parquet"
        ),
        polarity="results/polarity/{model}/{language}/{seed}.parquet",
        alignment="results/alignment/{model}/{language}/{seed}.parquet",
        consistency="results/consistency/{model}/{language}/{seed}.parquet",
    log:
        "logs/score_run/{model}/{language}/{seed}.log",
    wildcard_constraints:
        model=alternatives(STUDY.generated_apart),
    conda:
        "../envs/core.yaml"
    params:
        settings=model_settings("model"),
        sampling=config["generation"],
        cache=COMPLETION_CACHE,
        min_statements=config["judging"]["min_statements"],
        family=lambda wildcards: STUDY.family(wildcards.model),
        units=config["alignment"]["units"],
        bootstrap=config["alignment"]["bootstrap"],
        bootstrap_seed=config["alignment"]["seed"],
        repeats=config["self_consistency"]["repeats"],
        consistency_resamples=config["self_consistency"]["resamples"],
        consistency_seed=config["self_consistency"]["seed"],
        imported=(
            {"known_items": list(ITEMS), "reference": REGRESSION["rq2"]["reference"]}
            if STUDY.imported
            else {}
        ),
    script:
        "../workflow/scripts/score_run.py"


# A simulated respondent read by the simulated reader costs nothing to answer: its run's scoring
# job writes its answers too, instead of a generate job of its own.
use rule score_run as answer_and_score_run with:
    output:
        responses="results/responses/{model}/{language}/{seed}.parquet",
        ledger="results/ledger/generate/{model}/{language}/{seed}.csv",
        judged="results/judged/{model}/{language}/{seed}.parquet",
        polarity="results/polarity/{model}/{language}/{seed}.parquet",
        alignment="results/alignment/{model}/{language}/{seed}.parquet",
        consistency="results/consistency/{model}/{language}/{seed}.parquet",
    wildcard_constraints:
        model=alternatives(STUDY.answered_in_scoring),


localrules:
    alignment,
    consistency,


rule alignment:
    input:
        STUDY.per_run("results/alignment/{model}/{language}/{seed}.parquet"),
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
        parts=STUDY.per_run("results/consistency/{model}/{language}/{seed}.parquet"),
        # with several judges, their agreement measures the primary judge's reliability
        agreement="results/judge_agreement.csv" if STUDY.secondary_judges else [],
    output:
        "results/consistency.parquet",
    log:
        "logs/consistency/all.log",
    conda:
        "../envs/core.yaml"
    params:
        primary_judge=STUDY.primary_judge,
    script:
        "../workflow/scripts/consistency.py"


if STUDY.imported:

    localrules:
        imported_filtering,

    rule imported_filtering:
        input:
            table=STUDY.imported,
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
            STUDY.per_run("results/judged/{model}/{language}/{seed}.parquet"),
        output:
            "results/filtering.parquet",
        log:
            "logs/filtering/all.log",
        conda:
            "../envs/core.yaml"
        params:
            runs=STUDY.as_params(STUDY.runs),
        script:
            "../workflow/scripts/filtering.py"
