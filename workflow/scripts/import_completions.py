import polars as pl

from culturalign.logs import script_log
from culturalign.safety.imported import imported_completions

with script_log(snakemake.log[0]) as log:
    completions, problems = imported_completions(snakemake.params.sources)
    counts = completions.group_by("model", "language").agg(
        pl.len().alias("completions"), pl.col("human_label").is_not_null().sum().alias("labelled")
    )
    for model, language, count, labelled in counts.sort("model", "language").iter_rows():
        log.info("%s %s: %d completions, %d labelled by people", model, language, count, labelled)
    for file, count in problems.group_by("file").len().sort("file").iter_rows():
        log.warning("%s: %d rows skipped (see %s)", file, count, snakemake.output.problems)
    completions.write_parquet(snakemake.output.completions)
    problems.write_csv(snakemake.output.problems)
