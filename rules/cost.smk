# Cost: the ledger of what every stage sent and paid, and what every paid stage would send and
# cost before anything is sent (`snakemake -f estimate_cost`).


localrules:
    ledger,
    estimate_cost,
    plan_precision,


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


# The languages whose prompts the estimate reads: a language not translated yet is estimated on
# the first one's sample (the same prompts), English when every study language is translated.
HAND_WRITTEN = [lang for lang in STUDY.languages if lang not in STUDY.translated] or [
    "en"
]


rule estimate_cost:
    input:
        prompts=[
            f"results/prompts/{language}/{seed}.parquet"
            for language in HAND_WRITTEN
            for seed in STUDY.seeds
        ],
        safety_prompts=[
            f"results/safety/prompts/{language}.parquet"
            for language in STUDY.safety_languages
        ],
        prices=PRICES_FILE,
        item_bank=ITEMS_FILE,
        judge_template=JUDGE_TEMPLATE,
        safety_judge_template=SAFETY_JUDGE_TEMPLATE,
        translate_template=TRANSLATE_TEMPLATE,
        english_templates=templates_path(RESOURCES, "en"),
        gold=config["judges"]["gold"] or [],
        canary_answers=STUDY.canary_answer_files(),
        imported_completions=(
            ["results/safety/imported_completions.parquet"]
            if STUDY.import_judges
            else []
        ),
    output:
        "results/cost_estimate.csv",
    log:
        "logs/estimate_cost.log",
    conda:
        "../envs/core.yaml"
    params:
        models=STUDY.models,
        runs=STUDY.as_params(STUDY.runs),
        stand_in=HAND_WRITTEN[0],
        judge_runs=STUDY.judge_runs(),
        min_statements=config["judging"]["min_statements"],
        safety_languages=list(STUDY.safety_languages),
        safety_runs=STUDY.as_params(STUDY.safety_runs),
        safety_judge=STUDY.safety_judge,
        safety_sampling=SAFETY_SAMPLING,
        translated=list(STUDY.translated),
        translator=config["translation"]["translator"],
        max_attempts=config["translation"]["max_attempts"],
        sampling=config["generation"],
        cost=config["cost"],
        canary_kinds=STUDY.canary_kinds,
        canary=config["judges"]["canary"],
        canary_date=CANARY_DATE,
        gold=config["judges"]["gold"],
        judges_seed=config["judges"]["seed"],
        import_judges=list(STUDY.import_judges),
        cache=COMPLETION_CACHE,
    script:
        "../workflow/scripts/estimate_cost.py"


# The intervals the study would report, predicted by simulating its design before anything is
# sent (`snakemake --cores all plan_precision`); not part of `all`, like the estimate.
rule plan_precision:
    input:
        ground_truth="results/survey/ground_truth.parquet",
        native_countries="results/survey/native_countries.csv",
        # the items each prompt asks, the same in every language
        prompts=[
            f"results/prompts/{HAND_WRITTEN[0]}/{seed}.parquet" for seed in STUDY.seeds
        ],
        safety_prompts=[
            f"results/safety/prompts/{language}.parquet"
            for language in STUDY.safety_languages
        ],
        estimate="results/cost_estimate.csv",
        capabilities=CAPABILITIES_FILE,
    output:
        "results/precision_plan.csv",
    log:
        "logs/plan_precision.log",
    conda:
        "../envs/core.yaml"
    params:
        runs=STUDY.as_params(STUDY.runs),
        seeds=list(STUDY.seeds),
        prompts_per_seed=config["prompts_per_seed"],
        models=STUDY.models,
        families={model: STUDY.family(model) for model in STUDY.evaluated},
        rq2_languages=list(STUDY.rq2_languages(REGRESSION["rq2"]["native_countries"])),
        rq1_models=list(STUDY.rq1_models),
        capability_names=STUDY.capability_names(config),
        given_capabilities=STUDY.given_capabilities(),
        model_languages=STUDY.rq1_model_languages(),
        safety_runs=STUDY.as_params(STUDY.safety_runs),
        safety_languages=list(STUDY.safety_languages),
        safety_reference=SAFETY["reference"],
        statistics={
            "bootstrap_seed": config["alignment"]["seed"],
            "consistency_repeats": config["self_consistency"]["repeats"],
            "consistency_seed": config["self_consistency"]["seed"],
            "formula": REGRESSION["rq1"]["formula"],
            "regression_unit": REGRESSION["unit"],
            "resamples": config["alignment"]["bootstrap"],
            "units": config["alignment"]["units"],
        },
        precision=config["precision"],
    script:
        "../workflow/scripts/plan_precision.py"
