from fractions import Fraction

import numpy as np
import polars as pl
import pyreadstat
import pytest

from culturalign.items import select_items
from culturalign.stats import disjoint_draws
from culturalign.survey import (
    SurveyError,
    empty_consistency,
    ground_truth,
    ingest_survey,
    interview_shares,
    known_interview_shares,
    native_countries,
    native_mapping,
    read_survey,
    survey_columns,
    survey_consistency,
)
from culturalign.survey_tables import read_ceiling, validate_aggregated

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


def test_aggregated_table_passes_through_validated():
    table = pl.DataFrame(
        {
            "level": ["country", "global"],
            "group": ["DK", "global"],
            "item": ["F118", "f120"],
            "pro_score": [0.9, 0.6],
        }
    )
    truth = validate_aggregated(table, ["f118", "f120"], "agg.csv")
    assert truth.columns == ["level", "group", "item", "pro_score", "n", "weight_sum"]
    assert truth["item"].to_list() == ["f118", "f120"]
    broken = table.with_columns(pl.Series("level", ["nation", "global"]), pl.Series("pro_score", [1.5, 0.6]))
    with pytest.raises(SurveyError, match=r"agg\.csv: level must be one of .*'nation'.*pro_score outside"):
        validate_aggregated(broken, ["f118", "f120"], "agg.csv")
    with pytest.raises(SurveyError, match="lacks columns pro_score"):
        validate_aggregated(table.drop("pro_score"), ["f118", "f120"], "agg.csv")


def released_table(items, countries=("US", "GB", "NIR", "DK")) -> pl.DataFrame:
    """A released ground truth as it comes: 80 WVS variables beyond the item bank, columns beyond
    the contract, and a US without scores on c001_01 and c002_01."""
    variables = [*items, *(f"x{index:03d}" for index in range(80))]
    rows = [
        {"level": "country", "group": country, "item": variable.upper(), "pro_score": 0.5, "n": 1000}
        for country in countries
        for variable in variables
        if not (country == "US" and variable in ("c001_01", "c002_01"))
    ]
    rows += [
        {"level": "global", "group": "global", "item": variable, "pro_score": 0.5} for variable in variables
    ]
    return pl.DataFrame(rows).with_columns(pl.lit("wave 7").alias("wave"), pl.lit(0.01).alias("std_err"))


def test_released_aggregated_table_keeps_the_study_items(caplog):
    study = ["c001_01", "c002_01", "f118", "f120"]
    with caplog.at_level("INFO", logger="culturalign"):
        truth = validate_aggregated(released_table(study), study, "released.csv", ["US", "NIR"])
    assert truth.columns == ["level", "group", "item", "pro_score", "n", "weight_sum"]
    assert sorted(truth["item"].unique()) == study
    assert truth.filter(pl.col("group") == "US")["item"].sort().to_list() == ["f118", "f120"]
    assert set(truth.filter(pl.col("level") == "country")["group"]) == {"US", "GB", "NIR", "DK"}
    log = caplog.text
    assert log.count("ignoring 80 items the study does not use: x000, x001") == 1
    assert "ignoring columns the ground truth does not use: wave, std_err" in log
    assert "country US has no score for c001_01, c002_01" in log


def test_aggregated_table_lacking_a_study_item_or_country_is_named():
    table = released_table(["f118", "f120"])
    with pytest.raises(SurveyError, match=r"released\.csv: no rows for items the study needs: e035, f121"):
        validate_aggregated(table, ["e035", "f118", "f120", "f121"], "released.csv")
    # A re-analysis keeps every bank item the table has and needs none: the imported table decides.
    kept = validate_aggregated(table, ["e035", "f118", "f120", "f121"], "released.csv", required=[])
    assert sorted(kept["item"].unique()) == ["f118", "f120"]
    with pytest.raises(SurveyError) as error:
        validate_aggregated(table, ["f118", "f120"], "released.csv", ["DNK", "PT", "NIR"])
    message = str(error.value)
    assert message.startswith("released.csv: no rows for configured countries DNK (did you mean DK?), PT ")
    assert "countries in the table: DK, GB, NIR, US" in message


def test_ceiling_table_becomes_the_consistency_table(tmp_path, caplog):
    path = tmp_path / "ceiling.csv"
    pl.DataFrame(
        {"group": ["US", "NIR", "NA", "da", "global", "ZZ"], "consistency": [0.7, 0.6, 0.5, 0.65, 0.8, 0.1]}
    ).write_csv(path)
    with caplog.at_level("INFO", logger="culturalign"):
        ceiling = read_ceiling(path, ["US", "NIR", "NA", "DK"], ["en", "da"])
    assert ceiling.columns[:3] == ["level", "group", "consistency"]
    assert ceiling.schema == empty_consistency().schema  # the computed table's columns, the rest null
    assert ceiling.select("level", "group", "consistency").rows() == [
        ("country", "NA", 0.5),  # Namibia, not a missing value
        ("country", "NIR", 0.6),
        ("country", "US", 0.7),
        ("language", "da", 0.65),
        ("global", "global", 0.8),
    ]
    assert ceiling["ci_low"].null_count() == ceiling.height
    assert "ignoring groups that are no configured country or language: ['ZZ']" in caplog.text
    assert "no ceiling for configured countries DK" in caplog.text
    levelled = tmp_path / "levelled.parquet"
    pl.DataFrame(
        {"level": ["country"], "group": ["DE"], "consistency": [0.6], "ci_low": [0.5]}
    ).write_parquet(levelled)
    assert read_ceiling(levelled, ["US"], ["en"]).select("level", "group", "ci_low").rows() == [
        ("country", "DE", 0.5)
    ]
    pl.DataFrame({"group": ["US"], "ceiling": [0.7]}).write_csv(path)
    with pytest.raises(SurveyError, match=r"ceiling\.csv: ceiling table lacks columns consistency"):
        read_ceiling(path, ["US"], ["en"])


