"""A study shaped like released data runs to a report with no hand edits: judged responses and an
aggregated ground truth as published (one seed, each language prompting its own item subset, a
run of 33 responses beside runs of 250, NIR beside GB, 80 variables beyond the item bank, the US
without two items), a released ceiling, a capability table that spells one model two ways and
has no row for another, and no uniform model."""

import numpy as np
import polars as pl
import pytest

from conftest import REPO, snakemake
from culturalign.items import load_items, select_items

SCORED = sorted(select_items(load_items(REPO / "resources" / "items.yaml"), "scored"))
COUNTRIES = ["US", "GB", "NIR", "DK", "NL"]
LANGUAGE_ITEMS = {"da": SCORED[:26], "nl": SCORED[4:]}  # each language prompted its own subset
US_LACKS = ["c001_01", "c002_01"]
# model -> (family, capability-table name or None, US share of its answers)
MODELS = {
    "gpt-4-turbo": ("openai", ["GPT-4 Turbo", "gpt-4-turbo"], 0.8),
    "gemma-2-9b": ("gemma", "Gemma-2 9B", 0.0),
    "gemma-2-27b": ("gemma", "Gemma-2 27B", 0.0),
    "llama-3-8b": ("llama", "Llama 3 8B", 0.2),
    "mystery-7b": ("other", None, 0.0),
}
SPARSE = ("gemma-2-9b", "nl")


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    folder = tmp_path_factory.mktemp("released")
    rng = np.random.default_rng(16)
    base = rng.normal(0, 1.2, len(SCORED))
    scores = {
        group: dict(zip(SCORED, 1 / (1 + np.exp(-(base + rng.normal(0, 0.8, len(SCORED))))), strict=True))
        for group in [*COUNTRIES, "da", "nl", "global"]
    }
    extra = [f"x{index:03d}" for index in range(80)]  # variables the item bank does not hold
    level = {"da": "language", "nl": "language", "global": "global"}
    rows = [
        (level.get(group, "country"), group, item, float(value), 1000)
        for group, values in scores.items()
        for item, value in [*values.items(), *((name, rng.uniform()) for name in extra)]
        if not (group == "US" and item in US_LACKS)
    ]
    pl.DataFrame(
        rows, schema=["level", "group", "item", "pro_score", "n_respondents"], orient="row"
    ).write_csv(folder / "ground_truth.csv")
    pl.DataFrame({"group": COUNTRIES, "consistency": [0.81, 0.79, 0.77, 0.83, 0.8]}).write_csv(
        folder / "ceiling.csv"
    )
    native = {"da": "DK", "nl": "NL"}
    responses = []
    for model, (family, _, us_share) in MODELS.items():
        for language, items in LANGUAGE_ITEMS.items():
            # the sparse run: 33 responses over 17 items; the others 250 over all the language's items
            asked = items[:17] if (model, language) == SPARSE else items
            count = 33 if (model, language) == SPARSE else 250
            for index in range(count):
                item = asked[index % len(asked)]
                truth = (
                    us_share * scores["US"].get(item, 0.5) + (1 - us_share) * scores[native[language]][item]
                )
                responses.append(
                    {
                        "model": model,
                        "family": family,
                        "language": language,
                        "item": item.upper() if index % 9 == 0 else item,  # spelled two ways
                        "pro_score": float(rng.binomial(10, truth) / 10),
                        "response_language": "en" if index % 25 == 7 else language,
                    }
                )
    pl.DataFrame(responses).write_csv(folder / "judged.csv")
    capability_rows = [
        (spelling, language, benchmark, float(rng.uniform(40, 90)))
        for model, (_, names, _) in MODELS.items()
        if names is not None
        for index, language in enumerate(LANGUAGE_ITEMS)
        # the released table spells GPT-4 Turbo one way in Danish, another in Dutch
        for spelling in [names[index] if isinstance(names, list) else names]
        for benchmark in ("a", "b", "c")
    ]
    pl.DataFrame(capability_rows, schema=["model", "language", "benchmark", "score"], orient="row").write_csv(
        folder / "capabilities.csv"
    )
    config = {
        "survey": {"aggregated": "ground_truth.csv", "ceiling": "ceiling.csv", "countries": COUNTRIES},
        "languages": list(LANGUAGE_ITEMS),
        "judged_import": "judged.csv",
        "alignment": {"bootstrap": 400},
        "regression": {
            "capabilities": "capabilities.csv",
            "capability_names": {model: names for model, (_, names, _) in MODELS.items() if names},
            "rq1": {"formula": "alignment ~ 1 + capability + (1 | model)"},
            "rq2": {"native_countries": {language: [country] for language, country in native.items()}},
        },
    }
    result = snakemake(folder, config=config)
    assert result.returncode == 0, result.stderr[-4000:]
    report = snakemake(folder, "--report", "results/report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    return folder, result.stderr


def table(folder, name):
    path = folder / "results" / name
    return pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)


