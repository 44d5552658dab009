import polars as pl

from culturalign.judge import language_fidelity
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    tables = []
    for path, (model, language, seed) in zip(snakemake.input, snakemake.params.runs, strict=True):
        run = {"model": pl.lit(model), "language": pl.lit(language), "seed": pl.lit(seed)}
        tables.append(pl.read_parquet(path).with_columns(**run))
    fidelity = language_fidelity(pl.concat(tables, how="diagonal_relaxed"), snakemake.params.min_statements)
    log.info("language fidelity of %d (model, language) pairs", fidelity.height)
    fidelity.write_csv(snakemake.output[0])
