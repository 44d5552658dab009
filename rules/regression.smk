# Regression stage: RQ1 (mixed model, lme4 through pymer4, cross-checked with statsmodels) and
# RQ2 (US bias by OLS, with each model's US-minus-native totals).


# Aggregates, fitted in seconds where Snakemake runs.
localrules:
    rq1,
    rq2,


rule rq1:
    input:
        unpack(rq1_inputs),
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
        formula=config["regression"]["rq1"]["formula"],
        unit=config["regression"]["unit"],
        models=rq1_models(),
        capability_names=capability_names(),
        given_capabilities=given_capabilities(),
        model_languages=rq1_model_languages(),
        observations=config["regression"]["rq1"]["observations"],
        consistency=config["regression"]["rq1"]["consistency"],
        replicates=config["regression"]["rq1"]["replicates"],
        bootstrap_seed=config["alignment"]["seed"],
        runs=rq1_runs(),
    script:
        "../workflow/scripts/rq1.py"


rule rq2:
    input:
        alignment="results/alignment.parquet",
        ground_truth="results/survey/ground_truth.parquet",
        polarity=[
            f"results/polarity/{model}/{language}/{seed}.parquet"
            for model, language, seed in rq2_runs()
        ],
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
        unit=config["regression"]["unit"],
        reference=config["regression"]["rq2"]["reference"],
        native_countries=config["regression"]["rq2"]["native_countries"],
        runs=rq2_runs(),
        resamples=config["alignment"]["bootstrap"],
        bootstrap_seed=config["alignment"]["seed"],
    script:
        "../workflow/scripts/rq2.py"
