# Polarity stage: pro / (pro + con) per kept response, from our judges or from an imported table.


if JUDGED_IMPORT:

    rule imported_polarity:
        input:
            table=JUDGED_IMPORT,
        output:
            "results/polarity/{model}/{language}/{seed}.parquet",
        log:
            "logs/polarity/{model}/{language}/{seed}.log",
        conda:
            "../envs/core.yaml"
        params:
            scored_items=list(ITEMS),
            reference=config["regression"]["rq2"]["reference"],
            baseline_seed=config["alignment"]["seed"],
        script:
            "../workflow/scripts/imported_polarity.py"

else:

    rule polarity:
        input:
            judged="results/judged/{model}/{language}/{seed}.parquet",
        output:
            "results/polarity/{model}/{language}/{seed}.parquet",
        log:
            "logs/polarity/{model}/{language}/{seed}.log",
        conda:
            "../envs/core.yaml"
        script:
            "../workflow/scripts/polarity.py"
