"""The same data give the same result whether they are generated and judged here or imported as
released polarity scores."""

import numpy as np
import polars as pl
import pytest
from scipy import stats

from culturalign.alignment import model_consistency
from culturalign.reanalysis import imported_polarity
from culturalign.stats import resample_counts, resampled_ranks, rowwise_spearman, spearman_with_ci


def test_values_equal_but_for_rounding_are_ties_in_every_ranking():
    # An item's polarity as the mean of its two released response scores, (0.2 + 0.4) / 2, is
    # 0.30000000000000004; computed from their statements, 6 / 20, it is 0.3, which another item has.
    imported = np.array([(0.2 + 0.4) / 2, 0.3, 0.6, 0.9, 0.15, 0.45, 0.7])
    computed = np.array([6 / 20, 0.3, 0.6, 0.9, 0.15, 0.45, 0.7])
    population = np.array([0.5, 0.2, 0.4, 0.8, 0.1, 0.3, 0.6])
    assert imported[0] != computed[0]
    # ranked as they are, the two differ
    assert stats.spearmanr(imported, population).statistic != stats.spearmanr(computed, population).statistic
    rho = rowwise_spearman(imported[None, :], population[None, :])[0]
    assert rho == rowwise_spearman(computed[None, :], population[None, :])[0]
    assert rho == pytest.approx(stats.spearmanr(computed, population).statistic)
    with_ci = [spearman_with_ci(x, population, 500, np.random.default_rng(0)) for x in (imported, computed)]
    assert with_ci[0] == with_ci[1]
    counts = resample_counts(imported.size, 200, np.random.default_rng(1))
    assert (resampled_ranks(imported, counts) == resampled_ranks(computed, counts)).all()


def test_an_imported_run_keeps_only_the_scored_items_for_its_self_consistency():
    scored = ["c001_01", "e035", "f118", "f120"]
    responses = [(item, score) for item in [*scored, "e028"] for score in (0.1, 0.5, 0.8, 0.4)]
    table = pl.DataFrame(
        {
            "model": "m",
            "family": "f",
            "language": "da",
            "seed": 0,
            "response_language": "da",
            "prompt_id": [str(i) for i in range(len(responses))],
            "item": [item for item, _ in responses],
            "pro_score": [score + 0.05 * (item == "e028") for item, score in responses],
        }
    )
    polarity = imported_polarity(table, "m", "da", 0, scored_items=set(scored))
    assert sorted(polarity["item"].unique()) == scored
    consistency = model_consistency(polarity, model="m", language="da", seed=0, resamples=100)
    assert consistency["n_items"][0] == len(scored)
