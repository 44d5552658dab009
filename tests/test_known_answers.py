"""Known answers on the real DAG: simulated respondents with a known polarity must be measured as
such by prompts, generation, judging, polarity, alignment and self-consistency run by Snakemake."""

import shutil

import polars as pl
import pytest

from conftest import example_study, snakemake

CONFIG = example_study("known_answers")
LANGUAGES, SEEDS = CONFIG["languages"], CONFIG["seeds"]
# alignment that does not depend on capability: the same mixture, capabilities spread
FLAT_SHARES = sorted(int(slug.removeprefix("flat-")) for slug in CONFIG["models"] if slug.startswith("flat-"))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("known_answers")
    result = snakemake(folder, config=CONFIG)
    assert result.returncode == 0, result.stderr[-4000:]
    return folder


@pytest.fixture(scope="module")
def scores(study):
    return pl.read_parquet(study / "results" / "alignment.parquet")


def rho(scores, model, level, group, unit="topic"):
    return scores.filter(
        (pl.col("model") == model)
        & (pl.col("level") == level)
        & (pl.col("group") == group)
        & (pl.col("unit") == unit)
    ).sort("language", "seed")


def test_output_contracts(study, scores):
    assert scores.columns == [
        "model", "family", "language", "seed", "level", "group", "unit", "spearman", "ci_low", "ci_high", "n",
    ]  # fmt: skip
    assert scores.height == len(CONFIG["models"]) * len(LANGUAGES) * len(SEEDS) * 2 * 16
    assert set(scores["family"]) == {"simulated"}
    for stage in ["prompts/da/0", "responses/native/da/0", "judged/native/da/0", "polarity/native/da/0"]:
        assert (study / "results" / f"{stage}.parquet").is_file(), stage
    assert pl.read_parquet(study / "results" / "prompts" / "da" / "1.parquet").columns == [
        "prompt_id", "item", "template_id", "variation_id", "text",
    ]  # fmt: skip


def test_uniform_alignment_is_indistinguishable_from_zero(scores):
    uniform = scores.filter(pl.col("model") == "uniform")
    covers_zero = ((uniform["ci_low"] <= 0) & (uniform["ci_high"] >= 0)).mean()
    assert covers_zero >= 0.85
    assert uniform["spearman"].abs().mean() < 0.2


def test_population_respondent_aligns_with_its_population(scores):
    for language in LANGUAGES:
        own = rho(scores, "native", "language", language).filter(pl.col("language") == language)
        assert own.height == len(SEEDS)
        assert (own["spearman"] >= 0.9).all(), own


def test_danish_respondent_is_closer_to_denmark_than_to_the_us(scores):
    denmark = rho(scores, "dk-oracle", "country", "DK")
    united_states = rho(scores, "dk-oracle", "country", "US")
    assert (denmark["spearman"] >= 0.9).all()
    assert (denmark["spearman"] > united_states["spearman"]).all()
    assert (denmark["spearman"] > united_states["ci_high"]).any()


def test_us_leaning_mixture_is_closer_to_the_us_in_danish(scores):
    danish = scores.filter(pl.col("language") == "da")
    united_states = rho(danish, "us-leaning", "country", "US")["spearman"]
    assert (united_states > rho(danish, "us-leaning", "country", "DK")["spearman"]).all()


def test_filtering_rates_come_back(study):
    counts = pl.read_parquet(study / "results" / "filtering.parquet")
    noisy = counts.filter(pl.col("model") == "noisy")
    assert noisy.height == len(LANGUAGES) * len(SEEDS)
    for column in ["wrong_language_rate", "malformed_rate"]:
        assert noisy[column].is_between(0.15, 0.25).all(), noisy
    clean = counts.filter(pl.col("model") == "native")
    assert (clean["kept_rate"] == 1.0).all() and (clean["responses"] == 300).all()


def test_self_consistency_known_answers(study):
    consistency = pl.read_parquet(study / "results" / "consistency.parquet")
    assert consistency.columns[:6] == ["model", "language", "seed", "consistency", "ci_low", "ci_high"]
    uniform = consistency.filter(pl.col("model") == "uniform")
    assert uniform["consistency"].abs().max() < 0.15
    # A population respondent describes 10 people per answer, just as the survey's ceiling draws
    # 10 respondents: the two must agree.
    ceiling = pl.read_parquet(study / "results" / "survey" / "consistency.parquet").filter(
        pl.col("level") == "language"
    )
    native = consistency.filter(pl.col("model") == "native").join(
        ceiling.select(pl.col("group").alias("language"), pl.col("consistency").alias("ceiling")),
        on="language",
    )
    assert native.height == len(LANGUAGES) * len(SEEDS)
    assert ((native["consistency"] - native["ceiling"]).abs() < 0.1).all(), native
    assert (native["consistency"] > 0.6).all()


