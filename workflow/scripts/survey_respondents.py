from culturalign.items import load_items, select_items
from culturalign.logs import script_log
from culturalign.survey import ingest_survey

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    items = select_items(load_items(snakemake.input.item_bank), params.scored_items)
    log.info("reading %d items from %s", len(items), snakemake.input.survey)
    respondents = ingest_survey(
        snakemake.input.survey,
        items,
        countries=params.countries,
        pooled_levels=params.pooled_levels,
        country_variable=params.country_variable,
        language_variable=params.language_variable,
        weights=params.weights,
    )
    log.info("%d respondents in %d countries", respondents.height, respondents["country"].n_unique())
    respondents.write_parquet(snakemake.output[0])