def test_every_model_language_and_country_is_measured(released):
    folder, _ = released
    alignment = table(folder, "alignment.parquet")
    assert {"NIR", "GB", "US", "DK", "NL"} <= set(alignment["group"])
    assert set(alignment["model"]) == {*MODELS, "uniform"}
    sparse = alignment.filter(
        (pl.col("model") == SPARSE[0]) & (pl.col("language") == SPARSE[1]) & (pl.col("unit") == "topic")
    )
    # a run of about 30 responses still has items, a rho and an interval for every population
    assert sparse["n"].max() == 17 and sparse["ci_low"].is_not_null().all()
    assert (table(folder, "survey/consistency.parquet")["group"].sort() == sorted(COUNTRIES)).all()


def test_rq1_leaves_out_the_model_without_a_capability_and_says_so(released):
    folder, log = released
    fit = table(folder, "regression/rq1_fit.csv")
    assert (fit["models"] == 4).all() and (fit["observations"] == 8).all()
    assert fit["left_out"].str.contains("mystery-7b").all()
    assert "RQ1 leaves out" in log and "mystery-7b" in log
    rq1 = table(folder, "regression/rq1.csv")
    assert rq1.select(pl.col("estimate", "std_error").is_finite().all()).row(0) == (True, True)


def test_rq2_with_one_seed_prints_no_made_up_uncertainty(released):
    folder, _ = released
    coefficients = table(folder, "regression/rq2.csv")
    assert coefficients["estimate"].is_finite().all() and coefficients["std_error"].is_null().all()
    assert coefficients["note"].str.contains("no residual degrees of freedom").all()
    totals = table(folder, "regression/rq2_totals.csv")
    assert (
        totals.select(pl.col("us_minus_native", "ci_low", "ci_high").is_finite().all()).row(0) == (True,) * 3
    )
    # the US was not asked two items: RQ2 compares over the items every population holds, and says so
    danish = totals.filter(pl.col("language") == "da")
    assert (danish["items"] == 24).all() and danish["note"].str.contains("c001_01").all()
    leaning = totals.filter((pl.col("model") == "gpt-4-turbo") & (pl.col("language") == "da")).row(
        0, named=True
    )
    assert leaning["ci_low"] > 0


def test_summary_and_report_say_what_was_left_out(released):
    folder, _ = released
    summary = (folder / "results" / "summary.md").read_text()
    assert "Left out, without a capability score: mystery-7b" in summary
    assert "no residual degrees of freedom" in summary
    assert "- da: RQ2 compares over the 30 items that the US and DK all hold" in summary
    assert "c001_01, c002_01" in summary
    # the added uniform baseline is labelled as such; it does not mark real models as simulated
    assert "Read with care" not in summary and "uniform-random baseline" in summary
    assert "(from the released ceiling table)" in summary
    assert (folder / "results" / "report.html").stat().st_size > 100_000
