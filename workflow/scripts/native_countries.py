import polars as pl

from culturalign.logs import script_log
from culturalign.survey import interview_shares, known_interview_shares, native_countries

with script_log(snakemake.log[0]) as log:
    params, respondents = snakemake.params, snakemake.input.get("respondents")
    if respondents:
        shares, source = interview_shares(pl.read_parquet(respondents)), "survey"
    else:  # an aggregated table has no interview languages
        shares, source = known_interview_shares(params.countries), "known"
    table = native_countries(shares, params.languages, params.configured, source)
    for language in params.languages:
        found = table.filter(language=language)
        if found.is_empty():
            log.warning("%s: no native country configured or interviewing mostly in it: not in RQ2", language)
        else:
            log.info("%s: %s (%s)", language, ", ".join(found["country"]), found["source"][0])
    table.write_csv(snakemake.output[0])
