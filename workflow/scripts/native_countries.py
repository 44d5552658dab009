import polars as pl

from culturalign.logs import script_log
from culturalign.survey import native_countries

with script_log(snakemake.log[0]) as log:
    params, respondents = snakemake.params, snakemake.input.get("respondents")
    table = native_countries(
        pl.read_parquet(respondents) if respondents else None, params.languages, params.configured
    )
    for language in params.languages:
        found = table.filter(language=language)
        if found.is_empty():
            log.warning(
                "%s: no native country (none configured, none interviews mostly in it): not in RQ2", language
            )
        else:
            log.info("%s: %s (%s)", language, ", ".join(found["country"]), found["source"][0])
    table.write_csv(snakemake.output[0])
