import numpy as np
import polars as pl
import pytest

from conftest import REPO
from culturalign.regression import (
    RegressionError,
    canonical_term,
    fit_rq2,
    load_capabilities,
    model_capabilities,
    rq2_observations,
    split_formula,
    us_minus_native,
    with_residuals,
    without_single_level_factors,
)

FORMULA = "alignment ~ 0 + consistency:language + capability:family:language + (1 | model)"


def test_shipped_capabilities_are_the_study_table():
    table = load_capabilities(REPO / "resources" / "capabilities.csv")
    assert table.height == 15 * 6
    pairs = [(model, language) for model in ("gpt-4o", "gemma") for language in ("da", "nl", "en")]
    capabilities = model_capabilities(table, {"gpt-4o": "GPT-4o", "gemma": "Gemma-2 2B"}, {}, pairs)
    value = dict(((m, lang), c) for m, lang, c in capabilities.iter_rows())
    assert value[("gpt-4o", "da")] == pytest.approx((71.2 + 64.6 + 67.9 + 93.0) / 400)
    assert value[("gemma", "nl")] == pytest.approx((40.6 + 19.6 + 68.9 + 29.3) / 400)
    assert value[("gpt-4o", "en")] == pytest.approx((87.2 + 83.7 + 89.9 + 91.0) / 400)


def test_configured_capability_wins_and_a_missing_one_is_named():
    table = load_capabilities(REPO / "resources" / "capabilities.csv")
    given = model_capabilities(table, {"gpt-4o": "GPT-4o"}, {"gpt-4o": {"da": 0.5}}, [("gpt-4o", "da")])
    assert given["capability"].to_list() == [0.5]
    with pytest.raises(RegressionError, match=r"no capability for sim \('sim'\) in pt: .*capability_name"):
        model_capabilities(table, {"sim": "sim"}, {"sim": {"da": 0.4}}, [("sim", "da"), ("sim", "pt")])
    # only the languages a model has runs in need a capability
    assert model_capabilities(table, {}, {"sim": {"da": 0.4}}, [("sim", "da")]).height == 1


def test_term_names_agree_across_engines():
    levels = {"language": {"da", "nl"}, "family": {"gpt", "gemma"}}
    assert canonical_term("languageda:capability:familygpt", levels) == "capability:family=gpt:language=da"
    assert (
        canonical_term("capability:family[gpt]:language[da]", levels) == "capability:family=gpt:language=da"
    )
    assert canonical_term("consistency:language[T.nl]", levels) == "consistency:language=nl"


def test_formula_helpers():
    assert split_formula(FORMULA) == (
        "alignment ~ 0 + consistency:language + capability:family:language",
        "model",
    )
    with pytest.raises(RegressionError, match="random intercept"):
        split_formula("alignment ~ capability")
    one_family = pl.DataFrame({"family": ["a", "a"], "language": ["da", "nl"], "model": ["x", "y"]})
    assert without_single_level_factors(FORMULA, one_family) == (
        "alignment ~ 0 + consistency:language + capability:language + (1 | model)"
    )
    two = one_family.with_columns(pl.Series("family", ["a", "b"]))
    assert without_single_level_factors(FORMULA, two) == FORMULA


def alignment_rows(values):
    """values: (model, language, seed, group) -> spearman, all topic-level country rows."""
    return pl.DataFrame(
        [
            {
                "model": m,
                "language": lang,
                "seed": s,
                "level": "country",
                "group": g,
                "unit": "topic",
                "spearman": v,
            }
            for (m, lang, s, g), v in values.items()
        ]
    )


def test_rq2_observations_average_native_countries():
    rows = alignment_rows(
        {
            ("m", "pt", 0, "US"): 0.8,
            ("m", "pt", 0, "PT"): 0.6,
            ("m", "pt", 0, "BR"): 0.4,
            ("m", "pt", 0, "DK"): 0.9,
        }
    )
    data = rq2_observations(rows, {"pt": ["PT", "BR"]})
    assert data.select("us", "alignment").rows() == [(0, pytest.approx(0.5)), (1, 0.8)]


def test_rq2_interaction_is_the_lean_beyond_the_reference():
    rng = np.random.default_rng(1)
    values = {}
    for seed in range(4):
        for model, lean in [("uniform", 0.0), ("leaning", 0.2)]:
            values[(model, "da", seed, "US")] = 0.5 + lean + rng.normal(0, 0.01)
            values[(model, "da", seed, "DK")] = 0.5 + rng.normal(0, 0.01)
    data = rq2_observations(alignment_rows(values), {"da": ["DK"]})
    fit = fit_rq2(data, "uniform")
    term = fit.coefficients.filter(pl.col("term") == "us:model=leaning:language=da").row(0, named=True)
    assert term["estimate"] == pytest.approx(0.2, abs=0.03) and term["ci_low"] > 0.1
    # the saturated model leaves only the planted noise (sd 0.01) in its residuals
    residuals = with_residuals(data, fit)
    assert (residuals["fitted"] + residuals["residual"] - residuals["alignment"]).abs().max() < 1e-12
    assert 0.002 < residuals["residual"].std() < 0.02
    with pytest.raises(RegressionError, match="reference"):
        fit_rq2(rq2_observations(alignment_rows(values), {"da": ["DK"]}), "nobody")


def test_us_minus_native_totals_recover_a_planted_difference():
    rng = np.random.default_rng(2)
    items = [f"i{j}" for j in range(30)]
    us = rng.uniform(0.1, 0.9, 30)
    dk = np.where(np.arange(30) < 15, us, 1 - us)  # half the items reversed in Denmark
    truth = pl.DataFrame(
        [("country", "US", i, float(s)) for i, s in zip(items, us, strict=True)]
        + [("country", "DK", i, float(s)) for i, s in zip(items, dk, strict=True)],
        schema=["level", "group", "item", "pro_score"],
        orient="row",
    )

    def run(probabilities, seed):
        index = np.arange(300) % 30
        pro = rng.binomial(10, probabilities[index])
        polarity = pl.DataFrame(
            {"prompt_id": [str(k) for k in range(300)], "item": [items[i] for i in index], "pro": pro}
        ).with_columns(con=10 - pl.col("pro"), null=0, pro_score=pl.col("pro") / 10)
        return ("m", "da", seed, polarity)

    american = us_minus_native([run(us, s) for s in range(2)], truth, {"da": ["DK"]}, 500)
    row = american.row(0, named=True)
    assert row["us_minus_native"] > 0.5 and row["ci_low"] > 0.3 and row["seeds"] == 2
    danish = us_minus_native([run(dk, s) for s in range(2)], truth, {"da": ["DK"]}, 500).row(0, named=True)
    assert danish["us_minus_native"] < -0.5 and danish["ci_high"] < -0.3
