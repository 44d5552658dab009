from pathlib import Path

import polars as pl

from culturalign.agreement import gold_accuracy, judge_agreement
from culturalign.logs import script_log


def read(path: str) -> pl.DataFrame:
    return pl.read_csv(path) if Path(path).suffix == ".csv" else pl.read_parquet(path)


with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    tables = []
    for path in snakemake.input.labels:
        # results/judge_labels/{judge}/{model}/{language}/{seed}.parquet
        judge, model, language, seed = Path(path).with_suffix("").parts[-4:]
        run = {"judge": judge, "model": model, "language": language, "seed": int(seed)}
        columns = {name: pl.lit(value) for name, value in run.items()}
        tables.append(pl.read_parquet(path).with_columns(**columns))
    labels = pl.concat(tables).drop_nulls("statement_idx")
    agreement = judge_agreement(labels, bootstrap=params.bootstrap, seed=params.seed)
    log.info("agreement of %d (language, judge pair) rows from %d labels", agreement.height, labels.height)
    agreement.write_csv(snakemake.output.agreement)
    if snakemake.input.gold:
        gold = gold_accuracy(labels, read(snakemake.input.gold), bootstrap=params.bootstrap, seed=params.seed)
        log.info("accuracy against %s for %d (judge, language) rows", snakemake.input.gold, gold.height)
        gold.write_csv(snakemake.output.gold)
