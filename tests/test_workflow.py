"""The real DAG, run by Snakemake in temporary study folders, as a user runs it."""

import shutil

import polars as pl
import pytest

from conftest import TEST_STUDIES, example_study, snakemake

SMALL_DEMO = example_study("small_demo")


@pytest.fixture(scope="module")
def demo_study(tmp_path_factory):
    study = tmp_path_factory.mktemp("study")
    result = snakemake(study, config=SMALL_DEMO)
    assert result.returncode == 0, result.stderr[-3000:]
    return study


def test_demo_runs_from_another_directory(demo_study):
    assert (demo_study / "data" / "survey.sav").is_file()
    truth = pl.read_parquet(demo_study / "results" / "survey" / "ground_truth.parquet")
    assert truth.columns == ["level", "group", "item", "pro_score", "n", "weight_sum"]
    assert set(truth.filter(pl.col("level") == "country")["group"]) == {"US", "DK", "PT", "BR"}
    assert {"en", "es", "da", "pt"} == set(truth.filter(pl.col("level") == "language")["group"])
    assert truth.filter(pl.col("level") == "global").height == 32
    assert truth["pro_score"].is_between(0, 1).all()
    consistency = pl.read_parquet(demo_study / "results" / "survey" / "consistency.parquet")
    assert consistency.select("level", "group", "consistency").columns == ["level", "group", "consistency"]
    assert consistency["consistency"].is_between(0.3, 1).all()
    assert consistency["repeats"].to_list() == [40] * consistency.height
    assert (demo_study / "logs" / "survey" / "respondents.log").read_text().count("respondents") >= 1


def test_rerun_with_nothing_changed_runs_nothing(demo_study):
    result = snakemake(demo_study, "--dry-run")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_same_config_same_bytes(demo_study, tmp_path):
    result = snakemake(tmp_path, config=SMALL_DEMO)
    assert result.returncode == 0, result.stderr[-3000:]
    for relative in [
        "data/survey.sav",
        "results/survey/ground_truth.parquet",
        "results/survey/consistency.parquet",
    ]:
        assert (tmp_path / relative).read_bytes() == (demo_study / relative).read_bytes(), relative


def test_bad_config_fails_before_any_job(tmp_path):
    config = SMALL_DEMO | {"languages": ["en", "klingon"], "models": {"x": {"backend": "gemini"}}}
    result = snakemake(tmp_path, config=config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "config.yaml: invalid configuration" in output
    assert "models.x.backend: 'gemini' is not one of" in output
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()


def test_real_survey_file_with_missing_variables_fails_before_any_job(tmp_path, hand_built):
    hand_built.drop("F118").write_csv(tmp_path / "wvs.csv")
    config = {"survey": {"path": "wvs.csv", "countries": ["DK", "US"]}, "items": ["d059", "f118", "e035"]}
    result = snakemake(tmp_path, config=config)
    assert result.returncode != 0
    assert "survey.path: wvs.csv lacks variables f118" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_aggregated_table_replaces_microdata(tmp_path):
    # As released: NIR beside GB, an item the study does not use, a column beyond the contract.
    pl.DataFrame(
        {
            "level": ["country"] * 8,
            "group": ["NIR", "US"] * 4,
            "item": ["f118", "f118", "f120", "f120", "f121", "f121", "x001", "x001"],
            "pro_score": [0.9, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1],
            "wave": [7] * 8,
        }
    ).write_csv(tmp_path / "agg.csv")
    config = {
        "survey": {"aggregated": "agg.csv", "countries": ["NIR", "US"]},
        "items": ["f118", "f120", "f121"],
    }
    result = snakemake(tmp_path, config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    truth = pl.read_parquet(tmp_path / "results" / "survey" / "ground_truth.parquet")
    assert truth.filter(pl.col("item") == "f118").select("group", "pro_score").rows() == [
        ("NIR", 0.9),
        ("US", 0.7),
    ]
    assert set(truth["item"]) == {"f118", "f120", "f121"}
    assert (
        "ignoring 1 items the study does not use: x001"
        in (tmp_path / "logs" / "survey" / "aggregated_ground_truth.log").read_text()
    )
    assert pl.read_parquet(tmp_path / "results" / "survey" / "consistency.parquet").is_empty()
    # A released ceiling table gives the survey's own consistency back.
    pl.DataFrame({"group": ["NIR", "US"], "consistency": [0.6, 0.7]}).write_csv(tmp_path / "ceiling.csv")
    config["survey"]["ceiling"] = "ceiling.csv"
    result = snakemake(tmp_path, config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    ceiling = pl.read_parquet(tmp_path / "results" / "survey" / "consistency.parquet")
    assert ceiling.select("level", "group", "consistency").rows() == [
        ("country", "NIR", 0.6),
        ("country", "US", 0.7),
    ]


def test_scale_mismatch_in_a_real_file_names_file_and_variable(tmp_path, hand_built):
    hand_built.with_columns(pl.col("D059") * 3).write_csv(tmp_path / "wvs.csv")
    config = {"survey": {"path": "wvs.csv", "countries": ["DK", "US"]}, "items": ["d059", "f118", "e035"]}
    result = snakemake(tmp_path, config=config)
    assert result.returncode != 0
    log = (tmp_path / "logs" / "survey" / "respondents.log").read_text()
    assert (
        "wvs.csv: variables on another scale" in log and "D059 (answers up to 12, item scale is 1-4)" in log
    )


@pytest.mark.parametrize("name", sorted(path.stem for path in TEST_STUDIES.glob("*.yaml")))
def test_every_test_study_is_a_runnable_example(name, tmp_path):
    shutil.copy(TEST_STUDIES / f"{name}.yaml", tmp_path / "config.yaml")
    for data in TEST_STUDIES.glob("*.csv"):  # the data files a study names beside it
        shutil.copy(data, tmp_path)
    result = snakemake(tmp_path, "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Job stats:" in result.stdout
