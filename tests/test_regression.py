import numpy as np
import polars as pl
import pytest

from conftest import REPO
from culturalign.regression import (
    RegressionError,
    canonical_term,
    design_problem,
    fit_lme4,
    fit_rq2,
    fit_statsmodels,
    load_capabilities,
    model_capabilities,
    rq1_observations,
    rq2_alignment,
    split_formula,
    us_minus_native,
    without_single_level_factors,
)
from culturalign.yaml_io import read_yaml

FORMULA = read_yaml(REPO / "workflow" / "schemas" / "config.schema.yaml")["properties"]["regression"][
    "properties"
]["rq1"]["properties"]["formula"]["default"]


def test_shipped_capabilities_are_the_study_table():
    table = load_capabilities(REPO / "resources" / "capabilities.csv")
    assert table.height == 15 * 6
    pairs = [(model, language) for model in ("gpt-4o", "gemma") for language in ("da", "nl", "en")]
    capabilities, missing = model_capabilities(table, {"gpt-4o": "GPT-4o", "gemma": "Gemma-2 2B"}, {}, pairs)
    assert missing == []
    value = dict(((m, lang), c) for m, lang, c in capabilities.iter_rows())
    assert value[("gpt-4o", "da")] == pytest.approx((71.2 + 64.6 + 67.9 + 93.0) / 400)
    assert value[("gemma", "nl")] == pytest.approx((40.6 + 19.6 + 68.9 + 29.3) / 400)
    assert value[("gpt-4o", "en")] == pytest.approx((87.2 + 83.7 + 89.9 + 91.0) / 400)


def test_configured_capability_wins_and_a_missing_one_is_left_out_and_named():
    table = load_capabilities(REPO / "resources" / "capabilities.csv")
    given, missing = model_capabilities(
        table, {"gpt-4o": "GPT-4o"}, {"gpt-4o": {"da": 0.5}}, [("gpt-4o", "da")]
    )
    assert given["capability"].to_list() == [0.5] and missing == []
    kept, missing = model_capabilities(
        table, {"sim": "sim"}, {"sim": {"da": 0.4}}, [("sim", "da"), ("sim", "pt")]
    )
    assert kept.rows() == [("sim", "da", 0.4)]
    assert missing == ["sim ('sim') in pt"]
    # no model with a capability: an empty table that still joins, and RQ1 has no rows
    none, missing = model_capabilities(table, {}, {}, [("sim", "ko")])
    assert none.is_empty() and none.schema["capability"] == pl.Float64 and missing == ["sim ('sim') in ko"]


def test_a_model_spelled_two_ways_across_languages_finds_both():
    table = pl.DataFrame(
        {
            "model": ["GPT-4 Turbo", "gpt-4-turbo", "gpt-4-turbo"],
            "language": ["da", "nl", "nl"],
            "benchmark": ["a", "a", "b"],
            "score": [60.0, 70.0, 80.0],
        }
    )
    found, missing = model_capabilities(
        table,
        {"gpt4t": ["GPT-4 Turbo", "gpt-4-turbo"]},
        {},
        [("gpt4t", "da"), ("gpt4t", "nl"), ("gpt4t", "pt")],
    )
    assert found.rows() == [("gpt4t", "da", pytest.approx(0.6)), ("gpt4t", "nl", pytest.approx(0.75))]
    assert missing == ["gpt4t ('GPT-4 Turbo' or 'gpt-4-turbo') in pt"]


def test_term_names_agree_across_engines():
    levels = {"language": {"da", "nl"}, "family": {"gpt", "gemma"}}
    assert canonical_term("languageda:capability:familygpt", levels) == "capability:family=gpt:language=da"
    assert (
        canonical_term("capability:family[gpt]:language[da]", levels) == "capability:family=gpt:language=da"
    )
    assert canonical_term("consistency:language[T.nl]", levels) == "consistency:language=nl"


def test_formula_helpers():
    assert split_formula(FORMULA) == (
        "alignment ~ 1 + consistency:language + capability:family:language",
        "model",
    )
    with pytest.raises(RegressionError, match="random intercept"):
        split_formula("alignment ~ capability")
    one_family = pl.DataFrame({"family": ["a", "a"], "language": ["da", "nl"], "model": ["x", "y"]})
    assert without_single_level_factors(FORMULA, one_family) == (
        "alignment ~ 1 + consistency:language + capability:language + (1 | model)"
    )
    two = one_family.with_columns(pl.Series("family", ["a", "b"]))
    assert without_single_level_factors(FORMULA, two) == FORMULA


