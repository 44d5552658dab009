# Report stage: figures, tables, the evidence page and the summary for
# `snakemake --report results/report.html`. Everything here reads the results tables only, so a
# change to the report code reruns report rules and nothing upstream. Each rule also takes the
# package modules it draws with as input: Snakemake tracks a rule's script, not what it imports.
from culturalign.report.notes import caption_banner, honesty_notes
from culturalign.report.registry import (
    SAFETY_FIGURES,
    STUDY_FIGURES,
    TABLE_PAGES,
    ReportScope,
    result_tables,
    shown_entries,
)

PAGE_TEMPLATE = REPO / "workflow" / "report" / "page.html.jinja"
REPORT_PACKAGE = REPO / "workflow" / "culturalign" / "report"
SUMMARY_CODE = REPORT_PACKAGE / "summary.py"
REPORT_CODE = sorted(set(REPORT_PACKAGE.glob("*.py")) - {SUMMARY_CODE})
FIGURES_CODE = sorted((REPORT_PACKAGE / "figures").glob("*.py"))


# What every report page must say before a number is trusted (simulated respondents, a synthetic
# survey, machine-translated or unreviewed prompts, bootstrap p-values), and what the report rules draw with.
HONESTY_NOTES = honesty_notes(
    simulated_models=STUDY.simulated_models,
    synthetic_survey=SURVEY["synthetic"]["enabled"],
    translated_languages=STUDY.translated,
    unreviewed_languages=STUDY.unreviewed,
    bootstrap_observations=REGRESSION["rq1"]["observations"] == "bootstrap",
)
REPORT_SCOPE = ReportScope(
    units=tuple(config["alignment"]["units"]),
    imported=bool(STUDY.imported),
    secondary_judges=bool(STUDY.secondary_judges),
)
REPORT_TABLES = result_tables(REPORT_SCOPE)
REPORT_PARAMS = {
    "notes": HONESTY_NOTES,
    "banner": caption_banner(HONESTY_NOTES),
    "language_labels": STUDY.language_labels,
    "unit": REGRESSION["unit"],
    "rq1_formula": REGRESSION["rq1"]["formula"],
    "rq1_left_out": list(STUDY.rq1_left_out),
    # one seed per (model, language): RQ2's OLS has no residual degrees of freedom
    "rq2_single_seed": len(STUDY.seeds) == 1,
    "baselines": list(STUDY.baselines),
    "simulated_models": [
        slug for slug in STUDY.evaluated if STUDY.backend(slug).simulated
    ],
    "gpu_models": [slug for slug in STUDY.evaluated if STUDY.backend(slug).gpu],
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
        **reported(shown_entries(STUDY_FIGURES, REPORT_SCOPE)),
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
        **reported(shown_entries(TABLE_PAGES, REPORT_SCOPE)),
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
        # a re-analysis of safety completions has no survey side: its summary is its judges'
        **({} if STUDY.completions_import else REPORT_TABLES),
        **STUDY.judge_validity_inputs(),
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
        validity=list(STUDY.judge_validity_inputs()),
        completions_import=bool(STUDY.completions_import),
    script:
        "../workflow/scripts/report_summary.py"


if STUDY.judge_validity_inputs():

    localrules:
        report_judge_validity,

    rule report_judge_validity:
        input:
            **STUDY.judge_validity_inputs(),
            template=PAGE_TEMPLATE,
            code=REPORT_CODE,
        output:
            tables=report(
                "results/report/tables/judge_validity.html",
                caption="../workflow/report/judge_validity.rst",
                category="3. Quality",
                labels={"table": "judge validity"},
            ),
        log:
            "logs/report/judge_validity.log",
        conda:
            "../envs/core.yaml"
        params:
            **REPORT_PARAMS,
        script:
            "../workflow/scripts/report_judge_validity.py"


if STUDY.safety_reported:

    localrules:
        report_safety,

    rule report_safety:
        input:
            rates="results/safety/rates.parquet",
            gaps="results/safety/gaps.parquet",
            agreement="results/safety/judge_agreement.csv",
            injection="results/safety/judge_injection.csv",
            matcher_validity="results/safety/matcher_validity.csv",
            pairs="results/safety_alignment.csv",
            correlation="results/safety/alignment_correlation.csv",
            problems=expand(
                "results/safety/problems/{language}.csv",
                language=STUDY.safety_languages,
            ),
            template=PAGE_TEMPLATE,
            code=[REPORT_CODE, FIGURES_CODE],
        output:
            **reported(shown_entries(SAFETY_FIGURES, REPORT_SCOPE)),
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
