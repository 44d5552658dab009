"""Known answers in the languages where sovereign models are built, on the real DAG: each
language's native respondent aligns with the survey's population interviewed in it, the uniform
one with nothing, RQ2 finds the planted US lean against native countries the survey itself names,
a refusal gap planted in Swahili comes back (and none elsewhere), MultiJail's prompts are paired
with English in the languages it has, the language-specific attacks run
where they are written, the report labels the languages the project wrote, and a language added
later plans only its own jobs."""

import re
import shutil

import polars as pl
import pytest

from conftest import TEST_STUDIES, example_study, snakemake

CONFIG = example_study("sovereign_languages")
LANGUAGES = CONFIG["languages"]
NATIVE_COUNTRIES = {"ko": "KR", "ja": "JP", "ar": "EG", "th": "TH", "sw": "KE", "hi": "IN"}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sovereign")
    shutil.copy(TEST_STUDIES / "multijail_sample.csv", folder)
    result = snakemake(folder, config=CONFIG)
    assert result.returncode == 0, result.stderr[-4000:]
    return folder


def test_the_native_respondent_aligns_with_its_languages_population_and_the_uniform_with_none(study):
    scores = pl.read_parquet(study / "results/alignment.parquet").filter(
        (pl.col("level") == "language")
        & (pl.col("group") == pl.col("language"))
        & (pl.col("unit") == "topic")
    )
    for language in LANGUAGES:
        native = scores.filter(model="native", language=language).row(0, named=True)
        assert native["spearman"] >= 0.8 and native["ci_low"] > 0, (language, native)
        uniform = scores.filter(model="uniform", language=language).row(0, named=True)
        assert uniform["ci_low"] <= 0 <= uniform["ci_high"], (language, uniform)


def test_rq2_compares_each_language_with_the_countries_that_speak_it(study):
    natives = pl.read_csv(study / "results/survey/native_countries.csv")
    assert dict(natives.select("language", "country").iter_rows()) == NATIVE_COUNTRIES
    assert set(natives["source"]) == {"survey"}
    totals = pl.read_csv(study / "results/regression/rq2_totals.csv")
    leaning = totals.filter(model="us-leaning")
    assert sorted(leaning["language"]) == sorted(NATIVE_COUNTRIES)
    # one seed of 200 prompts: the lean shows in every language, beyond doubt in some (the US
    # differs less from these countries than from Denmark, say, in the synthetic survey)
    assert (leaning["us_minus_native"] > 0).all(), leaning
    assert (leaning["ci_low"] > 0).any(), leaning
    assert (totals.filter(model="native")["ci_low"] <= 0).all()


def test_the_refusal_gap_planted_in_swahili_comes_back_and_no_other(study):
    gaps = pl.read_parquet(study / "results/safety/gaps.parquet").filter(
        model="us-leaning", attack="none", measure="refusal"
    )
    swahili = gaps.filter(language="sw").row(0, named=True)
    assert swahili["ci_high"] < 0, swahili  # planted: 0.95 -> 0.4
    others = gaps.filter(pl.col("language") != "sw")
    assert (others["ci_low"] <= 0).all() and (others["ci_high"] >= 0).all(), others


def test_multijail_prompts_are_paired_with_english_where_multijail_has_the_language(study):
    gaps = pl.read_parquet(study / "results/safety/gaps.parquet").filter(
        model="native", attack="none", measure="refusal"
    )
    pairs = dict(gaps.select("language", "n").iter_rows())
    # 45 harmful prompts of our own in every language, and MultiJail's 6 where it has a column
    assert pairs == {"ko": 45 + 6, "ar": 45 + 6, "th": 45 + 6, "sw": 45 + 6, "ja": 45, "hi": 45}
    korean = pl.read_parquet(study / "results/safety/judged/native/ko/none.parquet")
    assert korean["prompt_id"].str.starts_with("multijail_sample/").sum() == 6


def test_language_attacks_run_where_their_wrapper_is_written(study):
    rates = pl.read_parquet(study / "results/safety/rates.parquet")
    pairs = set(rates.filter(model="native", measure="refusal").select("language", "attack").iter_rows())
    assert ("ko", "transliteration") in pairs and ("hi", "code_switching") in pairs
    assert ("en", "code_switching") not in pairs and ("ja", "transliteration") not in pairs
    prompts = pl.read_parquet(study / "results/safety/prompts/th.parquet").filter(attack="transliteration")
    assert prompts.height == 90 + 6 and not prompts["text"].str.contains(r"\p{Thai}").any()


def test_the_report_labels_the_languages_the_project_wrote(study):
    result = snakemake(study, "results/summary.md", config=CONFIG)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = (study / "results/summary.md").read_text()
    assert "ko (unreviewed)" in summary and "en (unreviewed)" not in summary
    assert "not reviewed by a native speaker (marked 'unreviewed'): ko, ja, ar, th, sw, hi" in summary


def test_a_language_added_later_plans_only_its_own_jobs(study):
    result = snakemake(study, "--dry-run", config=CONFIG | {"languages": [*LANGUAGES, "bn"]})
    assert result.returncode == 0, result.stderr[-3000:]
    languages = set(re.findall(r"language=(\w+)", result.stdout))
    assert languages == {"bn"}, languages


def test_the_korean_evaluators_study_runs_on_simulated_respondents(tmp_path):
    """The shipped example (a sovereign model on vLLM, a commercial one over the Batch API, MultiJail)
    with simulated respondents in its two model slots and the simulated reader as judge."""
    config = example_study("sovereign_korean") | {"seeds": [0], "prompts_per_seed": 100, "judges": {}}
    config["models"] = {
        "korean-sovereign": {"backend": "simulated", "respondent": "population", "population": "native"},
        "gpt-4o": {"backend": "simulated", "respondent": "mixture", "mixture": {"US": 0.7, "native": 0.3}},
    }
    shutil.copy(TEST_STUDIES / "multijail_sample.csv", tmp_path)
    result = snakemake(tmp_path, "results/alignment.parquet", "results/safety/gaps.parquet", config=config)
    assert result.returncode == 0, result.stderr[-4000:]
    prompts = pl.read_parquet(tmp_path / "results/safety/prompts/ko.parquet")
    external = prompts.filter(pl.col("prompt_id").str.starts_with("multijail_sample/"))
    assert external.height == 6 * 4 and set(external["attack"]) == {
        "none",
        "role_play",
        "code_switching",
        "transliteration",
    }
    # MultiJail's ids are the same in every language: its Korean prompts are paired with English
    gaps = pl.read_parquet(tmp_path / "results/safety/gaps.parquet")
    korean = gaps.filter(model="korean-sovereign", language="ko", attack="none", measure="refusal")
    assert korean["n"].item() == 45 + 6
    alignment = pl.read_parquet(tmp_path / "results/alignment.parquet")
    own = alignment.filter(
        model="korean-sovereign", language="ko", level="language", group="ko", unit="topic"
    )
    assert own["spearman"].item() > 0.8
