"""Statistics shared by the stages: seeded random streams, disjoint draws, row-wise correlations,
vectorised bootstrap confidence intervals."""

import warnings
import zlib
from statistics import NormalDist

import numpy as np
import polars as pl

# Columns of `disjoint_sample_consistency`, for the survey's and the models' consistency tables.
REPEAT_SUMMARY_SCHEMA = {
    "consistency": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "interval": pl.String,
    "draw_low": pl.Float64,
    "draw_high": pl.Float64,
    "n_items": pl.Int64,
    "repeats": pl.Int64,
    "resamples": pl.Int64,
}
# Values equal to this many decimals are ties. A polarity computed as pro / (pro + con) in one path
# and read from a released table in another differ in the last bits, and must rank alike.
TIE_DECIMALS = 9
# Bounds the (resamples x observations) count matrix of a bootstrap over a large population.
_COUNTS_PER_CHUNK = 1 << 22


def random_stream(seed: int, *names: object) -> np.random.Generator:
    """A generator for one named unit of work (a population, a model-language-seed, ...).

    Each unit has its own stream, so adding a model, language or country never changes the draws
    of another."""
    return np.random.default_rng([seed, zlib.crc32("/".join(map(str, names)).encode())])


def disjoint_draws(
    n: int, k: int, repeats: int, rng: np.random.Generator, weights: np.ndarray | None = None
) -> np.ndarray:
    """`repeats` rows of 2k distinct indices below n: columns [:k] and [k:] are disjoint samples.

    With `weights`, each draw picks an index with probability proportional to its weight (redrawn
    when it was already picked), so that a sample represents a weighted population. With a matrix
    of weights, one row per bootstrap resample (an observation's weight times how often the
    resample drew it), the draws are (resamples, repeats, 2k) and an index is an original
    observation: a sample never holds an observation twice, nor two samples one observation and
    its resampled copy."""
    rows = np.ones((1, n)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    eligible = int((rows > 0).sum(axis=1).min())
    if eligible < 2 * k:
        raise ValueError(f"cannot draw two disjoint samples of {k} from {eligible}")
    if n <= 32 * k:
        # Small populations: the 2k smallest of exponential keys scaled by 1 / weight per row
        # (sequential weighted sampling without replacement), the k smallest the first sample.
        with np.errstate(divide="ignore"):  # weight 0, left out of a resample: never drawn
            keys = rng.exponential(size=(rows.shape[0], repeats, n)) / rows[:, None, :]
        draws = np.argpartition(keys, (k - 1, 2 * k - 1), axis=-1)[..., : 2 * k]
    else:
        draws = _redrawn_draws(rows, k, repeats, rng)
    return draws if np.ndim(weights) == 2 else draws[0]


def _redrawn_draws(rows: np.ndarray, k: int, repeats: int, rng: np.random.Generator) -> np.ndarray:
    """`disjoint_draws` from a large population, for every row of weights at once: with
    replacement, redrawing only the repeats that picked someone twice (rare), without ever
    materialising a row of n keys."""
    resamples, n = rows.shape
    # Row b's cumulative weights scaled to [2b, 2b + 1], so that one search serves every row.
    cumulative = np.cumsum(rows, axis=1)
    cumulative /= cumulative[:, -1:]
    cumulative += 2 * np.arange(resamples)[:, None]
    flat, weight = cumulative.ravel(), rows.ravel()
    row = np.repeat(np.arange(resamples), repeats)[:, None]

    def draw(pending: np.ndarray) -> np.ndarray:
        # 2b + (0, 1], searched from the left: the first index of row b whose cumulative weight
        # reaches it, never one of weight 0 (but by rounding, and then redrawn).
        targets = 2 * row[pending] + (1 - rng.random((pending.size, 2 * k)))
        # Searched in ascending order, successive searches stay close: several times faster.
        order = np.argsort(targets, axis=None)
        found = np.empty(targets.size, dtype=np.intp)
        found[order] = np.searchsorted(flat, targets.ravel()[order], side="left")
        return found.reshape(targets.shape)

    pending = np.arange(row.size)
    draws = draw(pending)
    while pending.size:
        ordered = np.sort(draws[pending], axis=1)
        clash = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1) | (weight[ordered] == 0).any(axis=1)
        pending = pending[clash]
        draws[pending] = draw(pending)
    return (draws - row * n).reshape(resamples, repeats, 2 * k)


def rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of a with the same row of b, over the positions where both
    are defined (not NaN); NaN where a row is constant or has fewer than 3 such positions."""
    missing = np.isnan(a) | np.isnan(b)
    defined = (~missing).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN, as documented
        a = np.where(missing, np.nan, a)
        b = np.where(missing, np.nan, b)
        a = a - np.nanmean(a, axis=1, keepdims=True)
        b = b - np.nanmean(b, axis=1, keepdims=True)
        correlation = np.nansum(a * b, axis=1) / np.sqrt(np.nansum(a * a, axis=1) * np.nansum(b * b, axis=1))
    return np.where(defined >= 3, correlation, np.nan)


def rowwise_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks within each row, ties (values equal to TIE_DECIMALS decimals) sharing their average
    rank (as scipy.stats.rankdata); NaN stays NaN.

    NaN marks a value missing from its row (an item absent from a bootstrap resample): the others
    are ranked among themselves, never below it. One sort of all rows at once (importing
    scipy.stats costs a rule script more than a second)."""
    rounded = np.round(np.asarray(values, dtype=float), TIE_DECIMALS)
    order = np.argsort(rounded, axis=1, kind="stable")  # NaN sorts last
    ordered = np.take_along_axis(rounded, order, axis=1)
    columns = ordered.shape[1]
    position = np.broadcast_to(np.arange(1, columns + 1, dtype=float), ordered.shape)
    starts = np.ones(ordered.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones(ordered.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, position, columns + 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(ordered.shape)
    np.put_along_axis(ranks, order, (first + last) / 2, axis=1)
    ranks[np.isnan(rounded)] = np.nan
    return ranks


def rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of a with the same row of b."""
    return rowwise_pearson(rowwise_ranks(a), rowwise_ranks(b))


def resample_counts(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of n observations is drawn in each of `resamples` bootstrap resamples
    (n draws with replacement each), as a float matrix (resamples x n)."""
    draws = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)


def resampled_ranks(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Average ranks of `values` within each resample, where `counts[b, r]` is how often
    observation r was drawn in resample b: ties (to TIE_DECIMALS decimals), including an
    observation drawn twice, share their average rank. Works on the distinct values, so it costs
    O(B x distinct) per resample rather than a sort of every resample."""
    distinct, position = np.unique(np.round(values, TIE_DECIMALS), return_inverse=True)
    per_value = counts @ (position[:, None] == np.arange(distinct.size)[None, :])
    below = np.cumsum(per_value, axis=1) - per_value
    return (below + (per_value + 1) / 2)[:, position]


def spearman_with_ci(
    x: np.ndarray, y: np.ndarray, resamples: int, rng: np.random.Generator, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Spearman's rho of paired samples and its percentile bootstrap CI over resampled pairs."""
    return spearman_with_shared_ci(x, [y], resamples, rng, confidence)[0]


def spearman_with_shared_ci(
    x: np.ndarray,
    ys: list[np.ndarray],
    resamples: int,
    rng: np.random.Generator,
    confidence: float = 0.95,
    groups: np.ndarray | None = None,
) -> list[tuple[float, float, float]]:
    """Spearman's rho of x with each y (paired samples) and its percentile bootstrap CI over
    resampled pairs, one set of resamples for all: x's resampled ranks are computed once.

    `groups`: when every y is constant within groups of pairs (a population's score is its item's
    for every response), each pair's group index; y is then ranked over the groups' resampled
    counts, which costs O(B x groups) instead of O(B x pairs x distinct values).
    Each resample is a vector of draw counts; ranks and correlations of all resamples are computed
    at once. Resamples in which one side is constant have no correlation and are left out of the
    interval. NaN throughout when fewer than 3 pairs or a constant side."""
    x = np.asarray(x, dtype=float)
    undefined = (np.nan, np.nan, np.nan)
    if x.size < 3:
        return [undefined] * len(ys)
    counts = resample_counts(x.size, resamples, rng)
    # the observed sample is the resample that draws every pair once
    weights = np.vstack([np.ones(x.size), counts])
    middle = (x.size + 1) / 2  # the mean rank of every resample
    rank_x = resampled_ranks(x, weights) - middle
    weighted_x = weights * rank_x
    spread_x = np.einsum("ij,ij->i", weighted_x, rank_x)
    if groups is not None:
        first = np.unique(groups, return_index=True)[1]
        onehot = groups[:, None] == np.arange(first.size)[None, :]
        # sums over a group's pairs, so that each y is handled per group only
        weights, weighted_x = weights @ onehot, weighted_x @ onehot
    results = []
    for y in ys:
        y = np.asarray(y, dtype=float)
        rank_y = resampled_ranks(y if groups is None else y[first], weights) - middle
        with np.errstate(invalid="ignore", divide="ignore"):
            correlations = np.einsum("ij,ij->i", weighted_x, rank_y) / np.sqrt(
                spread_x * np.einsum("ij,ij->i", weights, rank_y**2)
            )
        if not np.isfinite(correlations[0]):
            results.append(undefined)
            continue
        results.append((float(correlations[0]), *percentile_ci(correlations[1:], confidence)))
    return results


def percentile_ci(replicates: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates, over the defined ones (a resample can lose
    what a statistic needs); NaN when none is defined."""
    finite = np.asarray(replicates, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return (np.nan, np.nan)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return (float(low), float(high))


def disjoint_sample_consistency(
    items: list[tuple[np.ndarray, np.ndarray | None]],
    k: int,
    repeats: int,
    resamples: int,
    resample_repeats: int,
    rng: np.random.Generator,
    interval: str,
) -> dict:
    """Agreement across items of two disjoint samples of k observations, as `summarise_repeats`.

    `items` holds each item's observed values and their weights (None: equal), at least 2k
    values each. Per repeat, two disjoint samples are drawn from every item and their means are
    correlated across items (Pearson). The interval resamples each item's observations (the
    sampling units `interval` names) and recomputes the mean correlation on every resample from
    `resample_repeats` draws."""
    if len(items) < 3:
        return summarise_repeats(np.array([]), np.empty((0, 0)), interval) | {"n_items": len(items)}
    point = np.stack(
        [_sample_means(values, disjoint_draws(values.size, k, repeats, rng, w), k) for values, w in items],
        axis=-1,
    )
    resampled = np.stack(
        [resampled_sample_means(values, k, resample_repeats, resamples, rng, w) for values, w in items],
        axis=-1,
    ).reshape(2, resamples * resample_repeats, len(items))
    replicates = rowwise_pearson(resampled[0], resampled[1]).reshape(resamples, resample_repeats)
    summary = summarise_repeats(rowwise_pearson(point[0], point[1]), replicates, interval)
    return summary | {"n_items": len(items)}


def resampled_sample_means(
    values: np.ndarray,
    k: int,
    repeats: int,
    resamples: int,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """The means of two disjoint samples of k `values` (`disjoint_draws`) in `repeats` draws from
    each of `resamples` bootstrap resamples of the observations: an array (2, resamples, repeats).

    The two samples hold different original observations, never one and its resampled copy
    (which would agree with itself). NaN in a resample that keeps fewer than 2k observations of
    positive weight: like an item with too few observations, it cannot give two samples."""
    n = values.size
    means = np.full((2, resamples, repeats), np.nan)
    step = max(1, _COUNTS_PER_CHUNK // n)
    for start in range(0, resamples, step):
        counts = resample_counts(n, min(step, resamples - start), rng)
        if weights is not None:
            counts *= weights
        defined = np.flatnonzero((counts > 0).sum(axis=1) >= 2 * k)
        if defined.size:
            draws = disjoint_draws(n, k, repeats, rng, weights=counts[defined])
            means[:, start + defined] = _sample_means(values, draws, k)
    return means


def _sample_means(values: np.ndarray, draws: np.ndarray, k: int) -> np.ndarray:
    """The means of `values` over the first and the second k indices of each draw, stacked."""
    drawn = values[draws]
    return np.stack([drawn[..., :k].mean(axis=-1), drawn[..., k:].mean(axis=-1)])


def summarise_repeats(
    correlations: np.ndarray, replicates: np.ndarray, interval: str, confidence: float = 0.95
) -> dict:
    """A self-consistency from repeated paired draws.

    `consistency`: the mean of the draws' correlations on the data. `ci_low`/`ci_high`: a sampling
    interval over the units `interval` names, not the Monte Carlo error of the repeats: normal,
    with the estimate's variance over bootstrap resamples (`replicates`: resamples x draws, the
    statistic recomputed on each resample; NaN where a draw has no correlation) plus its own Monte
    Carlo variance. `draw_low`/`draw_high`: the middle of single draws (how far one paired draw may
    fall from the mean). Empty below 2 defined draws."""
    correlations = correlations[np.isfinite(correlations)]
    if correlations.size < 2:
        return {
            "consistency": None,
            "ci_low": None,
            "ci_high": None,
            "interval": None,
            "draw_low": None,
            "draw_high": None,
            "repeats": int(correlations.size),
            "resamples": None,
        }
    mean = float(correlations.mean())
    variance = _resampled_variance(replicates) + correlations.var(ddof=1) / correlations.size
    half_width = NormalDist().inv_cdf(0.5 + confidence / 2) * np.sqrt(variance)
    tail = 100 * (1 - confidence) / 2
    draw_low, draw_high = np.percentile(correlations, [tail, 100 - tail])
    defined = bool(np.isfinite(half_width))
    return {
        "consistency": mean,
        # a correlation's bounds, which a normal interval near them would cross
        "ci_low": max(mean - half_width, -1.0) if defined else None,
        "ci_high": min(mean + half_width, 1.0) if defined else None,
        "interval": interval,
        "draw_low": float(draw_low),
        "draw_high": float(draw_high),
        "repeats": int(correlations.size),
        "resamples": int(replicates.shape[0]),
    }


def _resampled_variance(replicates: np.ndarray) -> float:
    """The variance over bootstrap resamples of the statistic with unlimited draws: the variance of
    the resamples' mean correlations less its Monte Carlo part, the variance of a resample's draws
    over their number (one-way analysis of variance with the resamples as groups). A resample's few
    draws thus cost no width. NaN with fewer than 2 resamples of 2 defined draws."""
    defined = np.isfinite(replicates)
    count = defined.sum(axis=1)
    usable = count >= 2
    if usable.sum() < 2:
        return np.nan
    defined, count = defined[usable], count[usable]
    values = np.where(defined, replicates[usable], 0.0)
    means = values.sum(axis=1) / count
    deviations = np.where(defined, values - means[:, None], 0.0)
    within = (deviations**2).sum(axis=1) / (count - 1)
    return max(float(means.var(ddof=1) - (within / count).mean()), 0.0)
