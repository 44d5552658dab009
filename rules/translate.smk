# Translation stage: prompt resources for a language without hand-written ones, translated from
# English by translation.translator and scored by back-translation (see culturalign.translate).


if STUDY.translated:

    localrules:
        translate,

    rule translate:
        input:
            item_bank=ITEMS_FILE,
            templates=templates_path(RESOURCES, "en"),
            prompt=TRANSLATE_TEMPLATE,
            prices=PRICES_FILE,
        output:
            templates="results/translations/{language}/templates.yaml",
            topics="results/translations/{language}/topics.yaml",
            review="results/translations/{language}/review.csv",
            ledger="results/ledger/translate/{language}.csv",
        log:
            "logs/translate/{language}.log",
        benchmark:
            "results/benchmarks/translate/{language}.tsv"
        wildcard_constraints:
            language=alternatives(STUDY.translated),
        conda:
            "../envs/core.yaml"
        resources:
            api_requests=STUDY.requests_in_flight(config["translation"]["translator"]),
        params:
            translator=config["translation"]["translator"],
            settings=STUDY.models[config["translation"]["translator"]],
            min_chrf=config["translation"]["min_chrf"],
            max_attempts=config["translation"]["max_attempts"],
            cache=COMPLETION_CACHE,
            state="results/batches/translate/{language}.json",
        script:
            "../workflow/scripts/translate.py"
