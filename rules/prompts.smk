# Prompt stage: the seeded sample of hypothetical-survey prompts, parallel across languages.


rule prompts:
    input:
        item_bank=ITEMS_FILE,
        prompt_bank=prompt_resources,
    output:
        "results/prompts/{language}/{seed}.parquet",
    log:
        "logs/prompts/{language}/{seed}.log",
    conda:
        "../envs/core.yaml"
    params:
        prompts_per_seed=config["prompts_per_seed"],
        scored_items=list(SCORED_ITEMS),
    script:
        "../workflow/scripts/prompts.py"
