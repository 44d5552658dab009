# Cost: the ledger of what every stage sent and paid, and what generation would cost before
# anything is sent (`snakemake estimate_cost`).


localrules:
    ledger,
    estimate_cost,


rule ledger:
    input:
        STUDY.per_run("results/ledger/generate/{model}/{language}/{seed}.csv"),
        STUDY.per_judge_and_run(
            "results/ledger/judge/{judge}/{model}/{language}/{seed}.csv"
        ),
        [f"results/ledger/translate/{language}.csv" for language in STUDY.translated],
        STUDY.per_safety_run("results/ledger/safety/{model}/{language}/{attack}.csv"),
        (
            STUDY.per_safety_run(
                "results/ledger/safety_judge/{model}/{language}/{attack}.csv"
            )
            if STUDY.safety_judge
            else []
        ),
        [f"results/ledger/safety_import/{judge}.csv" for judge in STUDY.import_judges],
    output:
        "results/ledger.csv",
    log:
        "logs/ledger.log",
    conda:
        "../envs/core.yaml"
    script:
        "../workflow/scripts/concat_tables.py"


rule estimate_cost:
    input:
        prompts=[
            f"results/prompts/{language}/{seed}.parquet"
            for language in STUDY.languages
            for seed in STUDY.seeds
        ],
        prices=PRICES_FILE,
    output:
        "results/cost_estimate.csv",
    log:
        "logs/estimate_cost.log",
    conda:
        "../envs/core.yaml"
    params:
        models=STUDY.models,
        samples=[
            {"language": language, "seed": seed}
            for language in STUDY.languages
            for seed in STUDY.seeds
        ],
        sampling=config["generation"],
        cache=COMPLETION_CACHE,
    script:
        "../workflow/scripts/estimate_cost.py"