ITEMS = [f"i{j:02d}" for j in range(30)]


def polarity_run(probabilities, rng, responses=300, items=ITEMS):
    """One run's polarity: responses balanced over items, 10 statements each."""
    index = np.arange(responses) % len(items)
    pro = rng.binomial(10, probabilities[index]).astype(float)
    return pl.DataFrame(
        {"prompt_id": [f"{k:04d}" for k in range(responses)], "item": [items[i] for i in index], "pro": pro}
    ).with_columns(con=10 - pl.col("pro"), null=0.0, pro_score=pl.col("pro") / 10)


def country_truth(scores: dict[str, np.ndarray], items=ITEMS) -> pl.DataFrame:
    return pl.DataFrame(
        [
            ("country", group, item, float(value))
            for group, values in scores.items()
            for item, value in zip(items, values, strict=True)
        ],
        schema=["level", "group", "item", "pro_score"],
        orient="row",
    )


@pytest.fixture(scope="module")
def us_and_denmark():
    rng = np.random.default_rng(2)
    us = rng.uniform(0.1, 0.9, 30)
    dk = np.where(np.arange(30) < 15, us, 1 - us)  # half the items reversed in Denmark
    return us, dk, country_truth({"US": us, "DK": dk})


@pytest.mark.parametrize("unit", ["topic", "response"])
def test_rq2_totals_recover_a_planted_difference_and_equal_rq2_rows(us_and_denmark, unit):
    us, dk, truth = us_and_denmark
    rng = np.random.default_rng(3)
    runs = [("american", "da", s, polarity_run(us, rng)) for s in range(2)]
    runs += [("danish", "da", s, polarity_run(dk, rng)) for s in range(2)]
    rq2 = rq2_alignment(runs, truth, {"da": ["DK"]}, unit, resamples=500)
    totals = us_minus_native(rq2)
    american, danish = totals.sort("model").rows(named=True)
    assert american["us_minus_native"] > 0.3 and american["ci_low"] > 0.1 and american["seeds"] == 2
    assert danish["us_minus_native"] < -0.3 and danish["ci_high"] < -0.1
    # the total is the difference of RQ2's own rows, and so is the OLS us term
    rows = rq2.observations.group_by("model", "us").agg(pl.col("alignment").mean()).sort("model", "us")
    for total in totals.iter_rows(named=True):
        native, american_row = rows.filter(pl.col("model") == total["model"])["alignment"]
        assert total["us_minus_native"] == pytest.approx(american_row - native, abs=1e-9)
    fit = fit_rq2(rq2.observations)
    terms = dict(fit.coefficients.select("term", "estimate").iter_rows())
    assert terms["us:model=american:language=da"] == pytest.approx(american["us_minus_native"], abs=1e-9)
    assert fit.coefficients["note"].is_null().all() and fit.coefficients["std_error"].is_not_nan().all()


def test_rq2_compares_over_the_items_every_population_holds(us_and_denmark):
    _, dk, truth = us_and_denmark
    # the US was not asked two items (as c001_01, c002_01 in released tables)
    partial = truth.filter(~((pl.col("group") == "US") & pl.col("item").is_in(ITEMS[:2])))
    rq2 = rq2_alignment([("m", "da", 0, polarity_run(dk, np.random.default_rng(4)))], partial, {"da": ["DK"]})
    assert (rq2.observations["items"] == 28).all()
    assert us_minus_native(rq2)["items"].to_list() == [28]


def test_one_seed_per_cell_gives_estimates_without_made_up_uncertainty(us_and_denmark):
    us, dk, truth = us_and_denmark
    rng = np.random.default_rng(5)
    rq2 = rq2_alignment(
        [(m, "da", 0, polarity_run(p, rng)) for m, p in [("a", us), ("b", dk)]], truth, {"da": ["DK"]}
    )
    coefficients = fit_rq2(rq2.observations).coefficients
    assert coefficients["estimate"].is_finite().all()
    assert coefficients["std_error"].is_null().all() and coefficients["p_value"].is_null().all()
    assert coefficients["note"].str.contains("no residual degrees of freedom").all()
    assert us_minus_native(rq2)["ci_low"].is_finite().all()


