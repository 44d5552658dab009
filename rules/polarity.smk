# Per-run scoring: judging (the simulated reader, or a copy of the primary LLM judge's labels),
# polarity, alignment with every survey population and self-consistency, for one
# (model, language, seed). Each step is milliseconds of work behind half a second of interpreter
# and Snakemake start-up, so a run's steps share one job; their outputs keep their own paths.
# A re-analysis of imported judged data starts at polarity.


rule score_run:
    input:
        unpack(scoring_inputs),
        ground_truth="results/survey/ground_truth.parquet",
    output:
        judged=(
            [] if JUDGED_IMPORT else "results/judged/{model}/{language}/{seed}.parquet"
        ),
        polarity="results/polarity/{model}/{language}/{seed}.parquet",
        alignment="results/alignment/{model}/{language}/{seed}.parquet",
        consistency="results/consistency/{model}/{language}/{seed}.parquet",
    log:
        "logs/score_run/{model}/{language}/{seed}.log",
    conda:
        "../envs/core.yaml"
    params:
        min_statements=config["judging"]["min_statements"],
        family=model_family,
        units=config["alignment"]["units"],
        bootstrap=config["alignment"]["bootstrap"],
        bootstrap_seed=config["alignment"]["seed"],
        repeats=config["self_consistency"]["repeats"],
        consistency_resamples=config["self_consistency"]["resamples"],
        consistency_seed=config["self_consistency"]["seed"],
        imported=imported_settings(),
    script:
        "../workflow/scripts/score_run.py"
