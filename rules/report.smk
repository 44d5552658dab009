# Report stage: figures, tables, the evidence page and the summary for
# `snakemake --report results/report.html`. Everything here reads the results tables only, so a
# change to the report code reruns report rules and nothing upstream. Each rule also takes the
# package modules it draws with as input: Snakemake tracks a rule's script, not what it imports.


# What every report page must say before a number is trusted (simulated respondents, a synthetic
# survey, machine-translated prompts, bootstrap p-values), and what the report rules draw with.
HONESTY_NOTES = honesty_notes(
    simulated_models=list(STUDY.simulated_models),
    synthetic_survey=SURVEY["synthetic"]["enabled"],
    translated_languages=list(STUDY.translated),
    bootstrap_observations=REGRESSION["rq1"]["observations"] == "bootstrap",
)
REPORT_TABLES = STUDY.result_tables()
REPORT_PARAMS = {
    "notes": HONESTY_NOTES,
    "banner": caption_banner(HONESTY_NOTES),
    "translated": list(STUDY.translated),
    "unit": REGRESSION["unit"],
    "rq1_formula": REGRESSION["rq1"]["formula"],
    "rq1_left_out": list(STUDY.rq1_left_out),
    # one seed per (model, language): RQ2's OLS has no residual degrees of freedom
    "rq2_single_seed": len(STUDY.seeds) == 1,
    "baselines": list(STUDY.baselines),
    "native_countries": REGRESSION["rq2"]["native_countries"],
    "backends": {slug: STUDY.models[slug]["backend"] for slug in STUDY.evaluated},
}


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
        population_correlations=report(
            "results/report/figures/population_correlations.png",
            caption="../workflow/report/population_correlations.rst",
            category="4. Survey",
        ),
        alignment_topic=(
            report(
                "results/report/figures/alignment_topic.png",
                caption="../workflow/report/alignment_figure.rst",
                category="1. Alignment",
                labels={"figure": "alignment", "unit": "topic"},
            )
            if "topic" in config["alignment"]["units"]
            else []
        ),
        alignment_response=(
            report(
                "results/report/figures/alignment_response.png",
                caption="../workflow/report/alignment_figure.rst",
                category="1. Alignment",
                labels={"figure": "alignment", "unit": "response"},
            )
            if "response" in config["alignment"]["units"]
            else []
        ),
        consistency=report(
            "results/report/figures/consistency.png",
            caption="../workflow/report/consistency_figure.rst",
            category="1. Alignment",
            labels={"figure": "self-consistency"},
        ),
        capability_alignment=report(
            "results/report/figures/capability_alignment.png",
            caption="../workflow/report/capability_alignment.rst",
            category="2. Regression",
            labels={"figure": "RQ1 capability and alignment"},
        ),
        rq1_coefficients=report(
            "results/report/figures/rq1_coefficients.png",
            caption="../workflow/report/rq1_coefficients.rst",
            category="2. Regression",
            labels={"figure": "RQ1 coefficients"},
        ),
        rq2_us_bias=report(
            "results/report/figures/rq2_us_bias.png",
            caption="../workflow/report/rq2_us_bias.rst",
            category="2. Regression",
            labels={"figure": "RQ2 US bias"},
        ),
        rq1_residuals=report(
            "results/report/figures/rq1_residuals.png",
            caption="../workflow/report/residuals.rst",
            category="2. Regression",
            labels={"figure": "RQ1 residuals"},
        ),
        rq2_residuals=report(
            "results/report/figures/rq2_residuals.png",
            caption="../workflow/report/residuals.rst",
            category="2. Regression",
            labels={"figure": "RQ2 residuals"},
        ),
        filtering=report(
            "results/report/figures/filtering.png",
            caption="../workflow/report/filtering_figure.rst",
            category="3. Quality",
            labels={"figure": "filtering"},
        ),
        language_fidelity=(
            report(
                "results/report/figures/language_fidelity.png",
                caption="../workflow/report/language_fidelity.rst",
                category="3. Quality",
                labels={"figure": "language fidelity"},
            )
            if not STUDY.imported
            else []
        ),
        judge_agreement=(
            report(
                "results/report/figures/judge_agreement.png",
                caption="../workflow/report/judge_agreement.rst",
                category="3. Quality",
                labels={"figure": "judge agreement"},
            )
            if STUDY.secondary_judges
            else []
        ),
        cost=(
            report(
                "results/report/figures/cost.png",
                caption="../workflow/report/cost.rst",
                category="5. Cost",
                labels={"figure": "cost"},
            )
            if not STUDY.imported
            else []
        ),
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
        alignment=report(
            "results/report/tables/alignment.html",
            caption="../workflow/report/alignment_table.rst",
            category="6. Tables",
            labels={"table": "alignment"},
        ),
        consistency=report(
            "results/report/tables/consistency.html",
            caption="../workflow/report/consistency_table.rst",
            category="6. Tables",
            labels={"table": "self-consistency"},
        ),
        rq1=report(
            "results/report/tables/rq1.html",
            caption="../workflow/report/rq1_table.rst",
            category="6. Tables",
            labels={"table": "RQ1"},
        ),
        rq2=report(
            "results/report/tables/rq2.html",
            caption="../workflow/report/rq2_table.rst",
            category="6. Tables",
            labels={"table": "RQ2"},
        ),
        filtering=report(
            "results/report/tables/filtering.html",
            caption="../workflow/report/filtering_table.rst",
            category="6. Tables",
            labels={"table": "filtering and language fidelity"},
        ),
        judge_agreement=(
            report(
                "results/report/tables/judge_agreement.html",
                caption="../workflow/report/judge_agreement.rst",
                category="6. Tables",
                labels={"table": "judge agreement"},
            )
            if STUDY.secondary_judges
            else []
        ),
        ledger=(
            report(
                "results/report/tables/ledger.html",
                caption="../workflow/report/cost.rst",
                category="6. Tables",
                labels={"table": "cost ledger"},
            )
            if not STUDY.imported
            else []
        ),
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
        judged=STUDY.per_run("results/judged/{model}/{language}/{seed}.parquet"),
        responses=STUDY.per_run("results/responses/{model}/{language}/{seed}.parquet"),
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
        runs=STUDY.as_params(STUDY.runs),
        kept=config["report"]["evidence_responses"],
        filtered=config["report"]["evidence_filtered"],
        seed=config["report"]["seed"],
    script:
        "../workflow/scripts/report_evidence.py"


rule report_summary:
    input:
        **REPORT_TABLES,
        safety_pairs="results/safety_alignment.csv" if STUDY.safety_reported else [],
        safety_correlation=(
            "results/safety/alignment_correlation.csv" if STUDY.safety_reported else []
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


if STUDY.safety_reported:

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
                "results/safety/problems/{language}.csv",
                language=STUDY.safety_languages,
            ),
            template=PAGE_TEMPLATE,
            code=[REPORT_CODE, FIGURES_CODE],
        output:
            rates=report(
                "results/report/figures/safety_rates.png",
                caption="../workflow/report/safety_rates.rst",
                category="8. Safety",
                labels={"figure": "safety rates"},
            ),
            alignment=report(
                "results/report/figures/safety_alignment.png",
                caption="../workflow/report/safety_alignment.rst",
                category="8. Safety",
                labels={"figure": "safety and alignment"},
            ),
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
            judge=STUDY.safety_judge or "the simulated reader",
        script:
            "../workflow/scripts/report_safety.py"
