import numpy as np
import polars as pl
import pytest

from culturalign.items import select_items
from culturalign.survey import ground_truth, ingest_survey, read_survey
from culturalign.synthetic_survey import (
    CULTURAL_ZONES,
    MISSING_CODES,
    country_probabilities,
    synthetic_microdata,
    write_sav,
)

COUNTRIES = ["US", "GB", "CA", "AU", "NZ", "DK", "NL", "PT", "BR"]


@pytest.fixture(scope="module")
def demo(items, tmp_path_factory):
    microdata = synthetic_microdata(items, COUNTRIES, 1500, seed=0)
    path = tmp_path_factory.mktemp("synthetic") / "survey.sav"
    write_sav(microdata, path, items)
    return microdata, path


def test_round_trips_through_the_survey_reader(items, demo):
    microdata, path = demo
    back = read_survey(path, microdata.columns)
    assert back.columns == [column.lower() for column in microdata.columns]
    assert back.height == microdata.height
    for column in microdata.columns:
        assert back[column.lower()].to_list() == microdata[column].to_list(), column


def test_has_the_shape_of_the_joint_file(items, demo):
    microdata, _ = demo
    for variable in ["cntry_AN", "lnge_iso", "gwght", "pwght", "S003", "F118", "E069_02", "C001_01"]:
        assert variable in microdata.columns
    assert set(microdata["cntry_AN"]) == set(COUNTRIES)
    assert set(microdata.filter(pl.col("cntry_AN") == "DK")["lnge_iso"]) == {"da"}
    assert set(microdata.filter(pl.col("cntry_AN") == "CA")["lnge_iso"]) == {"en", "fr"}
    for key, item in items.items():
        answers = microdata[item.variable]
        valid = answers.filter(answers > 0)
        assert valid.min() >= 1 and valid.max() == item.scale_max, key
        missing_rate = (answers < 0).mean()
        assert 0.003 < missing_rate < 0.1, key
    codes = set(np.unique(microdata.select(items[k].variable for k in items).to_numpy()))
    assert set(MISSING_CODES) <= codes


def test_ground_truth_recovers_the_designed_probabilities(items, demo):
    _, path = demo
    scored = select_items(items, "scored")
    truth = ground_truth(ingest_survey(path, scored, countries=COUNTRIES), COUNTRIES)
    design = country_probabilities(items, COUNTRIES, seed=0).rename({"country": "group"})
    joined = truth.filter(pl.col("level") == "country").join(design, on=["group", "item"])
    assert joined.height == len(COUNTRIES) * len(scored)
    # Within four standard errors (design effect of the weights about 1.1) for all 288 scores.
    standard_error = (pl.col("probability") * (1 - pl.col("probability")) * 1.2 / pl.col("n")).sqrt()
    outside = joined.filter((pl.col("pro_score") - pl.col("probability")).abs() > 4 * standard_error)
    assert outside.is_empty(), outside


def test_countries_correlate_like_real_ones(items):
    design = country_probabilities(items, COUNTRIES, seed=0)
    wide = design.pivot(on="country", index="item", values="probability").select(COUNTRIES).to_numpy()
    correlation = np.corrcoef(wide.T)
    pairs = [(a, b) for a in range(len(COUNTRIES)) for b in range(a + 1, len(COUNTRIES))]
    values = np.array([correlation[a, b] for a, b in pairs])
    assert np.mean((values >= 0.7) & (values <= 0.95)) >= 0.8
    same_zone = [CULTURAL_ZONES[COUNTRIES[a]] == CULTURAL_ZONES[COUNTRIES[b]] for a, b in pairs]
    assert values[same_zone].mean() > values[~np.array(same_zone)].mean() + 0.05


def test_same_seed_same_bytes(items, tmp_path):
    paths = []
    for name, seed in [("a", 3), ("b", 3), ("c", 4)]:
        path = tmp_path / f"{name}.sav"
        write_sav(synthetic_microdata(items, ["DK", "US"], 50, seed=seed), path, items)
        paths.append(path.read_bytes())
    assert paths[0] == paths[1]
    assert paths[0] != paths[2]


def test_a_country_profile_does_not_depend_on_the_others(items):
    alone = country_probabilities(items, ["DK"], seed=2)
    with_others = country_probabilities(items, ["US", "DK", "PT"], seed=2).filter(pl.col("country") == "DK")
    assert alone.equals(with_others)
