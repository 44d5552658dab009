# Survey stage: the synthetic demo survey (optional), ingest to one row per respondent, ground
# truth, and the survey's self-consistency. An aggregated table replaces the microdata steps; a
# released ceiling table (survey.ceiling) replaces the computed self-consistency.


if SURVEY["synthetic"]["enabled"] and not SURVEY["aggregated"]:

    rule synthetic_survey:
        input:
            item_bank=ITEMS_FILE,
        output:
            SURVEY["path"],
        log:
            "logs/survey/synthetic_survey.log",
        conda:
            "../envs/core.yaml"
        params:
            countries=SURVEY["countries"],
            seed=SURVEY["synthetic"]["seed"],
            respondents_per_country=SURVEY["synthetic"]["respondents_per_country"],
        script:
            "../workflow/scripts/synthetic_survey.py"


if SURVEY["aggregated"]:

    rule aggregated_ground_truth:
        input:
            table=SURVEY["aggregated"],
        output:
            "results/survey/ground_truth.parquet",
        log:
            "logs/survey/aggregated_ground_truth.log",
        conda:
            "../envs/core.yaml"
        params:
            # A re-analysis takes its items from the imported table: any may be there, none must.
            kept_items=list(ITEMS if STUDY.imported else SCORED_ITEMS),
            required_items=[] if STUDY.imported else list(SCORED_ITEMS),
            countries=SURVEY["countries"],
        script:
            "../workflow/scripts/aggregated_ground_truth.py"

else:

    rule survey_respondents:
        input:
            survey=SURVEY["path"],
            item_bank=ITEMS_FILE,
        output:
            "results/survey/respondents.parquet",
        log:
            "logs/survey/respondents.log",
        benchmark:
            "results/benchmarks/survey_respondents.tsv"
        conda:
            "../envs/core.yaml"
        params:
            scored_items=list(SCORED_ITEMS),
            countries=SURVEY["countries"],
            pooled_levels=SURVEY["pooled_levels"],
            country_variable=SURVEY["country_variable"],
            language_variable=SURVEY["language_variable"],
            weights=SURVEY["weights"],
        script:
            "../workflow/scripts/survey_respondents.py"

    rule ground_truth:
        input:
            "results/survey/respondents.parquet",
        output:
            "results/survey/ground_truth.parquet",
        log:
            "logs/survey/ground_truth.log",
        conda:
            "../envs/core.yaml"
        params:
            countries=SURVEY["countries"],
        script:
            "../workflow/scripts/ground_truth.py"


if SURVEY["ceiling"] or SURVEY["aggregated"]:

    # A released ceiling table, or none: without microdata there are no respondents to draw.
    rule survey_consistency:
        input:
            ceiling=SURVEY["ceiling"] or [],
        output:
            "results/survey/consistency.parquet",
        log:
            "logs/survey/consistency.log",
        conda:
            "../envs/core.yaml"
        params:
            countries=SURVEY["countries"],
            languages=STUDY.languages,
        script:
            "../workflow/scripts/survey_ceiling.py"

else:

    # The longest single job of a small study, needed only by the report: started as soon as the
    # respondents exist, beside the per-run jobs, rather than after them on the critical path.
    rule survey_consistency:
        input:
            "results/survey/respondents.parquet",
        output:
            "results/survey/consistency.parquet",
        log:
            "logs/survey/consistency.log",
        priority: 10
        conda:
            "../envs/core.yaml"
        params:
            countries=SURVEY["countries"],
            k=SURVEY["consistency"]["k"],
            repeats=SURVEY["consistency"]["repeats"],
            resamples=SURVEY["consistency"]["resamples"],
            seed=SURVEY["consistency"]["seed"],
        script:
            "../workflow/scripts/survey_consistency.py"


# RQ2's native countries of each language: configured, or the survey's countries that interview
# mostly in it. A rule of its own, so that a language added later reruns only this and RQ2.
rule native_countries:
    input:
        respondents=[] if SURVEY["aggregated"] else "results/survey/respondents.parquet",
    output:
        "results/survey/native_countries.csv",
    log:
        "logs/survey/native_countries.log",
    conda:
        "../envs/core.yaml"
    params:
        languages=list(STUDY.rq2_languages(REGRESSION["rq2"]["native_countries"])),
        configured=REGRESSION["rq2"]["native_countries"],
        countries=SURVEY["countries"],
    script:
        "../workflow/scripts/native_countries.py"
