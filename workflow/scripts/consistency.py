import polars as pl

from culturalign.agreement import judge_reliability
from culturalign.alignment import corrected_consistency
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    consistency = pl.concat([pl.read_parquet(path) for path in snakemake.input.parts])
    if snakemake.input.agreement:
        agreement = pl.read_csv(snakemake.input.agreement)
        reliability = judge_reliability(agreement, snakemake.params.primary_judge)
        consistency = corrected_consistency(consistency, reliability)
        for language, value in reliability.select("language", "reliability").iter_rows():
            log.info("%s: the primary judge's statement-level reliability (kappa) %s", language, value)
    log.info("self-consistency of %d runs", consistency.height)
    consistency.write_parquet(snakemake.output[0])
