import copy

import polars as pl
import pyreadstat
import pytest
import yaml

from conftest import REPO
from culturalign.config import ConfigError, add_uniform_baseline, apply_schema, check_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def validated(config, items):
    config = apply_schema(copy.deepcopy(config), SCHEMA, "study.yaml")
    check_config(config, items, REPO / "resources", "study.yaml")
    return config


def test_shipped_default_is_valid_and_filled_with_defaults(items, monkeypatch):
    monkeypatch.chdir(REPO)
    config = validated(yaml.safe_load((REPO / "config.yaml").read_text()), items)
    assert config["survey"]["weights"] == ["gwght", "pwght"]
    assert config["survey"]["consistency"] == {"k": 10, "repeats": 200, "resamples": 200, "seed": 0}
    assert config["items"] == "scored"
    assert set(config["models"]) == {"uniform", "native", "half-native", "us-leaning"}
    # the survey decides each language's native countries
    assert config["regression"]["rq2"]["native_countries"] == {}
    assert config["alignment"] == {"units": ["topic", "response"], "bootstrap": 1000, "seed": 0}
    assert config["judging"]["min_statements"] == 5


def synthetic(**extra):
    return {"survey": {"synthetic": {"enabled": True}}} | extra


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (synthetic(colour="red"), r"\(top level\): Additional properties are not allowed \('colour'"),
        (
            {"survey": {"synthetic": {"enabled": True}, "weight": ["w"]}},
            r"survey: Additional properties .*'weight' was unexpected.*allowed keys: path",
        ),
        (synthetic(seeds=[0, "one"]), r"seeds\[1\]: 'one' is not of type 'integer'"),
        (synthetic(prompts_per_seed=0), r"prompts_per_seed: 0 is less than the minimum of 1"),
        (
            synthetic(models={"gem": {"backend": "gemini", "model": "g"}}),
            r"models\.gem\.backend: 'gemini' is not one of the backends \['openai', 'simulated', 'vllm'\]",
        ),
        (
            synthetic(models={"sim": {"backend": "simulated"}}),
            r"models\.sim: 'respondent' is a required property",
        ),
        (
            synthetic(models={"gpt": {"backend": "openai"}}),
            r"models\.gpt: 'model' is a required property",
        ),
        (synthetic(models={"a/b": {"backend": "vllm", "model": "x"}}), r"models: 'a/b' does not match"),
    ],
)
def test_schema_errors_name_file_and_key(items, config, message):
    with pytest.raises(ConfigError, match=r"study\.yaml: invalid configuration:\n(.|\n)*" + message):
        validated(config, items)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"survey": {"synthetic": {"enabled": True}, "countries": ["DNK", "dk", "XX"]}},
            r"survey\.countries: the synthetic survey has no interview languages for "
            r"DNK \(did you mean DK\?\), dk \(did you mean DK\?\), XX; it covers AR, AU",
        ),
        (synthetic(languages=["da", "xx"]), r"languages\[1\]: 'xx' is not an ISO 639-1 language code"),
        (synthetic(items=["f118", "f119", "f120"]), r"items: unknown item keys \['f119'\]"),
        (
            synthetic(models={"o": {"backend": "simulated", "respondent": "population", "population": "SE"}}),
            r"models\.o: population .SE. is neither one of survey\.countries",
        ),
        (synthetic(judges={"primary": "nobody"}), r"judges\.primary: 'nobody' is not a model slug"),
        (
            synthetic(
                judges={"primary": "sim"}, models={"sim": {"backend": "simulated", "respondent": "uniform"}}
            ),
            r"judges\.primary: 'sim' has backend 'simulated'; it must be one of \['openai', 'vllm'\]",
        ),
        (synthetic(judges={"secondary": ["x"]}), r"judges\.secondary: secondary judges need a primary judge"),
        (
            synthetic(regression={"rq1": {"consistency": "corrected"}}),
            r"regression\.rq1\.consistency: 'corrected' needs judges\.secondary",
        ),
        (
            {"survey": {"synthetic": {"enabled": True}, "countries": ["DK", "ZW"]}},
            r"survey\.countries: the synthetic survey has no interview languages for ZW;",
        ),
        ({"survey": {"path": "nowhere.sav"}}, r"survey\.path: file nowhere\.sav not found"),
        (
            {"survey": {"aggregated": "agg.xlsx"}},
            r"survey\.aggregated: agg\.xlsx must be a \.csv or \.parquet",
        ),
        (synthetic(survey={"ceiling": "nowhere.csv"}), r"survey\.ceiling: file nowhere\.csv not found"),
    ],
)
def test_semantic_errors_name_file_and_key(items, tmp_path, monkeypatch, config, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"study\.yaml: invalid configuration:\n(.|\n)*" + message):
        validated(config, items)