def test_rq2_coefficients_do_not_depend_on_a_baseline_draw(us_and_denmark):
    us, _, truth = us_and_denmark
    leaning = [("leaning", "da", s, polarity_run(us, np.random.default_rng(10 + s))) for s in range(2)]

    def us_terms(baseline_seed):
        rng = np.random.default_rng(baseline_seed)
        uniform = [("uniform", "da", s, polarity_run(np.full(30, 0.5), rng)) for s in range(2)]
        coefficients = fit_rq2(
            rq2_alignment(leaning + uniform, truth, {"da": ["DK"]}).observations
        ).coefficients
        return coefficients.filter(pl.col("term").str.contains("leaning")).sort("term")

    # The reference is the uniform respondent's analytic null (0), so a baseline's draw moves
    # nothing but its own rows: tolerance 0. (The rq2 rule also leaves the baseline out of the
    # fit, so that its seeds do not enter the pooled residual variance either.)
    first, second = us_terms(0), us_terms(1)
    assert first.height == 2 and first["estimate"].to_list() == second["estimate"].to_list()


def test_sparse_runs_get_intervals_that_cover(us_and_denmark):
    """Released runs as small as 30 responses over 17 items: an item none of whose responses is
    resampled is left out of that resample (it used to be ranked as the most favoured). The
    interval is a sampling interval: it must cover the value the run's rho takes on average when
    the model is asked again."""
    from culturalign.alignment import alignment_replicates, response_resamples, stance_responses
    from culturalign.stats import random_stream

    rng = np.random.default_rng(6)
    items = ITEMS[:17]
    population = rng.uniform(0.05, 0.95, 17)
    model = np.clip(population + rng.normal(0, 0.25, 17), 0.02, 0.98)
    truth = pl.DataFrame({"item": items, "pro_score": population})
    estimates, intervals, favoured = [], [], []
    for simulation in range(200):
        responses = stance_responses(polarity_run(model, rng, responses=30, items=items))
        counts = response_resamples(responses, 400, random_stream(0, simulation))
        rho, replicates, _ = alignment_replicates(responses, counts, {"X": truth}, "topic")["X"]
        estimates.append(rho)
        intervals.append(np.nanpercentile(replicates, [2.5, 97.5]))
        # the old ranking: an absent item as the largest polarity
        onehot = np.eye(17)[np.searchsorted(items, responses["item"].to_numpy())]
        with np.errstate(invalid="ignore"):
            polarity = (counts @ (onehot * responses["pro"].to_numpy()[:, None])) / (counts @ onehot * 10)
        absent_last = np.nan_to_num(polarity, nan=np.inf)
        favoured.append(np.percentile(stats_spearman_rows(absent_last, population), [2.5, 97.5]))
    expected = np.mean(estimates)
    coverage = np.mean([low <= expected <= high for low, high in intervals])
    old_coverage = np.mean([low <= expected <= high for low, high in favoured])
    assert coverage >= 0.9, coverage
    assert old_coverage < coverage - 0.05, (old_coverage, coverage)


def stats_spearman_rows(values, target):
    from scipy import stats

    return np.array([stats.spearmanr(row, target).statistic for row in values])


def rq1_cells(slope: float, seed: int, models: int = 10, languages=("da", "nl", "pt")) -> pl.DataFrame:
    """Alignment around a clearly non-zero mean (0.5), a random model effect, and `slope` times
    capability; consistency unrelated to alignment."""
    rng = np.random.default_rng(seed)
    rows = []
    for model in range(models):
        effect = rng.normal(0, 0.05)
        for language in languages:
            capability = rng.uniform(0.3, 0.9)
            rows.append(
                {
                    "model": f"m{model}",
                    "family": "f",
                    "language": language,
                    "seed": 0,
                    "spearman": 0.5 + effect + slope * (capability - 0.6) + rng.normal(0, 0.05),
                    "consistency": rng.uniform(0.4, 0.8),
                    "capability": capability,
                }
            )
    frame = pl.DataFrame(rows)
    alignment = frame.select("model", "family", "language", "seed", "spearman").with_columns(
        level=pl.lit("language"), group=pl.col("language"), unit=pl.lit("topic")
    )
    return rq1_observations(
        alignment,
        frame.select("model", "language", "seed", "consistency"),
        frame.select("model", "language", "capability"),
    )


def capability_terms(fit):
    return fit.coefficients.filter(pl.col("term").str.starts_with("capability"))


