"""Alignment stage: Spearman correlation of a model's polarity with each survey population's, the
model's self-consistency, and how many responses the filters kept."""

import numpy as np
import polars as pl

from culturalign.agreement import disattenuate, stepped_up
from culturalign.judge import STATUSES
from culturalign.stats import (
    REPEAT_SUMMARY_SCHEMA,
    disjoint_sample_consistency,
    random_stream,
    resample_counts,
    resampled_ranks,
    rowwise_pearson,
    rowwise_ranks,
    spearman_with_shared_ci,
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
    """pro / (pro + con) per item over all statements of its kept responses, by item: the
    bootstrap resamples rows, so their order must not change from one run to the next."""
    return (
        polarity.group_by("item")
        .agg(pl.col("pro").sum(), pl.col("con").sum())
        .filter(pl.col("pro") + pl.col("con") > 0)
        .select("item", (pl.col("pro") / (pl.col("pro") + pl.col("con"))).alias("model_score"))
        .sort("item")
    )


def stance_responses(polarity: pl.DataFrame) -> pl.DataFrame:
    """The responses that take a side (pro + con > 0), sorted: the units every alignment bootstrap
    resamples. A response without a stance adds nothing to its item's polarity."""
    return polarity.filter(pl.col("pro") + pl.col("con") > 0).sort("item", "prompt_id")


def response_resamples(responses: pl.DataFrame, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap draw counts (resamples x responses): the run's responses drawn with replacement.
    An item none of whose responses is drawn has no polarity in that resample; it is left out of
    that resample's correlation (see `alignment_replicates`). Resampling within items instead
    would give an item with one response no variance at all, and sparse runs too narrow an
    interval (coverage 0.33 against 0.9 on 30 responses over 17 items)."""
    return resample_counts(responses.height, resamples, rng)


def alignment_replicates(
    responses: pl.DataFrame, counts: np.ndarray, populations: dict[str, pl.DataFrame], unit: str
) -> dict[str, tuple[float, np.ndarray, int]]:
    """Spearman's rho of one run with each population at `unit`, and its value in every resample
    of `counts` (from `response_resamples` over `responses`).

    unit `topic`: item polarities against the population's item scores (n = items);
    unit `response`: each response's polarity against its item's population score (n = responses).
    Populations that share an item set share the model's resampled ranks, which are computed once.
    Returns name -> (rho, replicates, n); NaN where fewer than 3 units or a constant side."""
    scores = {
        name: dict(population.select("item", "pro_score").iter_rows())
        for name, population in populations.items()
    }
    by_items: dict[tuple[str, ...], list[str]] = {}
    for name, score in scores.items():
        shared = tuple(sorted(set(responses["item"]) & set(score)))
        by_items.setdefault(shared, []).append(name)
    results = {}
    for items, names in by_items.items():
        rows = responses["item"].is_in(items).to_numpy()
        kept, kept_counts = responses.filter(rows), counts[:, rows]
        ranked = _model_ranks(kept, kept_counts, items, unit)
        for name in names:
            results[name] = _correlated(ranked, scores[name], kept, kept_counts, items, unit)
    return results


def _model_ranks(
    responses: pl.DataFrame, counts: np.ndarray, items: tuple[str, ...], unit: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """The model's observed and resampled ranks (centred at the response unit, where the
    correlation is weighted by draw counts), or None with fewer than 3 units."""
    if unit == "topic":
        if len(items) < 3:
            return None
        column = np.searchsorted(items, responses["item"].to_numpy())
        onehot = np.zeros((responses.height, len(items)))
        onehot[np.arange(responses.height), column] = 1.0
        pro = onehot * responses["pro"].to_numpy()[:, None]
        sided = onehot * (responses["pro"] + responses["con"]).to_numpy()[:, None]
        observed = pro.sum(axis=0) / sided.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            replicated = (counts @ pro) / (counts @ sided)  # NaN: the item is absent from a resample
        return rowwise_ranks(observed[None, :])[0], rowwise_ranks(replicated)
    if responses.height < 3:
        return None
    values = responses["pro_score"].to_numpy()
    middle = (responses.height + 1) / 2
    return rowwise_ranks(values[None, :])[0] - middle, resampled_ranks(values, counts) - middle


def _correlated(
    ranked: tuple[np.ndarray, np.ndarray] | None,
    score: dict[str, float],
    responses: pl.DataFrame,
    counts: np.ndarray,
    items: tuple[str, ...],
    unit: str,
) -> tuple[float, np.ndarray, int]:
    n = len(items) if unit == "topic" else responses.height
    if ranked is None:
        return (np.nan, np.full(counts.shape[0], np.nan), n)
    observed, replicated = ranked
    if unit == "topic":
        target = np.array([score[item] for item in items])
        rho = rowwise_pearson(observed[None, :], rowwise_ranks(target[None, :]))[0]
        # the population's items are ranked among those present in each resample
        present = np.where(np.isnan(replicated), np.nan, target)
        replicates = rowwise_pearson(replicated, rowwise_ranks(present))
        return (float(rho), replicates, n)
    target = np.array([score[item] for item in responses["item"]])
    middle = (responses.height + 1) / 2
    rho = rowwise_pearson(observed[None, :], rowwise_ranks(target[None, :]) - middle)[0]
    # Resampled ranks are centred on the resample's mean rank, so the weighted products below are
    # the Pearson correlation of each resample's ranks.
    target_ranks = resampled_ranks(target, counts) - middle
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = (counts * replicated * target_ranks).sum(axis=1) / np.sqrt(
            (counts * replicated**2).sum(axis=1) * (counts * target_ranks**2).sum(axis=1)
        )
    return (float(rho), replicates, n)


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

    unit `topic`: item polarities against the population's item scores (n = items; the CI
    resamples items); unit `response`: each response's polarity against its item's population
    score (n = responses; the CI resamples responses). Populations that hold the same items share
    one set of resamples and the model's resampled ranks."""
    per_unit = {
        "topic": item_polarity(polarity),
        "response": polarity.filter(pl.col("pro_score").is_not_null()).select(
            "item", pl.col("pro_score").alias("model_score")
        ),
    }
    populations = {
        key: dict(population.select("item", "pro_score").iter_rows())
        for key, population in ground_truth.group_by("level", "group", maintain_order=True)
    }
    scores = {}
    for unit in units:
        by_items: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        for key, population in populations.items():
            shared = tuple(sorted(set(per_unit[unit]["item"]) & set(population)))
            by_items.setdefault(shared, []).append(key)
        for items, keys in by_items.items():
            paired = per_unit[unit].filter(pl.col("item").is_in(items))
            rng = random_stream(bootstrap_seed, model, language, seed, unit, *items)
            targets = [paired["item"].replace_strict(populations[key]).to_numpy() for key in keys]
            # at the response unit a population's score is its item's: rank it over items
            groups = (
                np.unique(paired["item"].to_numpy(), return_inverse=True)[1] if unit == "response" else None
            )
            shared_ci = spearman_with_shared_ci(
                paired["model_score"].to_numpy(), targets, resamples, rng, groups=groups
            )
            for key, result in zip(keys, shared_ci, strict=True):
                scores[(key, unit)] = (*result, paired.height)
    rows = [
        (model, family, language, seed, level, group, unit, *scores[((level, group), unit)])
        for level, group in populations
        for unit in units
    ]
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
    resamples: int = 200,
    resample_repeats: int = 50,
    consistency_seed: int = 0,
) -> pl.DataFrame:
    """Agreement of a model with itself across prompt paraphrases, measured like the survey's ceiling.

    Per repeat and item, two distinct responses (two different prompts) are drawn; their polarities
    are correlated across items (Pearson), and `consistency` is the mean over repeats. Its interval
    is a sampling interval: a bootstrap that resamples each item's responses (the prompts are
    sampled item by item) and recomputes the mean from `resample_repeats` pairs per resample. A
    response is never paired with itself or its resampled copy. Also the mean number of statements
    that take a side per response, for the judge-reliability correction."""
    rng = random_stream(consistency_seed, model, language, seed, "consistency")
    scored = polarity.filter(pl.col("pro_score").is_not_null())
    items = [
        (scores, None)
        for _, responses in scored.group_by("item", maintain_order=True)
        if (scores := responses["pro_score"].to_numpy()).size >= 2
    ]
    summary = disjoint_sample_consistency(
        items, 1, repeats, resamples, resample_repeats, rng, "bootstrap over responses"
    )
    # how many statements take a side in one polarity score: what the judge's reliability scales with
    stances = float((scored["pro"] + scored["con"]).mean()) if scored.height else None
    return pl.DataFrame(
        [{"model": model, "language": language, "seed": seed} | summary | {"stances_per_response": stances}],
        schema=CONSISTENCY_SCHEMA,
    )


def filtering_counts(judged: pl.DataFrame, *, model: str, language: str, seed: int) -> pl.DataFrame:
    """Responses kept and filtered out (wrong language, malformed, failed) in one (model, language, seed),
    and how many addressed their judge (a count across statuses, not a status: those responses were
    judged, kept or filtered as any other; null for a judged table written before the flag)."""
    responses = judged.unique("prompt_id")
    statuses = responses.get_column("status")
    counts = {status: int((statuses == status).sum()) for status in STATUSES}
    total = len(statuses)
    flagged = int(responses["addresses_judge"].sum()) if "addresses_judge" in responses.columns else None
    return pl.DataFrame(
        [
            {"model": model, "language": language, "seed": seed, "responses": total}
            | counts
            | {f"{status}_rate": counts[status] / total if total else None for status in STATUSES}
            | {"addresses_judge": flagged}
        ],
        schema_overrides={"addresses_judge": pl.Int64},
    )


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