def test_non_iso_country_codes_in_the_data_are_populations(tmp_path, hand_built):
    northern_ireland = hand_built.with_columns(pl.col("cntry_AN").replace("DK", "NIR"))
    truth = truth_of(tmp_path, northern_ireland, countries=("NIR", "US"))
    assert score(truth, "country", "NIR", "d059")["pro_score"] == pytest.approx(3 / 7)


def test_country_absent_from_the_file_gets_a_hint(tmp_path, hand_built):
    with pytest.raises(SurveyError) as error:
        truth_of(tmp_path, hand_built, countries=("DNK", "us", "NIR"))
    message = str(error.value)
    assert str(tmp_path / "survey.sav") in message
    assert (
        "no respondents for configured countries DNK (did you mean DK?), us (did you mean US?), NIR "
        in message
    )
    assert message.endswith("countries in the file: DK, US")
    # A file of alpha-3 codes (WVS's B_COUNTRY_ALPHA): the hint is the code the file holds.
    with pytest.raises(SurveyError, match=r"configured countries DK \(did you mean DNK\?\)"):
        truth_of(tmp_path, hand_built.with_columns(pl.col("cntry_AN").replace({"DK": "DNK", "US": "USA"})))


def test_truncated_sav_is_named(tmp_path, hand_built):
    whole = write(pl.concat([hand_built] * 50), tmp_path / "whole.sav")
    data = whole.read_bytes()
    truncated = tmp_path / "truncated.sav"
    truncated.write_bytes(data[: len(data) - 400])
    # The variable names are in the header: what fails is reading the data.
    assert "D059" in survey_columns(truncated)
    with pytest.raises(
        SurveyError, match=r"truncated\.sav: the survey file cannot be read; it looks truncated or damaged"
    ):
        read_survey(truncated, ["d059"])
    header_only = tmp_path / "header.sav"
    header_only.write_bytes(data[:100])
    with pytest.raises(
        SurveyError, match=r"header\.sav: the survey file cannot be read; it looks truncated or damaged"
    ):
        survey_columns(header_only)


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
    assert abs(survey_consistency(flat, ["XX"], k=10, repeats=300, resamples=20)["consistency"][0]) < 0.05
    spread = simulated_population(np.linspace(0.05, 0.95, 40), 2000, rng)
    assert survey_consistency(spread, ["XX"], k=500, repeats=50, resamples=20)["consistency"][0] > 0.97


def test_consistency_is_seeded_per_population():
    rng = np.random.default_rng(13)
    probabilities = np.linspace(0.1, 0.9, 30)
    one = simulated_population(probabilities, 400, rng, "AA")
    two = pl.concat([one, simulated_population(probabilities, 400, rng, "BB")])
    alone = survey_consistency(one, ["AA"], repeats=50, resamples=20, seed=4)
    together = survey_consistency(two, ["AA", "BB"], repeats=50, resamples=20, seed=4)
    aa = together.filter((pl.col("level") == "country") & (pl.col("group") == "AA"))
    assert aa["consistency"][0] == alone.filter(pl.col("level") == "country")["consistency"][0]
    other_seed = survey_consistency(one, ["AA"], repeats=50, resamples=20, seed=5)
    assert other_seed["consistency"][0] != alone["consistency"][0]


def test_native_countries_follow_the_interview_language_unless_configured():
    """Known answer: ES and MX interview mostly in Spanish, the US partly (not native: it is the
    comparison), CA mostly in English; Danish is configured, Korean is in no country."""
    languages = {
        "US": ["en"] * 9 + ["es"],
        "ES": ["es"] * 9 + ["ca"],
        "MX": ["es"] * 5,
        "CA": ["en"] * 7 + ["fr"] * 3,
    }
    respondents = pl.DataFrame(
        [
            {"country": country, "language": language}
            for country, spoken in languages.items()
            for language in spoken
        ]
    )
    table = native_countries(
        interview_shares(respondents), ["es", "fr", "da", "ko"], {"da": ["DK", "NO"]}, "survey"
    )
    assert native_mapping(table) == {"da": ["DK", "NO"], "es": ["ES", "MX"]}
    assert dict(table.select("language", "source").unique().iter_rows()) == {"da": "config", "es": "survey"}
    # an aggregated survey has no interview languages: the countries known to interview mostly in it
    known = native_countries(
        known_interview_shares(["US", "DK", "BR", "PT", "CA"]), ["pt", "da", "fr"], {}, "known"
    )
    assert native_mapping(known) == {"da": ["DK"], "pt": ["BR", "PT"]}