def test_rq1_default_finds_no_slope_where_there_is_none_and_the_planted_one():
    null = rq1_cells(0.0, seed=1)
    formula = without_single_level_factors(FORMULA, null)
    for fit in (fit_lme4, fit_statsmodels):
        slopes = capability_terms(fit(null, formula))
        # three 95 % intervals: one may miss 0 by chance (see the coverage test below)
        assert slopes.height == 3 and ((slopes["ci_low"] <= 0) & (slopes["ci_high"] >= 0)).sum() >= 2, slopes
    planted = rq1_cells(0.5, seed=2)
    slopes = capability_terms(fit_lme4(planted, without_single_level_factors(FORMULA, planted)))
    assert (slopes["ci_low"] > 0).all() and slopes["estimate"].is_between(0.25, 0.75).all(), slopes


def test_rq1_null_coverage_over_simulated_studies():
    """The default's capability CIs cover a zero slope in at least 90 % of simulated studies."""
    covered = []
    for seed in range(40):
        data = rq1_cells(0.0, seed=100 + seed)
        slopes = capability_terms(fit_statsmodels(data, without_single_level_factors(FORMULA, data)))
        covered += ((slopes["ci_low"] <= 0) & (slopes["ci_high"] >= 0)).to_list()
    assert np.mean(covered) >= 0.9, np.mean(covered)
    print(f"capability slopes covering 0: {np.mean(covered):.3f}")


def test_seeds_are_averaged_into_one_row_per_cell():
    frame = pl.DataFrame(
        {
            "model": ["a"] * 3,
            "family": ["f"] * 3,
            "language": ["da"] * 3,
            "seed": [0, 1, 2],
            "spearman": [0.2, 0.4, 0.6],
            "consistency": [0.5, 0.6, 0.7],
        }
    )
    alignment = frame.drop("consistency").with_columns(
        level=pl.lit("language"), group=pl.lit("da"), unit=pl.lit("topic")
    )
    data = rq1_observations(
        alignment,
        frame.select("model", "language", "seed", "consistency"),
        pl.DataFrame({"model": ["a"], "language": ["da"], "capability": [0.5]}),
    )
    assert data.rows(named=True) == [
        {
            "model": "a",
            "family": "f",
            "language": "da",
            "alignment": pytest.approx(0.4),
            "consistency": pytest.approx(0.6),
            "seeds": 3,
            "capability": 0.5,
        }
    ]


def test_a_design_that_cannot_carry_the_formula_is_named_not_fitted():
    cells = rq1_cells(0.0, seed=3, models=2, languages=("da", "nl"))  # 4 observations, 5 fixed effects
    assert "identify 4 of the formula's 5 fixed effects" in design_problem(cells, FORMULA)
    cells = rq1_cells(0.0, seed=3, models=3, languages=("da", "nl"))  # and no room for two variances
    assert "6 observations (one per model and language) for 5 fixed effects" in design_problem(cells, FORMULA)
    assert "1 model(s)" in design_problem(cells.filter(pl.col("model") == "m0"), FORMULA)
    assert design_problem(rq1_cells(0.0, seed=3), FORMULA) is None
    same = rq1_cells(0.0, seed=3).with_columns(capability=pl.lit(0.5))  # capability never varies
    assert "identify" in design_problem(same, "alignment ~ 1 + capability + (1 | model)")


def test_a_total_that_cannot_be_measured_says_why_instead_of_printing_nan(us_and_denmark):
    us, dk, truth = us_and_denmark
    # Denmark scores every item alike: no alignment with it, so no total, and the table says so
    flat = truth.with_columns(
        pl.when(pl.col("group") == "DK").then(0.5).otherwise(pl.col("pro_score")).alias("pro_score")
    )
    rng = np.random.default_rng(7)
    runs = [("m", "da", 0, polarity_run(dk, rng)), ("m", "nl", 0, polarity_run(us, rng))]
    totals = us_minus_native(rq2_alignment(runs, flat, {"da": ["DK"], "nl": ["US"]}, resamples=50))
    danish = totals.filter(language="da").row(0, named=True)
    assert danish["us_minus_native"] is None and danish["ci_low"] is None
    assert danish["note"].startswith("no alignment")
    # a measured total keeps its interval and no note
    dutch = totals.filter(language="nl").row(0, named=True)
    assert (
        dutch["us_minus_native"] == pytest.approx(0) and dutch["ci_low"] is not None and dutch["note"] is None
    )
