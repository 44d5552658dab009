"""Alignment stage: Spearman correlation of a model's polarity with each survey population's, the
model's self-consistency, and how many responses the filters kept."""

import numpy as np
import polars as pl

from culturalign.agreement import disattenuate, stepped_up
from culturalign.judge import STATUSES
from culturalign.stats import (
    REPEAT_SUMMARY_SCHEMA,
    disjoint_draws,
    random_stream,
    resample_counts,
    rowwise_pearson,
    rowwise_ranks,
    spearman_with_ci,
    summarise_repeats,
)

UNITS = ("topic", "response")
ALIGNMENT_SCHEMA = {
    "model": pl.String,
    "family": pl.String,
    "language": pl.String,
    "seed": pl.Int64,
    "level": pl.String,
    "group": pl.String,
    "unit": pl.String,
    "spearman": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "n": pl.Int64,
}
CONSISTENCY_SCHEMA = (
    {"model": pl.String, "language": pl.String, "seed": pl.Int64}
    | REPEAT_SUMMARY_SCHEMA
    | {"stances_per_response": pl.Float64}
)


def item_polarity(polarity: pl.DataFrame) -> pl.DataFrame:
    """pro / (pro + con) per item over all statements of its kept responses."""
    return (
        polarity.group_by("item")
        .agg(pl.col("pro").sum(), pl.col("con").sum())
        .filter(pl.col("pro") + pl.col("con") > 0)
        .select("item", (pl.col("pro") / (pl.col("pro") + pl.col("con"))).alias("model_score"))
    )


def alignment(
    polarity: pl.DataFrame,
    ground_truth: pl.DataFrame,
    *,
    model: str,
    family: str,
    language: str,
    seed: int,
    resamples: int = 1000,
    bootstrap_seed: int = 0,
    units: tuple[str, ...] = UNITS,
) -> pl.DataFrame:
    """Spearman's rho with a percentile bootstrap CI against every population in `ground_truth`.

    unit `topic`: item polarities against the population's item scores (n = items);
    unit `response`: each response's polarity against its item's population score (n = responses).
    """
    per_unit = {
        "topic": item_polarity(polarity),
        "response": polarity.filter(pl.col("pro_score").is_not_null()).select(
            "item", pl.col("pro_score").alias("model_score")
        ),
    }
    rows = []
    for (level, group), population in ground_truth.group_by("level", "group", maintain_order=True):
        for unit in units:
            paired = per_unit[unit].join(population.select("item", "pro_score"), on="item")
            rng = random_stream(bootstrap_seed, model, language, seed, level, group, unit)
            rho, low, high = spearman_with_ci(
                paired["model_score"].to_numpy(), paired["pro_score"].to_numpy(), resamples, rng
            )
            rows.append((model, family, language, seed, level, group, unit, rho, low, high, paired.height))
    return pl.DataFrame(rows, schema=list(ALIGNMENT_SCHEMA.items()), orient="row").with_columns(
        pl.col("spearman", "ci_low", "ci_high").fill_nan(None)
    )


def model_consistency(
    polarity: pl.DataFrame,
    *,
    model: str,
    language: str,
    seed: int,
    repeats: int = 200,
    consistency_seed: int = 0,
) -> pl.DataFrame:
    """Agreement of a model with itself across prompt paraphrases, measured like the survey's ceiling.

    Per repeat and item, two distinct responses (two different prompts) are drawn; their polarities
    are correlated across items (Pearson). A response is never paired with itself. Also the mean
    number of statements that take a side per response, for the judge-reliability correction."""
    rng = random_stream(consistency_seed, model, language, seed, "consistency")
    scored = polarity.filter(pl.col("pro_score").is_not_null())
    first, second = [], []
    for _, responses in scored.group_by("item", maintain_order=True):
        scores = responses["pro_score"].to_numpy()
        if scores.size < 2:
            continue
        pairs = disjoint_draws(scores.size, 1, repeats, rng)
        first.append(scores[pairs[:, 0]])
        second.append(scores[pairs[:, 1]])
    correlations = (
        rowwise_pearson(np.column_stack(first), np.column_stack(second)) if len(first) >= 3 else np.array([])
    )
    summary = summarise_repeats(correlations)
    # how many statements take a side in one polarity score: what the judge's reliability scales with
    stances = float((scored["pro"] + scored["con"]).mean()) if scored.height else None
    return pl.DataFrame(
        [
            {"model": model, "language": language, "seed": seed, "n_items": len(first)}
            | summary
            | {"stances_per_response": stances}
        ],
        schema=CONSISTENCY_SCHEMA,
    )


