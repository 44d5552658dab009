from culturalign.logs import script_log
from culturalign.reanalysis import imported_polarity, read_judged_import, with_uniform_baseline

with script_log(snakemake.log[0]) as log:
    wildcards = snakemake.wildcards
    table = with_uniform_baseline(
        read_judged_import(snakemake.input.table, set(snakemake.params.scored_items)),
        snakemake.params.reference,
        seed=snakemake.params.baseline_seed,
    )
    polarity = imported_polarity(table, wildcards.model, wildcards.language, int(wildcards.seed))
    log.info("%d kept imported responses of %s in %s", polarity.height, wildcards.model, wildcards.language)
    polarity.write_parquet(snakemake.output[0])
