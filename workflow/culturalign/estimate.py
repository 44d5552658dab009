"""The bill before spending: every call the configured study would make that is not yet cached,
per stage (named as the ledger names them) and model, as a range.

- requests: the calls sent once each; requests_high adds the retries (judges: every unit asked
  again, ATTEMPTS in all; translation: translation.max_attempts; generation and safety: the share
  that failed in the model's ledger history, else cost.retry_share).
- prompt tokens from the characters of the messages: CHARS_PER_TOKEN expected, a range of
  CHARS_PER_TOKEN_RANGE for tokenizers that differ (other languages than English take more).
  Where a message depends on an answer not yet given (a judge's prompt holds the response), the low
  end renders the template around an empty answer, the expected and high ends around a typical one
  (as long as the answering model's expected completion).
- completion tokens: the model's mean in its ledger history, else max_tokens (an upper bound);
  the low end counts none without a history, the high end always max_tokens.
- dollars: usd_low (low tokens, no retries), cost_usd (expected tokens, no retries), usd_high
  (high tokens, with retries), at the model's price (the Batch API's share where `batch: true`).
- GPU-hours of vllm models: expected prompt and completion tokens at tokens_per_second, times the
  model's GPUs.
"""

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

import polars as pl

from culturalign.backends import GenerationRequest, backend_class
from culturalign.ledger import LEDGER_SCHEMA, cost_usd, model_price

CHARS_PER_TOKEN = 4.0  # OpenAI's rule of thumb for English
CHARS_PER_TOKEN_RANGE = (5.0, 3.0)  # the low and the high end of the token count
MESSAGE_OVERHEAD_TOKENS = 4
ESTIMATE_SCHEMA = {
    "stage": pl.String,
    "model": pl.String,
    "language": pl.String,
    "seed": pl.Int64,
    "requests": pl.Int64,
    "requests_high": pl.Int64,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "completion_basis": pl.String,
    "batch": pl.Boolean,
    "cost_usd": pl.Float64,
    "usd_low": pl.Float64,
    "usd_high": pl.Float64,
    "gpu_hours": pl.Float64,
    "tokens_per_second": pl.Float64,
}


@dataclass(frozen=True)
class Work:
    """The calls of one stage of one run that are not cached yet: totals at the low, expected and
    high end (the high end with retries)."""

    requests: int = 0
    requests_high: int = 0
    prompt_low: float = 0.0
    prompt: float = 0.0
    prompt_high: float = 0.0
    completion_low: float = 0.0
    completion: float = 0.0
    completion_high: float = 0.0
    observed: bool = True

    def __add__(self, other: "Work") -> "Work":
        values = {
            field.name: getattr(self, field.name) + getattr(other, field.name) for field in fields(self)
        }
        return Work(**values | {"observed": self.observed and other.observed})


def message_chars(request: GenerationRequest) -> int:
    return sum(len(message["content"]) for message in request.messages)


def work(
    requests: int,
    *,
    chars: float,
    chars_low: float | None = None,
    typical_completion: float | None,
    max_tokens: int,
    retries: float,
) -> Work:
    """The work of `requests` single-message calls of `chars` characters in all (`chars_low` at the
    low end), each asked again `retries` times on average at the high end."""
    low, high = CHARS_PER_TOKEN_RANGE
    overhead = MESSAGE_OVERHEAD_TOKENS * requests
    per_request = max_tokens if typical_completion is None else min(max_tokens, typical_completion)
    factor = 1 + retries
    return Work(
        requests=requests,
        requests_high=math.ceil(requests * factor),
        prompt_low=(chars if chars_low is None else chars_low) / low,
        prompt=chars / CHARS_PER_TOKEN + overhead,
        prompt_high=(chars / high + overhead) * factor,
        completion_low=0.0 if typical_completion is None else per_request * requests,
        completion=per_request * requests,
        completion_high=max_tokens * requests * factor,
        observed=typical_completion is not None,
    )


def requests_work(
    requests: list[GenerationRequest], *, typical_completion: float | None, max_tokens: int, retries: float
) -> Work:
    """The work of requests whose messages are known; a request asked twice (the same key: a
    judge asked about the same answer twice) is sent once."""
    requests = list({request.key: request for request in requests}.values())
    return work(
        len(requests),
        chars=sum(map(message_chars, requests)),
        typical_completion=typical_completion,
        max_tokens=max_tokens,
        retries=retries,
    )


@dataclass(frozen=True)
class Pricing:
    """What a model's tokens cost: dollars per million (None: no price), whether through the Batch
    API, and for a model on own GPUs its tokens per second and GPUs."""

    price: tuple[float, float] | None
    batch: bool
    tokens_per_second: float | None
    gpus: int

    @classmethod
    def of(cls, settings: dict, prices_path: str | Path, tokens_per_second: float) -> "Pricing":
        gpu = backend_class(settings["backend"]).gpu
        return cls(
            price=model_price(settings, prices_path),
            batch=bool(settings.get("batch", False)),
            tokens_per_second=settings.get("tokens_per_second", tokens_per_second) if gpu else None,
            gpus=settings.get("gpus", 1),
        )