def filtering_counts(judged: pl.DataFrame, *, model: str, language: str, seed: int) -> pl.DataFrame:
    """Responses kept and filtered out (wrong language, malformed, failed) in one (model, language, seed)."""
    statuses = judged.unique("prompt_id").get_column("status")
    counts = {status: int((statuses == status).sum()) for status in STATUSES}
    total = len(statuses)
    return pl.DataFrame(
        [
            {"model": model, "language": language, "seed": seed, "responses": total}
            | counts
            | {f"{status}_rate": counts[status] / total if total else None for status in STATUSES}
        ]
    )


def response_bootstrap(
    polarity: pl.DataFrame, populations: dict[str, pl.DataFrame], resamples: int, rng: np.random.Generator
) -> dict[str, tuple[float, np.ndarray]]:
    """Topic-level alignment of one run with each population, and its bootstrap replicates over
    the run's responses (resampled with replacement, all replicates at once).

    `populations` maps a name to a frame of item, pro_score. Returns name -> (rho, replicates)."""
    items = sorted(set(polarity["item"]).intersection(*(set(p["item"]) for p in populations.values())))
    rows = polarity.filter(pl.col("item").is_in(items))
    column = np.searchsorted(items, rows["item"].to_numpy())
    pro = np.zeros((rows.height, len(items)))
    sided = np.zeros((rows.height, len(items)))
    pro[np.arange(rows.height), column] = rows["pro"].to_numpy()
    sided[np.arange(rows.height), column] = (rows["pro"] + rows["con"]).to_numpy()
    counts = resample_counts(rows.height, resamples, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = pro.sum(axis=0) / sided.sum(axis=0)
        replicated = (counts @ pro) / (counts @ sided)
    # Ranked once, then correlated with every population's (fixed) ranks.
    observed_ranks, replicated_ranks = rowwise_ranks(observed[None, :]), rowwise_ranks(replicated)
    results = {}
    for name, population in populations.items():
        target = population.filter(pl.col("item").is_in(items)).sort("item")["pro_score"].to_numpy()
        target_ranks = rowwise_ranks(target[None, :])
        rho = rowwise_pearson(observed_ranks, target_ranks)[0]
        replicates = rowwise_pearson(replicated_ranks, np.broadcast_to(target_ranks, replicated.shape))
        results[name] = (float(rho), replicates)
    return results


def corrected_consistency(consistency: pl.DataFrame, reliability: pl.DataFrame) -> pl.DataFrame:
    """Self-consistency corrected for the primary judge's measured unreliability.

    `reliability` (language, reliability) is the judge's statement-level reliability (its kappa with
    the other judges). A response's polarity averages `stances_per_response` statements, so its
    reliability is the Spearman-Brown step-up of the statement's; self-consistency correlates two
    such polarities and is disattenuated by it."""
    judge = reliability.select("language", pl.col("reliability").alias("judge_reliability"))
    joined = consistency.join(judge, on="language", how="left")
    statement = joined["judge_reliability"].to_numpy().astype(float)
    stances = joined["stances_per_response"].to_numpy().astype(float)
    polarity = stepped_up(statement, stances)
    corrected = disattenuate(joined["consistency"].to_numpy(), polarity)
    return joined.with_columns(
        polarity_reliability=pl.Series(polarity).fill_nan(None),
        consistency_corrected=pl.Series(corrected).fill_nan(None),
    )
