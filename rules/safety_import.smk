# Safety re-analysis of released completions (safety.completions_import): nothing is generated.
# The refusal matcher and every LLM judge label the completions (a judge's job goes through the
# same backends, cache, Batch API and ledger as generation), and each labeller is measured
# against the people's labels, with the two annotators' agreement as its ceiling.


if STUDY.completions_import:

    localrules:
        import_completions,
        import_agreement,

    rule import_completions:
        input:
            [source["path"] for source in STUDY.completions_import],
        output:
            completions="results/safety/imported_completions.parquet",
            problems="results/safety/import_problems.csv",
        log:
            "logs/import_completions.log",
        conda:
            "../envs/core.yaml"
        params:
            sources=list(STUDY.completions_import),
        script:
            "../workflow/scripts/import_completions.py"

    rule import_judge:
        input:
            completions="results/safety/imported_completions.parquet",
            template=SAFETY_JUDGE_TEMPLATE,
            prices=PRICES_FILE,
        output:
            labels="results/safety/import_labels/{judge}.parquet",
            ledger="results/ledger/safety_import/{judge}.csv",
        log:
            "logs/import_judge/{judge}.log",
        benchmark:
            "results/benchmarks/import_judge/{judge}.tsv"
        wildcard_constraints:
            judge=alternatives(STUDY.import_judges),
        conda:
            "../envs/core.yaml"
        resources:
            api_requests=api_requests("judge"),
            gpu=lambda wildcards: (
                STUDY.models[wildcards.judge].get("gpus", 1)
                if STUDY.backend(wildcards.judge).gpu
                else 0
            ),
        params:
            settings=model_settings("judge"),
            cache=COMPLETION_CACHE,
            state="results/batches/safety_import/{judge}.json",
        script:
            "../workflow/scripts/import_judge.py"

    rule import_agreement:
        input:
            completions="results/safety/imported_completions.parquet",
            labels=expand(
                "results/safety/import_labels/{judge}.parquet",
                judge=STUDY.import_judges,
            ),
            safety_sets=STUDY.refusal_rule_files(),
        output:
            labels="results/safety/imported_labels.parquet",
            agreement="results/safety/human_agreement.csv",
            confusion="results/safety/human_confusion.csv",
            rates="results/safety/labeller_rates.csv",
        log:
            "logs/import_agreement.log",
        conda:
            "../envs/core.yaml"
        params:
            judges=list(STUDY.import_judges),
            bootstrap=SAFETY["bootstrap"],
            seed=SAFETY["seed"],
        script:
            "../workflow/scripts/import_agreement.py"
