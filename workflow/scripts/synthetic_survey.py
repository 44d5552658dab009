from culturalign.items import load_items
from culturalign.logs import script_log
from culturalign.synthetic_survey import synthetic_microdata, write_sav

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    items = load_items(snakemake.input.item_bank)
    microdata = synthetic_microdata(items, params.countries, params.respondents_per_country, params.seed)
    write_sav(microdata, snakemake.output[0], items)
    log.info("synthetic survey: %d respondents x %d variables", *microdata.shape)
