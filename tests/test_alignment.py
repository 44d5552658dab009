import numpy as np
import polars as pl
import pytest
from scipy import stats

from culturalign.alignment import alignment, filtering_counts, item_polarity, model_consistency
from culturalign.polarity import response_polarity
from culturalign.stats import random_stream, rowwise_ranks, spearman_with_ci


def test_ranks_match_scipy_with_ties():
    values = np.random.default_rng(0).integers(0, 4, size=(50, 30)).astype(float)
    assert np.array_equal(rowwise_ranks(values), stats.rankdata(values, axis=1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spearman_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, size=25).astype(float)  # with ties
    y = x + rng.normal(0, 2, size=25)
    rho, _, _ = spearman_with_ci(x, y, 200, random_stream(0, "t"))
    assert rho == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_bootstrap_ci_matches_scipy():
    rng = np.random.default_rng(7)
    x = rng.normal(size=40)
    y = 0.5 * x + rng.normal(size=40)
    _, low, high = spearman_with_ci(x, y, 5000, random_stream(1, "ci"))
    reference = stats.bootstrap(
        (x, y),
        lambda a, b: stats.spearmanr(a, b).statistic,
        paired=True,
        vectorized=False,
        n_resamples=5000,
        method="percentile",
        random_state=np.random.default_rng(2),
    ).confidence_interval
    assert low == pytest.approx(reference.low, abs=0.04)
    assert high == pytest.approx(reference.high, abs=0.04)
    again = spearman_with_ci(x, y, 5000, random_stream(1, "ci"))
    assert again == (pytest.approx(spearman_with_ci(x, y, 5000, random_stream(1, "ci"))[0]), low, high)


def test_spearman_undefined_for_too_few_or_constant():
    assert all(np.isnan(spearman_with_ci(np.ones(2), np.ones(2), 100, random_stream(0))))
    assert all(np.isnan(spearman_with_ci(np.ones(10), np.arange(10.0), 100, random_stream(0))))


def judged_rows(responses):
    """responses: prompt_id -> (item, labels, status)"""
    rows = []
    for prompt_id, (item, labels, status) in responses.items():
        for index, label in enumerate(labels, start=1):
            rows.append((prompt_id, item, index, f"s{index}", label, "da", status == "kept", status))
    schema = [
        "prompt_id",
        "item",
        "statement_idx",
        "statement",
        "label",
        "response_language",
        "valid",
        "status",
    ]
    return pl.DataFrame(rows, schema=schema, orient="row")


def test_polarity_counts_pro_and_con_only():
    judged = judged_rows(
        {
            "a": ("f118", ["pro", "pro", "con", "null"], "kept"),
            "b": ("f118", ["null", "null"], "kept"),
            "c": ("f120", ["con", "con"], "wrong_language"),
        }
    )
    polarity = response_polarity(judged)
    assert polarity.columns == ["prompt_id", "item", "pro", "con", "null", "pro_score"]
    assert polarity.rows() == [("a", "f118", 2, 1, 1, pytest.approx(2 / 3)), ("b", "f118", 0, 0, 2, None)]


def population(scores):
    return pl.DataFrame(
        [("country", "DK", item, score) for item, score in scores.items()],
        schema=["level", "group", "item", "pro_score"],
        orient="row",
    )


def test_alignment_units_and_perfect_order():
    truth = population({f"i{j}": j / 10 for j in range(8)})
    polarity = pl.DataFrame(
        {
            "prompt_id": [f"p{j}{r}" for j in range(8) for r in range(3)],
            "item": [f"i{j}" for j in range(8) for _ in range(3)],
            "pro": [j + r for j in range(8) for r in range(3)],
            "con": [10 - j for j in range(8) for _ in range(3)],
            "null": 0,
        }
    ).with_columns((pl.col("pro") / (pl.col("pro") + pl.col("con"))).alias("pro_score"))
    result = alignment(polarity, truth, model="m", family="f", language="da", seed=0, resamples=200)
    topic = result.filter(pl.col("unit") == "topic").row(0, named=True)
    assert topic["spearman"] == pytest.approx(1.0) and topic["n"] == 8
    response = result.filter(pl.col("unit") == "response").row(0, named=True)
    assert response["n"] == 24
    assert response["spearman"] == pytest.approx(
        stats.spearmanr(polarity["pro_score"], [j / 10 for j in range(8) for _ in range(3)]).statistic
    )
    assert item_polarity(polarity).sort("item")["model_score"][0] == pytest.approx(3 / 33)


def test_self_consistency_never_pairs_a_response_with_itself():
    one_each = pl.DataFrame(
        {"prompt_id": ["a", "b", "c"], "item": ["x", "y", "z"], "pro_score": [0.1, 0.5, 0.9]}
    ).with_columns(pro=pl.col("pro_score") * 10, con=10 - pl.col("pro_score") * 10)
    lonely = model_consistency(one_each, model="m", language="da", seed=0)
    assert lonely["n_items"][0] == 0 and lonely["consistency"][0] is None
    assert lonely["stances_per_response"][0] == pytest.approx(10)
    twins = pl.DataFrame(
        {
            "prompt_id": [f"{item}{r}" for item in "abcdef" for r in range(2)],
            "item": [item for item in "abcdef" for _ in range(2)],
            "pro_score": [score for score in [0.1, 0.3, 0.2, 0.9, 0.6, 0.5] for _ in range(2)],
        }
    ).with_columns(pro=pl.col("pro_score") * 8, con=8 - pl.col("pro_score") * 8)
    perfect = model_consistency(twins, model="m", language="da", seed=0, repeats=50).row(0, named=True)
    assert perfect["consistency"] == pytest.approx(1.0) and perfect["n_items"] == 6


def test_filtering_counts():
    judged = judged_rows(
        {
            "a": ("f118", ["pro", "con"], "kept"),
            "b": ("f118", [None], "malformed"),
            "c": ("f118", ["pro"], "wrong_language"),
            "d": ("f118", ["pro"], "kept"),
        }
    )
    counts = filtering_counts(judged, model="m", language="da", seed=1).row(0, named=True)
    assert counts["responses"] == 4 and counts["kept"] == 2 and counts["malformed"] == 1
    assert counts["wrong_language_rate"] == 0.25 and counts["error"] == 0
