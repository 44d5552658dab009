from culturalign.logs import script_log
from culturalign.reanalysis import imported_filtering, read_judged_import

with script_log(snakemake.log[0]) as log:
    counts = imported_filtering(read_judged_import(snakemake.input.table, set(snakemake.params.scored_items)))
    log.info("filtered out %d imported responses in another language", counts["wrong_language"].sum())
    counts.write_parquet(snakemake.output[0])
