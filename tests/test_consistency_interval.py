"""Known answers for the self-consistency interval: a sampling interval over responses (models) and
respondents (the survey's ceiling), which covers the true value where the Monte Carlo error of the
repeats, the interval it replaces, does not."""

import numpy as np
import polars as pl
import pytest

from culturalign.alignment import model_consistency
from culturalign.stats import disjoint_draws, resampled_sample_means, rowwise_pearson
from culturalign.survey import survey_consistency

ITEMS = 20


def true_consistency(probabilities, size, rng, pairs=100_000):
    """The expected correlation across items of two independent answers per item, each the share
    of `size` binomial trials: what one run's self-consistency estimates."""
    first = rng.binomial(size, probabilities, size=(pairs, probabilities.size)) / size
    second = rng.binomial(size, probabilities, size=(pairs, probabilities.size)) / size
    return float(rowwise_pearson(first, second).mean())


def monte_carlo_interval(per_item, k, repeats, rng):
    """The interval the self-consistency used to report: the 95 % CI of the mean over repeats of
    the paired draws, as if the responses were fixed."""
    drawn = [values[disjoint_draws(values.size, k, repeats, rng)] for values in per_item]
    first = np.column_stack([draws[:, :k].mean(axis=1) for draws in drawn])
    second = np.column_stack([draws[:, k:].mean(axis=1) for draws in drawn])
    correlations = rowwise_pearson(first, second)
    half_width = 1.96 * correlations.std(ddof=1) / np.sqrt(repeats)
    return correlations.mean() - half_width, correlations.mean() + half_width


def simulated_run(probabilities, responses, rng):
    """A run's polarity: `responses` per item, each describing 10 people for or against."""
    pro = rng.binomial(10, probabilities, size=(responses, probabilities.size)).T.ravel()
    return pl.DataFrame(
        {
            "prompt_id": [str(i) for i in range(pro.size)],
            "item": [f"i{item:02d}" for item in range(probabilities.size) for _ in range(responses)],
            "pro": pro.astype(float),
            "con": 10.0 - pro,
            "pro_score": pro / 10,
        }
    )


def covers(low, high, value):
    return low <= value <= high


def test_model_interval_covers_the_true_self_consistency_where_the_monte_carlo_interval_does_not():
    probabilities = np.linspace(0.15, 0.85, ITEMS)
    truth = true_consistency(probabilities, 10, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    new, old, widths = [], [], []
    for run in range(100):
        polarity = simulated_run(probabilities, 8, rng)
        row = model_consistency(polarity, model="m", language="xx", seed=run, repeats=100, resamples=200).row(
            0, named=True
        )
        assert row["interval"] == "bootstrap over responses" and row["resamples"] == 200
        new.append(covers(row["ci_low"], row["ci_high"], truth))
        widths.append(row["ci_high"] - row["ci_low"])
        per_item = [frame["pro_score"].to_numpy() for frame in polarity.partition_by("item")]
        low, high = monte_carlo_interval(per_item, 1, 100, rng)
        old.append(covers(low, high, truth))
    assert np.mean(new) >= 0.9
    assert np.mean(old) <= 0.6
    # a sampling SD of about 0.04-0.05: an interval about 0.16-0.2 wide
    assert 0.12 < np.mean(widths) < 0.25


def test_survey_interval_covers_the_true_ceiling_where_the_monte_carlo_interval_does_not():
    probabilities = np.linspace(0.1, 0.9, ITEMS)
    # five people per answer and sixty respondents: the sampling error is several times the Monte
    # Carlo error of 200 repeats
    k, size = 5, 60
    truth = true_consistency(probabilities, k, np.random.default_rng(2))
    rng = np.random.default_rng(3)
    new, old = [], []
    for run in range(80):
        answers = rng.random((size, ITEMS)) < probabilities
        # no configured country and no interview language: the global population only
        respondents = pl.DataFrame(
            {"country": ["XX"] * size, "language": [None] * size, "weight": np.ones(size)}
            | {f"i{item:02d}": answers[:, item] for item in range(ITEMS)},
            schema_overrides={"language": pl.String},
        )
        row = survey_consistency(
            respondents, [], k=k, repeats=200, resamples=100, resample_repeats=20, seed=run
        ).row(0, named=True)
        assert row["level"] == "global" and row["interval"] == "bootstrap over respondents"
        new.append(covers(row["ci_low"], row["ci_high"], truth))
        low, high = monte_carlo_interval(list(answers.T.astype(float)), k, 200, rng)
        old.append(covers(low, high, truth))
    assert np.mean(new) >= 0.9
    assert np.mean(old) <= 0.6


def test_resampled_pairs_never_hold_a_response_and_its_copy():
    # Every response has its own value, so a pair's two values are equal only if one response was
    # paired with its resampled copy, which would agree with itself.
    rng = np.random.default_rng(4)
    means = resampled_sample_means(np.arange(6.0), 1, 100, 500, rng)
    assert means.shape == (2, 500, 100)
    assert (means[0] != means[1]).all()
    # Of two responses, a resample holds both in half the cases; the others have no pair to draw.
    pairs = resampled_sample_means(np.arange(2.0), 1, 10, 1000, rng)
    undefined = np.isnan(pairs[0]).all(axis=1)
    assert 0.45 < undefined.mean() < 0.55
    assert (pairs[0][~undefined] != pairs[1][~undefined]).all()


@pytest.mark.parametrize("n", [30, 2000])
def test_draws_from_resamples_take_distinct_observations_the_resample_holds(n):
    rng = np.random.default_rng(5)
    # each observation's count in 50 resamples: the first half drawn twice, the rest once, and
    # five left out of every resample
    counts = np.where(np.arange(n) < n // 2, 2.0, 1.0) * np.ones((50, 1))
    counts[:, -5:] = 0
    draws = disjoint_draws(n, 3, 400, rng, weights=counts)
    assert draws.shape == (50, 400, 6)
    ordered = np.sort(draws, axis=-1)
    assert (ordered[..., 1:] != ordered[..., :-1]).all()
    assert (draws < n - 5).all()
    # twice the count, twice as likely to be picked; a little less once some of them are taken
    heavy, light = 2 * (n // 2), n - n // 2 - 5
    share = heavy / (heavy + light)
    assert share - 0.04 < (draws < n // 2).mean() < share + 0.01
