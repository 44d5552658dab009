from fractions import Fraction

import numpy as np
import polars as pl
import pyreadstat
import pytest

from culturalign.items import select_items
from culturalign.stats import disjoint_draws
from culturalign.survey import (
    SurveyError,
    ground_truth,
    ingest_survey,
    read_survey,
    survey_consistency,
    validate_aggregated,
)

HAND_ITEMS = ["d059", "c001_01", "f118", "e035", "f028"]


def write(frame: pl.DataFrame, path):
    """Write hand-built microdata in the format the suffix names."""
    suffix = path.suffix
    if suffix == ".sav":
        pyreadstat.write_sav(frame.to_pandas(), str(path))
    elif suffix == ".dta":
        # Stata files from other tools often carry lower-case names.
        pyreadstat.write_dta(frame.rename(str.lower).to_pandas(), str(path))
    else:
        frame.write_csv(path)
    return path


def truth_of(tmp_path, frame, *, suffix=".sav", countries=("DK", "US"), **options):
    path = write(frame, tmp_path / f"survey{suffix}")
    items = select_items(pytest.items_bank, HAND_ITEMS)
    respondents = ingest_survey(path, items, countries=list(countries), **options)
    return ground_truth(respondents, list(countries))


@pytest.fixture(autouse=True)
def _item_bank(items):
    pytest.items_bank = items


def score(truth, level, group, item):
    row = truth.filter((pl.col("level") == level) & (pl.col("group") == group) & (pl.col("item") == item))
    assert row.height == 1, (level, group, item)
    return row.row(0, named=True)


# (level, group, item) -> weighted affirmative fraction, worked out by hand from conftest.hand_built.
EXPECTED = {
    ("country", "DK", "d059"): Fraction(3, 7),  # 4-point, 1-2: r1 (2) and r4 (1) of 2+4+1
    ("country", "DK", "c001_01"): Fraction(6, 8),  # 5-point, 1-2: r2 (4), r3 (2); r4 missing
    ("country", "DK", "f118"): Fraction(4, 8),  # 10-point, 6-10: r1, r3; r4 not asked (-4)
    ("country", "DK", "e035"): Fraction(4, 9),  # e035 inverted, 1-5: r1 (answer 5) and r3
    ("country", "DK", "f028"): Fraction(3, 9),  # 8-point attendance, 1-4: r1 (4) and r4 (1)
    ("country", "US", "d059"): Fraction(3, 4),
    ("country", "US", "c001_01"): Fraction(1, 5),
    ("country", "US", "f118"): Fraction(2, 5),
    ("country", "US", "e035"): Fraction(3, 4),
    ("country", "US", "f028"): Fraction(1, 2),
    ("language", "da", "d059"): Fraction(2, 6),
    ("language", "en", "d059"): Fraction(1, 2),  # r4 and r5; r7 (en_US) missing
    ("language", "en", "f118"): Fraction(2, 2),  # r5 and r7 (en_US counts as en)
    ("language", "es", "d059"): Fraction(1, 1),
    ("global", "global", "d059"): Fraction(6, 11),
    ("global", "global", "e035"): Fraction(7, 13),  # r1, r3, r6 of all answers but r5
}


@pytest.mark.parametrize("suffix", [".sav", ".dta", ".csv"])
def test_weighted_proportions_are_exact(tmp_path, hand_built, suffix):
    truth = truth_of(tmp_path, hand_built, suffix=suffix)
    for (level, group, item), expected in EXPECTED.items():
        assert score(truth, level, group, item)["pro_score"] == pytest.approx(float(expected), abs=1e-12)
    assert score(truth, "country", "DK", "d059")["n"] == 3
    assert score(truth, "country", "DK", "d059")["weight_sum"] == pytest.approx(7.0)
    assert score(truth, "global", "global", "f118")["n"] == 6


def test_levels_and_columns(tmp_path, hand_built):
    truth = truth_of(tmp_path, hand_built)
    assert truth.columns == ["level", "group", "item", "pro_score", "n", "weight_sum"]
    groups = truth.select("level", "group").unique().sort("level", "group").rows()
    assert groups == [
        ("country", "DK"),
        ("country", "US"),
        ("global", "global"),
        ("language", "da"),
        ("language", "en"),
        ("language", "es"),
    ]
    # The only Spanish interview (r6) did not answer f028: a group with no answers is left out.
    assert truth.height == 6 * len(HAND_ITEMS) - 1
    assert truth.filter((pl.col("group") == "es") & (pl.col("item") == "f028")).is_empty()


