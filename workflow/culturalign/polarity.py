"""Polarity stage: how far each response leans for the item."""

import polars as pl


def response_polarity(judged: pl.DataFrame) -> pl.DataFrame:
    """pro / (pro + con) per kept response; null labels count for neither side, and a response
    with no pro or con statement has no polarity (null)."""
    counts = (
        judged.filter(pl.col("valid"))
        .group_by("prompt_id", "item", maintain_order=True)
        .agg(
            (pl.col("label") == "pro").sum().cast(pl.Int64).alias("pro"),
            (pl.col("label") == "con").sum().cast(pl.Int64).alias("con"),
            (pl.col("label") == "null").sum().cast(pl.Int64).alias("null"),
        )
    )
    sided = pl.col("pro") + pl.col("con")
    return counts.with_columns(
        pl.when(sided > 0).then(pl.col("pro") / sided).otherwise(None).alias("pro_score")
    ).sort("prompt_id")