def estimate_row(
    done: Work, *, stage: str, model: str, language: str, seed: int | None, pricing: Pricing
) -> dict:
    """One row of results/cost_estimate.csv."""
    gpu_hours = None
    if pricing.tokens_per_second:
        gpu_hours = (done.prompt + done.completion) / pricing.tokens_per_second / 3600 * pricing.gpus
    return {
        "stage": stage,
        "model": model,
        "language": language,
        "seed": seed,
        "requests": done.requests,
        "requests_high": done.requests_high,
        "prompt_tokens": round(done.prompt),
        "completion_tokens": round(done.completion),
        "completion_basis": "observed" if done.observed else "max_tokens",
        "batch": pricing.batch,
        "cost_usd": cost_usd(done.prompt, done.completion, pricing.price),
        "usd_low": cost_usd(done.prompt_low, done.completion_low, pricing.price),
        "usd_high": cost_usd(done.prompt_high, done.completion_high, pricing.price),
        "gpu_hours": gpu_hours,
        "tokens_per_second": pricing.tokens_per_second,
    }


def estimate_table(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=ESTIMATE_SCHEMA)


def history(folder: str | Path, pattern: str) -> pl.DataFrame | None:
    """A stage's earlier ledger rows under `folder`, if any."""
    tables = [
        pl.read_csv(path, schema_overrides=LEDGER_SCHEMA) for path in sorted(Path(folder).glob(pattern))
    ]
    return pl.concat(tables, how="vertical_relaxed") if tables else None


def _sent(ledger: pl.DataFrame | None) -> int:
    return 0 if ledger is None else int((ledger["requests"] - ledger["cached"]).sum())


def observed_completion_tokens(ledger: pl.DataFrame | None) -> float | None:
    """Mean completion tokens per sent request in earlier ledger rows, if any."""
    sent = _sent(ledger)
    return float(ledger["completion_tokens"].sum()) / sent if sent else None


def observed_prompt_tokens(ledger: pl.DataFrame | None) -> float | None:
    """Mean prompt tokens per sent request in earlier ledger rows, if any."""
    sent = _sent(ledger)
    return float(ledger["prompt_tokens"].sum()) / sent if sent else None


def failed_share(ledger: pl.DataFrame | None, default: float) -> float:
    """The share of sent requests that failed in earlier ledger rows (asked again on the next run),
    else `default`."""
    sent = _sent(ledger)
    return float(ledger["failed"].sum()) / sent if sent else default


def summary(estimate: pl.DataFrame) -> str:
    """Per stage and model: requests, tokens, dollars as a range, GPU-hours; and the total range."""
    if estimate.is_empty():
        return "No real models and no LLM judges configured: nothing to send, nothing to pay."

    def dollars(column: str) -> pl.Expr:
        # no price (own GPUs, a model missing from the price table): no cost, not $0
        return pl.when(pl.col(column).is_not_null().any()).then(pl.col(column).sum().round(2))

    totals = estimate.group_by("stage", "model", maintain_order=True).agg(
        pl.col("requests", "requests_high", "prompt_tokens", "completion_tokens").sum(),
        dollars("usd_low"),
        dollars("cost_usd"),
        dollars("usd_high"),
        dollars("gpu_hours").alias("gpu_hours"),
    )
    lines = [f"Expected work not yet cached (nothing sent):\n{_printed(totals)}"]
    lines.append(
        f"Total: ${estimate['cost_usd'].sum():.2f} expected, "
        f"${estimate['usd_low'].sum():.2f} to ${estimate['usd_high'].sum():.2f}"
    )
    gpu = estimate.drop_nulls("gpu_hours")
    if not gpu.is_empty():
        # the speed of the model that does the work (the judge's on a judge's rows), per row in the table
        speeds = " or ".join(f"{speed:g}" for speed in sorted(set(gpu["tokens_per_second"])))
        lines.append(
            f"GPU-hours: {gpu['gpu_hours'].sum():.2f} at {speeds} tokens/s (prompt and completion tokens; "
            "cost.tokens_per_second or a model's own, as each row of the table says)"
        )
    return "\n".join(lines)


def _printed(table: pl.DataFrame) -> str:
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_width_chars=200):
        return str(table)


# -- the stages ---------------------------------------------------------------------------------


def typical_answer(completion_tokens: float, lines: int = 10) -> tuple[str, list[str]]:
    """A stand-in answer as long as `completion_tokens`: a numbered list of `lines` statements."""
    width = max(1, round(completion_tokens * CHARS_PER_TOKEN / lines) - 4)
    statements = ["x" * width for _ in range(lines)]
    return "\n".join(f"{n}. {text}" for n, text in enumerate(statements, 1)), statements


def judge_work(
    known: list[GenerationRequest] | None,
    unknown: list[tuple[str, str]],
    *,
    typical_completion: float | None,
    typical_prompt: float | None,
    max_tokens: int,
    retries: float,
) -> Work:
    """A judge's work on one run: `known` requests (built from the answers, which exist) and, for
    answers not given yet, `unknown` prompts rendered around an empty (low) and a typical answer
    (expected, high), or as long as the judge's prompts were in its history (expected)."""
    done = requests_work(
        known or [], typical_completion=typical_completion, max_tokens=max_tokens, retries=retries
    )
    if unknown:
        chars = sum(len(typical) for _, typical in unknown)
        guess = work(
            len(unknown),
            chars=chars,
            chars_low=sum(len(empty) for empty, _ in unknown),
            typical_completion=typical_completion,
            max_tokens=max_tokens,
            retries=retries,
        )
        if typical_prompt is not None:
            guess = replace(guess, prompt=typical_prompt * len(unknown))
        done = done + guess
    return done