def test_unweighted(tmp_path, hand_built):
    truth = truth_of(tmp_path, hand_built, weights=[])
    assert score(truth, "country", "DK", "d059")["pro_score"] == pytest.approx(2 / 3)
    assert score(truth, "global", "global", "d059")["pro_score"] == pytest.approx(3 / 5)


def test_pooled_levels_can_be_limited_to_configured_countries(tmp_path, hand_built):
    truth = truth_of(tmp_path, hand_built, countries=["DK"], pooled_levels="configured_countries")
    assert score(truth, "global", "global", "d059")["pro_score"] == pytest.approx(3 / 7)
    assert set(truth.filter(pl.col("level") == "country")["group"]) == {"DK"}
    pooled = truth_of(tmp_path, hand_built, countries=["DK"])
    assert score(pooled, "global", "global", "d059")["pro_score"] == pytest.approx(6 / 11)


def test_variable_names_match_case_insensitively(tmp_path, hand_built):
    path = write(hand_built.rename({"D059": "d059", "cntry_AN": "CNTRY_AN"}), tmp_path / "mixed.sav")
    frame = read_survey(path, ["cntry_an", "D059"])
    assert frame.columns == ["cntry_an", "d059"]
    assert frame["d059"].to_list() == [1, 4, -1, 2, 3, 1, -2]


def test_missing_values_are_null_not_nan(tmp_path, hand_built):
    path = write(hand_built.with_columns(pl.lit(None, pl.Float64).alias("F118")), tmp_path / "nan.sav")
    frame = read_survey(path, ["f118"])
    assert frame["f118"].null_count() == frame.height
    assert frame["f118"].is_nan().sum() == 0


def test_missing_variables_named(tmp_path, hand_built):
    with pytest.raises(SurveyError) as error:
        truth_of(tmp_path, hand_built.drop("F118", "pwght"))
    assert str(tmp_path / "survey.sav") in str(error.value)
    assert "pwght" in str(error.value) and "f118" in str(error.value)


def test_missing_file_named(tmp_path):
    with pytest.raises(SurveyError, match=r"nowhere\.sav: survey file not found"):
        read_survey(tmp_path / "nowhere.sav", ["f118"])
    with pytest.raises(SurveyError, match="unsupported survey format"):
        read_survey(tmp_path / "survey.xlsx", ["f118"])


def test_scale_mismatch_named(tmp_path, hand_built):
    wrong = hand_built.with_columns(pl.Series("D059", [1.0, 7.0, 2.0, 3.0, 9.0, 1.0, 2.0]))
    with pytest.raises(SurveyError, match=r"survey\.sav: .*D059 \(answers up to 9, item scale is 1-4\)"):
        truth_of(tmp_path, wrong)


def test_country_without_respondents_named(tmp_path, hand_built):
    with pytest.raises(SurveyError, match=r"survey\.sav: no respondents for configured countries PT"):
        truth_of(tmp_path, hand_built, countries=["DK", "US", "PT"])