@pytest.fixture(scope="module")
def rq1(study):
    return pl.read_csv(study / "results" / "regression" / "rq1.csv")


def test_rq1_finds_the_capability_slope(rq1):
    lme4 = rq1.filter((pl.col("engine") == "lme4") & pl.col("term").str.starts_with("capability:"))
    assert sorted(lme4["term"]) == [f"capability:language={language}" for language in sorted(LANGUAGES)]
    # One row per (model, language) with seeds averaged: 6 models per language leave few residual
    # degrees of freedom, so a planted slope is found in most languages, not always in all.
    assert (lme4["estimate"] > 0).all() and (lme4["ci_low"] > 0).sum() >= 2, lme4


def test_rq1_finds_no_slope_where_alignment_does_not_depend_on_capability(study, tmp_path):
    """The same study with RQ1 on the flat models: only rq1 reruns, and its default formula must
    not find the slope that a fit through the origin would."""
    copy = tmp_path / "flat"
    shutil.copytree(study, copy, symlinks=True)
    config = CONFIG | {"regression": {"rq1": {"models": [f"flat-{share}" for share in FLAT_SHARES]}}}
    result = snakemake(copy, "results/regression/rq1.csv", config=config)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "rule rq1:" in result.stderr and "rule score_run:" not in result.stderr
    rq1 = pl.read_csv(copy / "results" / "regression" / "rq1.csv")
    slopes = rq1.filter((pl.col("engine") == "lme4") & pl.col("term").str.starts_with("capability:"))
    assert slopes.height == len(LANGUAGES)
    # three 95 % intervals: one may miss 0 by chance (the unit-level coverage test counts it)
    assert ((slopes["ci_low"] <= 0) & (slopes["ci_high"] >= 0)).sum() >= 2, slopes


def test_lme4_and_statsmodels_agree_on_fixed_effects(rq1, study):
    engines = rq1.filter(pl.col("engine") == "lme4").join(
        rq1.filter(pl.col("engine") == "statsmodels"), on="term", suffix="_statsmodels"
    )
    assert engines.height == rq1.height // 2 == 7  # the intercept, 3 consistency and 3 capability slopes
    assert (engines["estimate"] - engines["estimate_statsmodels"]).abs().max() < 1e-4
    fit = pl.read_csv(study / "results" / "regression" / "rq1_fit.csv")
    assert set(fit["engine"]) == {"lme4", "statsmodels"}
    assert fit["r2_marginal"].is_between(0, 1).all() and (fit["r2_conditional"] >= fit["r2_marginal"]).all()
    # both engines' fitted values (with the model intercepts) for every observation, alike
    residuals = pl.read_csv(study / "results" / "regression" / "rq1_residuals.csv")
    lme4, statsmodels = (residuals.filter(pl.col("engine") == engine) for engine in ("lme4", "statsmodels"))
    assert lme4.height == statsmodels.height == fit["observations"][0]
    assert (lme4["fitted"] - statsmodels["fitted"]).abs().max() < 1e-3
    assert (lme4["fitted"] + lme4["residual"] - lme4["alignment"]).abs().max() < 1e-12


def test_rq2_detects_the_planted_us_lean(study):
    totals = pl.read_csv(study / "results" / "regression" / "rq2_totals.csv")
    assert totals.columns[:5] == ["model", "language", "us_minus_native", "ci_low", "ci_high"]
    leaning = totals.filter(pl.col("model") == "us-leaning")
    assert sorted(leaning["language"]) == sorted(LANGUAGES)
    assert (leaning["ci_low"] > 0).all(), leaning
    for model in ["native", "cap-30"]:
        population = totals.filter(pl.col("model") == model)
        assert (population["ci_low"] <= 0).all(), population
    coefficients = pl.read_csv(study / "results" / "regression" / "rq2.csv")
    # the baseline is the analytic null, not a row of the fit
    assert not coefficients["term"].str.contains("model=uniform").any()
    term = coefficients.filter(pl.col("term") == "us:model=us-leaning:language=da").row(0, named=True)
    total = leaning.filter(pl.col("language") == "da").row(0, named=True)
    assert term["estimate"] == pytest.approx(total["us_minus_native"], abs=1e-9)
