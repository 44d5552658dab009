from culturalign.logs import script_log
from culturalign.survey_tables import read_table, validate_aggregated

with script_log(snakemake.log[0]) as log:
    source = snakemake.input.table
    params = snakemake.params
    truth = validate_aggregated(
        read_table(source), params.kept_items, source, params.countries, params.required_items
    )
    log.info("%d aggregated scores of %d items from %s", truth.height, truth["item"].n_unique(), source)
    truth.write_parquet(snakemake.output[0])
