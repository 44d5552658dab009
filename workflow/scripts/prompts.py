from culturalign.items import load_items, select_items
from culturalign.logs import script_log
from culturalign.prompts import load_prompt_bank, render_prompts, sample_prompt_design

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    language, seed = snakemake.wildcards.language, int(snakemake.wildcards.seed)
    items = select_items(load_items(snakemake.input.item_bank), params.scored_items)
    bank = load_prompt_bank(language, items, *snakemake.input.prompt_bank)
    variations = {key: len(bank.topics[key]) for key in items}
    design = sample_prompt_design(variations, params.prompts_per_seed, seed, len(bank.templates))
    prompts = render_prompts(design, bank)
    log.info("%d prompts in %s for seed %d over %d items", prompts.height, language, seed, len(items))
    prompts.write_parquet(snakemake.output[0])
