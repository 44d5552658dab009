# The drift canary (culturalign.canary): once per date, each LLM judge labels again a seeded sample
# of gold statements and labelled safety answers, under a request key that includes the date, and
# is compared with its labels of the first date. Earlier dates' labels stay in
# results/judges/canary/{judge}/, the record it compares with.


if STUDY.canary_kinds:

    localrules:
        judge_canary,
        canary,

    rule judge_canary:
        input:
            gold=config["judges"]["gold"] or [],
            item_bank=ITEMS_FILE,
            template=JUDGE_TEMPLATE,
            safety_template=SAFETY_JUDGE_TEMPLATE,
            answers=STUDY.canary_answer_files(),
        output:
            labels="results/judges/canary/{judge}/{date}.parquet",
            drift="results/judges/canary/{judge}/{date}.csv",
        log:
            "logs/judge_canary/{judge}/{date}.log",
        wildcard_constraints:
            judge=alternatives(STUDY.canary_kinds),
        conda:
            "../envs/core.yaml"
        resources:
            api_requests=api_requests("judge"),
        params:
            settings=model_settings("judge"),
            kinds=lambda wildcards: STUDY.canary_kinds[wildcards.judge],
            canary=config["judges"]["canary"],
            cache=COMPLETION_CACHE,
            bootstrap=config["judges"]["bootstrap"],
            seed=config["judges"]["seed"],
        script:
            "../workflow/scripts/judge_canary.py"

    rule canary:
        input:
            [
                f"results/judges/canary/{judge}/{CANARY_DATE}.csv"
                for judge in STUDY.canary_kinds
            ],
        output:
            "results/judges/canary.csv",
        log:
            "logs/canary.log",
        conda:
            "../envs/core.yaml"
        script:
            "../workflow/scripts/concat_tables.py"
