import polars as pl

from culturalign.judge import SimulatedReader, judge_responses
from culturalign.logs import script_log
from culturalign.phrase_bank import load_phrase_banks

with script_log(snakemake.log[0]) as log:
    language = snakemake.wildcards.language
    responses = pl.read_parquet(snakemake.input.responses)
    log.info("simulated reader judging %d responses in %s", responses.height, language)
    judged = judge_responses(
        responses,
        SimulatedReader(load_phrase_banks(snakemake.input.phrase_banks)),
        language=language,
        min_statements=snakemake.params.min_statements,
    )
    for status, count in judged.unique("prompt_id").group_by("status").len().sort("status").iter_rows():
        log.info("%s: %d responses", status, count)
    judged.write_parquet(snakemake.output[0])