def test_survey_variables_are_checked_before_any_job(items, tmp_path, monkeypatch, hand_built):
    monkeypatch.chdir(tmp_path)
    hand_built.drop("pwght").write_csv(tmp_path / "survey.csv")
    config = {"survey": {"path": "survey.csv", "countries": ["DK"]}, "items": ["d059", "f118", "f120"]}
    with pytest.raises(ConfigError, match=r"survey\.path: survey\.csv lacks variables pwght, f120"):
        validated(config, items)
    config["survey"]["weights"] = ["gwght"]
    config["items"] = ["d059", "f118", "e035"]
    assert validated(config, items)["survey"]["weights"] == ["gwght"]


def aggregated(tmp_path, countries, item_keys=("d059", "f118", "f120")) -> dict:
    """A released ground truth with NIR beside GB, items the study does not use and extra columns."""
    rows = [
        {"level": "country", "group": group, "item": key, "pro_score": 0.5, "wave": 7}
        for group in ["GB", "NIR", "DK", "US"]
        for key in [*item_keys, "a001", "x999"]
    ]
    pl.DataFrame(rows).write_csv(tmp_path / "released.csv")
    return {
        "survey": {"aggregated": "released.csv", "countries": countries},
        "items": ["d059", "f118", "f120"],
    }


def test_country_codes_as_the_survey_spells_them(items, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert validated(aggregated(tmp_path, ["GB", "NIR"]), items)["survey"]["countries"] == ["GB", "NIR"]
    with pytest.raises(ConfigError) as error:
        validated(aggregated(tmp_path, ["GB", "DNK", "ie", "NI"]), items)
    assert (
        "survey.aggregated: released.csv: no rows for configured countries DNK (did you mean DK?), "
        "ie (did you mean IE?), NI (survey.countries); countries in the table: DK, GB, NIR, US"
    ) in str(error.value)


def test_aggregated_table_lacking_a_study_item_fails_before_any_job(items, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = aggregated(tmp_path, ["GB"], item_keys=("d059",))
    with pytest.raises(ConfigError, match=r"released\.csv: no rows for items the study needs: f118, f120"):
        validated(config, items)


def test_ceiling_table_is_checked(items, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = aggregated(tmp_path, ["GB", "NIR"])
    config["survey"]["ceiling"] = "ceiling.csv"
    pl.DataFrame({"group": ["GB", "NIR", "global"], "consistency": [0.7, 0.6, 0.8]}).write_csv("ceiling.csv")
    assert validated(config, items)["survey"]["ceiling"] == "ceiling.csv"
    pl.DataFrame({"country": ["GB"], "consistency": [1.7]}).write_csv("ceiling.csv")
    with pytest.raises(
        ConfigError, match=r"survey\.ceiling: ceiling\.csv: ceiling table lacks columns group"
    ):
        validated(config, items)


def test_damaged_survey_file_is_named_before_any_job(items, tmp_path, monkeypatch, hand_built):
    monkeypatch.chdir(tmp_path)
    pyreadstat.write_sav(hand_built.to_pandas(), "whole.sav")
    (tmp_path / "survey.sav").write_bytes((tmp_path / "whole.sav").read_bytes()[:100])
    config = {"survey": {"path": "survey.sav", "countries": ["DK"]}, "items": ["d059", "f118", "e035"]}
    with pytest.raises(
        ConfigError, match=r"survey\.path: survey\.sav: the survey file cannot be read; it looks trunc"
    ):
        validated(config, items)


def test_a_study_of_real_models_gets_a_free_uniform_baseline(items, monkeypatch):
    monkeypatch.chdir(REPO)
    real = {"backend": "openai", "model": "gpt-4o", "base_url": "http://127.0.0.1:1/v1"}
    # the synthetic survey: the demo's file exists only once the main job has run
    config = apply_schema(
        {"models": {"gpt-4o": real}, "survey": {"synthetic": {"enabled": True}}}, SCHEMA, "study.yaml"
    )
    assert add_uniform_baseline(config) == "uniform"
    assert config["models"]["uniform"] == {"backend": "simulated", "respondent": "uniform"}
    validated(config, items)  # the reference is a model now; no error names it
    # a study that has a uniform respondent under another name, or imports its models, gets none
    named = apply_schema({"models": {"coin": {"backend": "simulated", "respondent": "uniform"}}}, SCHEMA, "s")
    assert add_uniform_baseline(named) is None and list(named["models"]) == ["coin"]
    assert add_uniform_baseline(apply_schema({}, SCHEMA, "s")) is None
    judges_only = {
        "models": {"guard": real | {"evaluate": False}},
        "safety": {"completions_import": [{"path": "x.csv", "format": "xstest"}]},
    }
    assert add_uniform_baseline(apply_schema(judges_only, SCHEMA, "s")) is None
