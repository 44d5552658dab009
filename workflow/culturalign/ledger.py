"""The cost ledger: requests, cache hits, tokens, dollars and seconds per stage and run."""

from pathlib import Path

import polars as pl

from culturalign.backends import backend_class

LEDGER_SCHEMA = {
    "stage": pl.String,
    "model": pl.String,
    "language": pl.String,
    "seed": pl.Int64,
    "requests": pl.Int64,
    "cached": pl.Int64,
    "failed": pl.Int64,
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


def model_price(settings: dict, prices_path: str | Path) -> tuple[float, float] | None:
    """USD per million input and output tokens that this model pays: the price table's rate for
    its API model name at its backend's share (the Batch API pays half). None when its backend
    costs nothing per token (simulated respondents, own GPUs) or the table lacks the model."""
    backend = backend_class(settings["backend"])
    rate = load_prices(prices_path).get(settings.get("model", "")) if backend.priced else None
    if rate is None:
        return None
    factor = backend.price_factor(settings)
    return rate[0] * factor, rate[1] * factor


def cost_usd(prompt_tokens: int, completion_tokens: int, price: tuple[float, float] | None) -> float | None:
    """Dollars for the tokens at a price per million tokens; None without a price."""
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6


def ledger_row(
    responses: pl.DataFrame,
    *,
    stage: str,
    model: str,
    language: str,
    seed: int,
    seconds: float,
    price: tuple[float, float] | None,
) -> pl.DataFrame:
    """One ledger row for one run. Tokens and cost count the requests sent in this run; cache hits
    cost nothing; `failed` counts the requests that got no answer (their rows carry the reason).
    Without a price (simulated respondents, own GPUs, unknown model) the cost is null."""
    sent = responses.filter(~pl.col("cached"))
    prompt_tokens = int(sent["prompt_tokens"].sum())
    completion_tokens = int(sent["completion_tokens"].sum())
    cost = cost_usd(prompt_tokens, completion_tokens, price)
    return pl.DataFrame(
        [
            {
                "stage": stage,
                "model": model,
                "language": language,
                "seed": seed,
                "requests": responses.height,
                "cached": int(responses["cached"].sum()),
                "failed": int(responses["error"].is_not_null().sum()),
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cost_usd": cost,
                "seconds": seconds,
            }
        ],
        schema=LEDGER_SCHEMA,
    )


def generation_ledger(
    responses: pl.DataFrame,
    *,
    settings: dict,
    prices_path: str | Path,
    stage: str,
    model: str,
    language: str,
    seed: int | None,
    seconds: float,
) -> pl.DataFrame:
    """The ledger row of one model's generation run, priced by `model_price`."""
    return ledger_row(
        responses,
        stage=stage,
        model=model,
        language=language,
        seed=seed,
        seconds=seconds,
        price=model_price(settings, prices_path),
    )
