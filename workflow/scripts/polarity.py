import polars as pl

from culturalign.logs import script_log
from culturalign.polarity import response_polarity

with script_log(snakemake.log[0]) as log:
    polarity = response_polarity(pl.read_parquet(snakemake.input.judged))
    log.info(
        "%d kept responses, %d with a pro or con statement", polarity.height, polarity["pro_score"].count()
    )
    polarity.write_parquet(snakemake.output[0])
