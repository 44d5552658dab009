from culturalign.logs import script_log
from culturalign.survey import empty_consistency
from culturalign.survey_tables import read_ceiling

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    if snakemake.input.get("ceiling"):
        ceiling = read_ceiling(snakemake.input.ceiling, params.countries, params.languages)
        log.info(
            "the survey's own consistency of %d populations from %s", ceiling.height, snakemake.input.ceiling
        )
    else:
        ceiling = empty_consistency()
        log.info(
            "no microdata and no survey.ceiling: the survey's self-consistency is unavailable and left empty"
        )
    ceiling.write_parquet(snakemake.output[0])
