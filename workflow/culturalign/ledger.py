"""The cost ledger: requests, cache hits, tokens, dollars and seconds per stage and run."""

from pathlib import Path

import polars as pl

BATCH_DISCOUNT = 0.5  # the Batch API bills half the direct price
LEDGER_SCHEMA = {
    "stage": pl.String,
    "model": pl.String,
    "language": pl.String,
    "seed": pl.Int64,
    "requests": pl.Int64,
    "cached": pl.Int64,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "cost_usd": pl.Float64,
    "seconds": pl.Float64,
}


def load_prices(path: str | Path) -> dict[str, tuple[float, float]]:
    """USD per million input and output tokens, by API model name."""
    table = pl.read_csv(path)
    return {
        model: (float(input_price), float(output_price))
        for model, input_price, output_price in table.select(
            "model", "input_usd_per_million", "output_usd_per_million"
        ).iter_rows()
    }


def ledger_row(
    responses: pl.DataFrame,
    *,
    stage: str,
    model: str,
    language: str,
    seed: int,
    seconds: float,
    price: tuple[float, float] | None,
    batch: bool = False,
) -> pl.DataFrame:
    """One ledger row for one run. Tokens and cost count the requests sent in this run; cache hits
    cost nothing. Without a price (simulated respondents, own GPUs, unknown model) the cost is null."""
    sent = responses.filter(~pl.col("cached"))
    prompt_tokens = int(sent["prompt_tokens"].sum())
    completion_tokens = int(sent["completion_tokens"].sum())
    cost = None
    if price is not None:
        cost = (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6
        cost *= BATCH_DISCOUNT if batch else 1.0
    return pl.DataFrame(
        [
            {
                "stage": stage,
                "model": model,
                "language": language,
                "seed": seed,
                "requests": responses.height,
                "cached": int(responses["cached"].sum()),
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cost_usd": cost,
                "seconds": seconds,
            }
        ],
        schema=LEDGER_SCHEMA,
    )
