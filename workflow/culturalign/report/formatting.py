# ruff: noqa: RUF001 -- a missing number is written as an en dash on purpose
"""How numbers, intervals and languages are written wherever the report names them."""

from collections.abc import Mapping

import polars as pl


def format_number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def format_interval(row: dict, column: str, bounds: str = "ci") -> str:
    """The value of `column` and its interval `<bounds>_low`, `<bounds>_high`."""
    low, high = format_number(row[f"{bounds}_low"]), format_number(row[f"{bounds}_high"])
    return f"{format_number(row[column])} [{low}, {high}]"


def language_label(language: str, labels: Mapping[str, str]) -> str:
    """A language as the report names it, with its label when it has one: 'MT' (machine-translated
    prompts) or 'unreviewed' (written by the project, not reviewed by a native speaker)."""
    return f"{language} ({labels[language]})" if language in labels else language


def with_language_labels(frame: pl.DataFrame, labels: Mapping[str, str]) -> pl.DataFrame:
    """Labelled languages marked wherever a table or figure names them."""
    if "language" not in frame.columns or not labels:
        return frame
    return frame.with_columns(
        pl.col("language").replace_strict(
            {language: language_label(language, labels) for language in labels},
            default=pl.col("language"),
        )
    )
