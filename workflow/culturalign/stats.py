"""Statistics shared by the stages: seeded random streams, disjoint draws, row-wise correlations,
vectorised bootstrap confidence intervals."""

import zlib

import numpy as np
import polars as pl

# Columns of `summarise_repeats`, for the survey's and the models' consistency tables.
REPEAT_SUMMARY_SCHEMA = {
    "consistency": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "draw_low": pl.Float64,
    "draw_high": pl.Float64,
    "n_items": pl.Int64,
    "repeats": pl.Int64,
}


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
    when it was already picked), so that a sample represents a weighted population."""
    eligible = n if weights is None else int((weights > 0).sum())
    if eligible < 2 * k:
        raise ValueError(f"cannot draw two disjoint samples of {k} from {eligible}")
    if n <= 32 * k:
        # Small populations: the 2k smallest of random keys per row; with weights these are
        # exponential keys scaled by 1 / weight (sequential weighted sampling without replacement).
        keys = rng.random((repeats, n)) if weights is None else rng.exponential(size=(repeats, n)) / weights
        return np.argsort(keys, axis=1)[:, : 2 * k]
    cumulative = None if weights is None else np.cumsum(weights)

    def draw(rows: int) -> np.ndarray:
        if cumulative is None:
            return rng.integers(0, n, size=(rows, 2 * k))
        return np.searchsorted(cumulative, rng.random((rows, 2 * k)) * cumulative[-1], side="right")

    # Large populations: draw with replacement and redraw only the rows that picked someone twice,
    # without ever materialising a row of n keys.
    draws = draw(repeats)
    while True:
        ordered = np.sort(draws, axis=1)
        clash = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not clash.any():
            return draws
        draws[clash] = draw(int(clash.sum()))


def rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of a with the same row of b (NaN where a row is constant)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def rowwise_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks within each row, ties sharing their average rank (as scipy.stats.rankdata).

    Polars ranks every row at once, and is already loaded: importing scipy.stats costs a rule
    script more than a second."""
    columns = pl.DataFrame(values.T, schema=[f"r{i}" for i in range(values.shape[0])])
    return columns.select(pl.all().rank("average")).to_numpy().T


def rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of a with the same row of b."""
    return rowwise_pearson(rowwise_ranks(a), rowwise_ranks(b))


def resample_counts(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of n observations is drawn in each of `resamples` bootstrap resamples
    (n draws with replacement each), as a float matrix (resamples x n)."""
    draws = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)


def _resampled_ranks(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Average ranks of `values` within each resample, where `counts[b, r]` is how often
    observation r was drawn in resample b: ties, including an observation drawn twice, share
    their average rank. Works on the distinct values, so it costs O(B x distinct) per resample
    rather than a sort of every resample."""
    distinct, position = np.unique(values, return_inverse=True)
    per_value = counts @ (position[:, None] == np.arange(distinct.size)[None, :])
    below = np.cumsum(per_value, axis=1) - per_value
    return (below + (per_value + 1) / 2)[:, position]


def spearman_with_ci(
    x: np.ndarray, y: np.ndarray, resamples: int, rng: np.random.Generator, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Spearman's rho of paired samples and its percentile bootstrap CI over resampled pairs.

    Each resample is a vector of draw counts; ranks and correlations of all resamples are computed
    at once. Resamples in which one side is constant have no correlation and are left out of the
    interval. NaN throughout when fewer than 3 pairs or a constant side."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 3:
        return (np.nan, np.nan, np.nan)
    rho = rowwise_spearman(x[None, :], y[None, :])[0]
    if not np.isfinite(rho):
        return (np.nan, np.nan, np.nan)
    counts = resample_counts(x.size, resamples, rng)
    middle = (x.size + 1) / 2  # the mean rank of every resample
    rank_x = _resampled_ranks(x, counts) - middle
    rank_y = _resampled_ranks(y, counts) - middle
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = (counts * rank_x * rank_y).sum(axis=1) / np.sqrt(
            (counts * rank_x**2).sum(axis=1) * (counts * rank_y**2).sum(axis=1)
        )
    return (float(rho), *percentile_ci(replicates, confidence))


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


def summarise_repeats(correlations: np.ndarray) -> dict:
    """Mean of repeated correlations with the 95 % CI of the mean and the middle 95 % of repeats."""
    correlations = correlations[np.isfinite(correlations)]
    if correlations.size < 2:
        return {
            "consistency": None,
            "ci_low": None,
            "ci_high": None,
            "draw_low": None,
            "draw_high": None,
            "repeats": int(correlations.size),
        }
    mean = float(correlations.mean())
    half_width = 1.96 * float(correlations.std(ddof=1)) / np.sqrt(correlations.size)
    draw_low, draw_high = np.percentile(correlations, [2.5, 97.5])
    return {
        "consistency": mean,
        "ci_low": mean - half_width,
        "ci_high": mean + half_width,
        "draw_low": float(draw_low),
        "draw_high": float(draw_high),
        "repeats": int(correlations.size),
    }
