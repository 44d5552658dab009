"""Reading and writing the workflow's tables: one way to read a CSV-or-parquet table, and one way
to stack per-run files with their run's identity."""

from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl


def read_table(path: str | Path) -> pl.DataFrame:
    """A CSV or parquet table, by its suffix."""
    return pl.read_csv(path) if Path(path).suffix.lower() == ".csv" else pl.read_parquet(path)


def write_table(table: pl.DataFrame, path: str | Path) -> None:
    """`table` as CSV or parquet, by the path's suffix."""
    if Path(path).suffix == ".csv":
        table.write_csv(path)
    else:
        table.write_parquet(path)


def read_runs(paths: Sequence[str | Path], runs: Sequence[Mapping]) -> list[tuple[dict, pl.DataFrame]]:
    """Each run's record (model, language, seed or attack: a rule's `params.runs`) with its table,
    in order: a run's identity travels in params, never parsed back out of its path."""
    if len(paths) != len(runs):
        raise ValueError(f"{len(paths)} tables for {len(runs)} runs")
    return [(dict(run), read_table(path)) for path, run in zip(paths, runs, strict=True)]


def stack_runs(paths: Sequence[str | Path], runs: Sequence[Mapping]) -> pl.DataFrame:
    """The per-run tables stacked, each with its run's identity as columns."""
    tables = [
        table.with_columns(**{key: pl.lit(value) for key, value in run.items()})
        for run, table in read_runs(paths, runs)
    ]
    return pl.concat(tables, how="diagonal_relaxed")