def test_missing_weights_are_an_error(tmp_path, hand_built):
    holes = hand_built.with_columns(pl.Series("gwght", [1.0, None, 1.0, 1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(SurveyError, match="GWGHT is missing or negative for 1 respondents"):
        truth_of(tmp_path, holes)


def test_aggregated_table_passes_through_validated(items):
    table = pl.DataFrame(
        {
            "level": ["country", "global"],
            "group": ["DK", "global"],
            "item": ["F118", "f120"],
            "pro_score": [0.9, 0.6],
        }
    )
    truth = validate_aggregated(table, items, "agg.csv")
    assert truth.columns == ["level", "group", "item", "pro_score", "n", "weight_sum"]
    assert truth["item"].to_list() == ["f118", "f120"]
    broken = table.with_columns(pl.Series("level", ["nation", "global"]), pl.Series("pro_score", [1.5, 0.6]))
    with pytest.raises(SurveyError, match=r"agg\.csv: level must be one of .*'nation'.*pro_score outside"):
        validate_aggregated(broken, items, "agg.csv")
    with pytest.raises(SurveyError, match="lacks columns pro_score"):
        validate_aggregated(table.drop("pro_score"), items, "agg.csv")


def test_disjoint_draws_are_disjoint_and_seeded():
    rng = np.random.default_rng(3)
    draws = disjoint_draws(25, 10, 500, rng)
    assert draws.shape == (500, 20)
    assert all(len(set(row)) == 20 for row in draws.tolist())
    assert draws.min() >= 0 and draws.max() < 25
    again = disjoint_draws(25, 10, 500, np.random.default_rng(3))
    assert (draws == again).all()
    with pytest.raises(ValueError):
        disjoint_draws(19, 10, 1, rng)


@pytest.mark.parametrize("n", [40, 5000])
def test_weighted_draws_follow_the_weights(n):
    weights = np.where(np.arange(n) < n // 2, 3.0, 1.0)
    draws = disjoint_draws(n, 5, 4000, np.random.default_rng(8), weights=weights)
    assert all(len(set(row)) == 10 for row in draws.tolist())
    # Each draw takes the heavy half with probability 3/4, a little less once some are taken.
    assert 0.68 < (draws < n // 2).mean() < 0.76
    with pytest.raises(ValueError):
        disjoint_draws(n, 5, 1, np.random.default_rng(8), weights=np.r_[np.ones(9), np.zeros(n - 9)])


def simulated_population(probabilities, n, rng, country="XX"):
    """Unweighted respondents answering independently with the given affirmative probabilities."""
    answers = rng.random((n, len(probabilities))) < probabilities
    return pl.DataFrame(
        {"country": [country] * n, "language": ["xx"] * n, "weight": np.ones(n)}
        | {f"i{j}": answers[:, j] for j in range(len(probabilities))}
    )


def test_consistency_recovers_the_reliability_of_k_person_samples():
    rng = np.random.default_rng(11)
    probabilities = np.linspace(0.05, 0.95, 60)
    respondents = simulated_population(probabilities, 3000, rng)
    k = 10
    realised = respondents.select(pl.col(f"i{j}").mean() for j in range(60)).row(0)
    realised = np.array(realised)
    # Two k-samples estimate p_i with independent noise of variance p_i (1 - p_i) / k, so their
    # correlation across items is var(p) / (var(p) + mean(p (1 - p)) / k).
    expected = realised.var() / (realised.var() + (realised * (1 - realised)).mean() / k)
    result = survey_consistency(respondents, ["XX"], k=k, repeats=400, seed=1)
    country = result.filter(pl.col("level") == "country").row(0, named=True)
    assert country["consistency"] == pytest.approx(expected, abs=0.03)
    assert country["ci_low"] < country["consistency"] < country["ci_high"]
    assert country["draw_low"] < country["ci_low"] and country["draw_high"] > country["ci_high"]
    assert country["n_items"] == 60 and country["repeats"] == 400 and country["k"] == k


def test_consistency_is_zero_without_item_differences_and_near_one_with_large_samples():
    rng = np.random.default_rng(12)
    flat = simulated_population(np.full(40, 0.5), 2000, rng)
    assert abs(survey_consistency(flat, ["XX"], k=10, repeats=300)["consistency"][0]) < 0.05
    spread = simulated_population(np.linspace(0.05, 0.95, 40), 2000, rng)
    assert survey_consistency(spread, ["XX"], k=500, repeats=50)["consistency"][0] > 0.97


def test_consistency_is_seeded_per_population():
    rng = np.random.default_rng(13)
    probabilities = np.linspace(0.1, 0.9, 30)
    one = simulated_population(probabilities, 400, rng, "AA")
    two = pl.concat([one, simulated_population(probabilities, 400, rng, "BB")])
    alone = survey_consistency(one, ["AA"], repeats=50, seed=4)
    together = survey_consistency(two, ["AA", "BB"], repeats=50, seed=4)
    aa = together.filter((pl.col("level") == "country") & (pl.col("group") == "AA"))
    assert aa["consistency"][0] == alone.filter(pl.col("level") == "country")["consistency"][0]
    other_seed = survey_consistency(one, ["AA"], repeats=50, seed=5)
    assert other_seed["consistency"][0] != alone["consistency"][0]
