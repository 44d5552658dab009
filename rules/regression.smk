# Regression stage: RQ1 (mixed model, lme4 through pymer4, cross-checked with statsmodels) and
# RQ2 (US bias by OLS, with each model's US-minus-native totals).


RQ2_RUNS = STUDY.rq2_runs(REGRESSION["rq2"]["native_countries"])


# Aggregates, fitted in seconds where Snakemake runs.
localrules:
    rq1,
    rq2,


rule rq1:
    input:
        **STUDY.rq1_inputs(REGRESSION["rq1"]["observations"], CAPABILITIES_FILE),
    output:
        coefficients="results/regression/rq1.csv",
        fit="results/regression/rq1_fit.csv",
        residuals="results/regression/rq1_residuals.csv",
    log:
        "logs/regression/rq1.log",
    benchmark:
        "results/benchmarks/regression/rq1.tsv"
    conda:
        "../envs/stats.yaml"
    params:
        formula=REGRESSION["rq1"]["formula"],
        unit=REGRESSION["unit"],
        models=STUDY.rq1_models,
        capability_names=STUDY.capability_names(config),
        given_capabilities=STUDY.given_capabilities(),
        model_languages=STUDY.rq1_model_languages(),
        observations=REGRESSION["rq1"]["observations"],
        consistency=REGRESSION["rq1"]["consistency"],
        replicates=REGRESSION["rq1"]["replicates"],
        bootstrap_seed=config["alignment"]["seed"],
        runs=STUDY.as_params(STUDY.rq1_runs()),
    script:
        "../workflow/scripts/rq1.py"


rule rq2:
    input:
        alignment="results/alignment.parquet",
        ground_truth="results/survey/ground_truth.parquet",
        native_countries="results/survey/native_countries.csv",
        polarity=STUDY.per_run(
            "results/polarity/{model}/{language}/{seed}.parquet", RQ2_RUNS
        ),
    output:
        coefficients="results/regression/rq2.csv",
        totals="results/regression/rq2_totals.csv",
        residuals="results/regression/rq2_residuals.csv",
    log:
        "logs/regression/rq2.log",
    benchmark:
        "results/benchmarks/regression/rq2.tsv"
    conda:
        "../envs/core.yaml"
    params:
        unit=REGRESSION["unit"],
        reference=REGRESSION["rq2"]["reference"],
        runs=STUDY.as_params(RQ2_RUNS),
        resamples=config["alignment"]["bootstrap"],
        bootstrap_seed=config["alignment"]["seed"],
    script:
        "../workflow/scripts/rq2.py"
