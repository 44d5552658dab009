# Report stage: figures, tables, the evidence page and the summary for
# `snakemake --report results/report.html`. Everything here reads the results tables only, so a
# change to the report code reruns report rules and nothing upstream. Each rule also takes the
# package modules it draws with as input: Snakemake tracks a rule's script, not what it imports.


localrules:
    report_figures,
    report_tables,
    report_evidence,
    report_summary,


rule report_figures:
    input:
        **REPORT_TABLES,
        code=[REPORT_CODE, FIGURES_CODE],
    output:
        **reported(STUDY_FIGURES),
    log:
        "logs/report/figures.log",
    conda:
        "../envs/core.yaml"
    params:
        **REPORT_PARAMS,
    script:
        "../workflow/scripts/report_figures.py"


rule report_tables:
    input:
        **REPORT_TABLES,
        code=REPORT_CODE,
        template=PAGE_TEMPLATE,
    output:
        **reported(TABLE_PAGES),
    log:
        "logs/report/tables.log",
    conda:
        "../envs/core.yaml"
    params:
        **REPORT_PARAMS,
    script:
        "../workflow/scripts/report_tables.py"


rule report_evidence:
    input:
        alignment="results/alignment.parquet",
        consistency="results/consistency.parquet",
        filtering="results/filtering.parquet",
        judged=per_model_language_seed(
            "results/judged/{model}/{language}/{seed}.parquet"
        ),
        responses=per_model_language_seed(
            "results/responses/{model}/{language}/{seed}.parquet"
        ),
        item_bank=ITEMS_FILE,
        template=PAGE_TEMPLATE,
        code=REPORT_CODE,
    output:
        report(
            "results/report/evidence.html",
            caption="../workflow/report/evidence.rst",
            category="7. Evidence",
        ),
    log:
        "logs/report/evidence.log",
    conda:
        "../envs/core.yaml"
    params:
        **REPORT_PARAMS,
        runs=model_language_seeds(),
        kept=config["report"]["evidence_responses"],
        filtered=config["report"]["evidence_filtered"],
        seed=config["report"]["seed"],
    script:
        "../workflow/scripts/report_evidence.py"


rule report_summary:
    input:
        **REPORT_TABLES,
        safety_pairs="results/safety_alignment.csv" if SAFETY_REPORTED else [],
        safety_correlation=(
            "results/safety/alignment_correlation.csv" if SAFETY_REPORTED else []
        ),
        code=[REPORT_CODE, SUMMARY_CODE],
    output:
        report(
            "results/summary.md",
            caption="../workflow/report/summary.rst",
            category="0. Summary",
        ),
    log:
        "logs/report/summary.log",
    conda:
        "../envs/core.yaml"
    params:
        **REPORT_PARAMS,
        safety_reference=SAFETY["reference"],
    script:
        "../workflow/scripts/report_summary.py"


if SAFETY_REPORTED:

    localrules:
        report_safety,

    rule report_safety:
        input:
            rates="results/safety/rates.parquet",
            gaps="results/safety/gaps.parquet",
            agreement="results/safety/judge_agreement.csv",
            pairs="results/safety_alignment.csv",
            correlation="results/safety/alignment_correlation.csv",
            problems=expand(
                "results/safety/problems/{language}.csv", language=SAFETY_LANGUAGES
            ),
            template=PAGE_TEMPLATE,
            code=[REPORT_CODE, FIGURES_CODE],
        output:
            **reported(SAFETY_FIGURES),
            tables=report(
                "results/report/tables/safety.html",
                caption="../workflow/report/safety_tables.rst",
                category="6. Tables",
                labels={"table": "safety"},
            ),
        log:
            "logs/report/safety.log",
        conda:
            "../envs/core.yaml"
        params:
            **REPORT_PARAMS,
            reference=SAFETY["reference"],
            judge=SAFETY_JUDGE or "the simulated reader",
        script:
            "../workflow/scripts/report_safety.py"
