"""Re-analysis of released data: judged responses that others published (one polarity score per
response) enter the DAG in place of generation and judging."""

from collections.abc import Collection
from pathlib import Path

import polars as pl

from culturalign.io import read_table
from culturalign.stats import random_stream

REQUIRED = ("model", "family", "language", "item", "pro_score")
SIMULATED_FAMILY = "simulated"


class JudgedImportError(ValueError):
    """An imported table the re-analysis cannot use; the message names the file and columns."""


def read_judged_import(path: str | Path, items: set[str]) -> pl.DataFrame:
    """The imported table, checked, with prompt_id, seed and response_language filled in."""
    path = Path(path)
    if not path.is_file():
        raise JudgedImportError(f"judged_import: file {path} not found (relative to the working directory)")
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise JudgedImportError(f"judged_import: {path} must be a .csv or .parquet table")
    table = read_table(path)
    missing = [column for column in REQUIRED if column not in table.columns]
    if missing:
        raise JudgedImportError(
            f"{path}: judged_import lacks columns {', '.join(missing)} (needs {', '.join(REQUIRED)})"
        )
    table = table.with_columns(
        pl.col("model", "family", "language").cast(pl.String),
        pl.col("item").cast(pl.String).str.to_lowercase(),
        pl.col("pro_score").cast(pl.Float64),
    )
    unknown = sorted(set(table["item"]) - items)
    if unknown:
        raise JudgedImportError(
            f"{path}: unknown items {unknown[:20]}; items are lowercase IVS keys of resources/items.yaml"
        )
    if not table["pro_score"].drop_nulls().is_between(0, 1).all():
        raise JudgedImportError(f"{path}: pro_score must lie between 0 and 1")
    if "/" in "".join(table["model"].unique()):
        raise JudgedImportError(f"{path}: model names are used in paths and may not contain '/'")
    defaults = {
        "seed": pl.lit(0, pl.Int64),
        "response_language": pl.col("language"),
        "prompt_id": pl.int_range(pl.len()).over("model", "language").cast(pl.String),
    }
    return table.with_columns(
        value.alias(name) for name, value in defaults.items() if name not in table.columns
    )


def runs_of(table: pl.DataFrame) -> list[tuple[str, str, int]]:
    return table.select("model", "language", "seed").unique().sort("model", "language", "seed").rows()


def with_uniform_baseline(
    table: pl.DataFrame, name: str, statements: int = 10, seed: int = 0
) -> pl.DataFrame:
    """Add a uniform-random respondent answering the same items as each language's prompts: each
    response describes `statements` people, each for or against with probability 0.5. Marked as
    family `simulated`. A table that already has a model of that name is returned as it is."""
    if name in set(table["model"]):
        return table
    prompts = (
        table.select("language", "seed", "prompt_id", "item").unique().sort("language", "seed", "prompt_id")
    )
    rng = random_stream(seed, "imported-uniform-baseline")
    baseline = prompts.with_columns(
        pl.lit(name).alias("model"),
        pl.lit(SIMULATED_FAMILY).alias("family"),
        pl.Series("pro_score", rng.binomial(statements, 0.5, size=prompts.height) / statements),
        pl.col("language").alias("response_language"),
    )
    return pl.concat([table, baseline.select(table.columns)])


def imported_polarity(
    table: pl.DataFrame, model: str, language: str, seed: int, *, scored_items: Collection[str]
) -> pl.DataFrame:
    """One run's kept responses on the scored items in the polarity contract. Each imported
    response counts as one unit split into pro = pro_score and con = 1 - pro_score, so that
    topic-level polarity is the mean of its responses' scores. Released data may hold items that
    were prompted but not scored; like a generated run, the run keeps only the scored ones, so that
    its self-consistency is measured on the items its alignment and the survey's ceiling are."""
    run = table.filter(
        (pl.col("model") == model)
        & (pl.col("language") == language)
        & (pl.col("seed") == seed)
        & (pl.col("response_language") == pl.col("language"))
        & pl.col("pro_score").is_not_null()
        & pl.col("item").is_in(list(scored_items))
    )
    return run.select(
        pl.col("prompt_id").cast(pl.String),
        "item",
        pl.col("pro_score").alias("pro"),
        (1 - pl.col("pro_score")).alias("con"),
        pl.lit(0.0).alias("null"),
        "pro_score",
    ).sort("prompt_id")


def imported_filtering(table: pl.DataFrame) -> pl.DataFrame:
    """Responses kept and filtered out per run: another language than prompted, or no score."""
    wrong = pl.col("response_language") != pl.col("language")
    return (
        table.group_by("model", "language", "seed")
        .agg(
            pl.len().cast(pl.Int64).alias("responses"),
            (~wrong & pl.col("pro_score").is_not_null()).sum().cast(pl.Int64).alias("kept"),
            wrong.sum().cast(pl.Int64).alias("wrong_language"),
            (~wrong & pl.col("pro_score").is_null()).sum().cast(pl.Int64).alias("malformed"),
            pl.lit(0, pl.Int64).alias("error"),
        )
        .with_columns(
            (pl.col(status) / pl.col("responses")).alias(f"{status}_rate")
            for status in ("kept", "wrong_language", "malformed", "error")
        )
        .sort("model", "language", "seed")
    )
