"""The precision plan: its simulated respondent has the configured self-consistency, its
half-widths narrow as the study's would, its counts follow from them, and it predicts the
intervals a real run of the same design reports."""

import math

import numpy as np
import polars as pl
import pytest

from conftest import example_study, snakemake
from culturalign.alignment import alignment, model_consistency
from culturalign.precision import (
    KEYS,
    Design,
    calibrated_share,
    planned_respondents,
    simulated_polarity,
)
from culturalign.precision_plan import PLAN_SCHEMA, precision_plan, scaled_count

CONFIG = example_study("precision")
CONTRACT = ["measure", "model", "language", "half_width", "usd", "prompts_per_seed_needed"]


def population(scores) -> pl.DataFrame:
    """A Danish ground truth with these item scores."""
    return pl.DataFrame(
        {
            "level": "language",
            "group": "da",
            "item": [f"i{k:02d}" for k in range(len(scores))],
            "pro_score": scores,
        }
    )


def balanced_prompts(count: int, items: int = 32) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "prompt_id": [f"0-{k:04d}" for k in range(count)],
            "item": [f"i{k % items:02d}" for k in range(count)],
        }
    )


SPREAD = population(np.linspace(0.1, 0.9, 32))


@pytest.mark.parametrize("target", [0.3, 0.5, 0.7])
def test_the_planned_respondent_has_the_configured_self_consistency(target):
    respondent = planned_respondents(SPREAD, ["da"], target)["da"]
    measured = [
        model_consistency(
            simulated_polarity(balanced_prompts(320), respondent, "da", np.random.default_rng(draw)),
            model="planned",
            language="da",
            seed=draw,
            resamples=20,
        )["consistency"][0]
        for draw in range(4)
    ]
    assert np.mean(measured) == pytest.approx(target, abs=0.05)


def test_a_population_less_consistent_than_asked_is_planned_as_itself():
    scores = np.linspace(0.45, 0.55, 32)  # barely any spread between items
    assert calibrated_share(scores, 0.5) == 1.0
    assert planned_respondents(population(scores), ["da"], 0.5)["da"].weights == {"native": 1.0}
    assert (
        0
        < calibrated_share(np.linspace(0.1, 0.9, 32), 0.5)
        < calibrated_share(np.linspace(0.1, 0.9, 32), 0.7)
    )


def test_simulated_answers_hold_ten_statements_drawn_at_the_item_probability():
    respondent = planned_respondents(SPREAD, ["da"], 0.5)["da"]
    polarity = simulated_polarity(
        balanced_prompts(32), respondent, "da", np.random.default_rng(0), copies=400
    )
    assert polarity.height == 32 * 400 and polarity["prompt_id"].n_unique() == polarity.height
    assert ((polarity["pro"] + polarity["con"] + polarity["null"]) == 10).all()
    observed = polarity.group_by("item").agg(
        share=pl.col("pro").sum() / (pl.col("pro") + pl.col("con")).sum()
    )
    for item, share in observed.iter_rows():
        assert share == pytest.approx(respondent.affirmative_probability(item, "da"), abs=0.03)


def test_doubling_prompts_narrows_response_alignment_by_about_one_over_root_two():
    respondent = planned_respondents(SPREAD, ["da"], 0.5)["da"]
    widths = {}
    for copies in (1, 2):
        halves = []
        for draw in range(12):
            polarity = simulated_polarity(
                balanced_prompts(300), respondent, "da", np.random.default_rng([copies, draw]), copies
            )
            scored = alignment(
                polarity, SPREAD, model="m", family="f", language="da", seed=draw, units=("response",)
            )
            halves.append(float((scored["ci_high"] - scored["ci_low"])[0]) / 2)
        widths[copies] = np.mean(halves)
    assert 0.6 < widths[2] / widths[1] < 0.8


def test_scaled_count_is_the_inverse_power_law():
    assert scaled_count(300, 0.2, 0.1, 0.5) == 1200  # 1/sqrt(n): half the width, four times the prompts
    assert scaled_count(300, 0.05, 0.1, 0.5) == 75
    assert scaled_count(3, 0.2, 0.1, 1.0) == 6


def widths_frame(rows) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={key: pl.String for key in KEYS}
        | {"half_width": pl.Float64, "copies": pl.Int64, "interval": pl.String, "n": pl.Float64},
        orient="row",
    )


def planned(widths, estimate) -> pl.DataFrame:
    design = Design(
        runs=(),
        prompts={},
        models={},
        families={},
        native_countries={},
        rq2_languages=(),
        rq1_models=("m",),
        capabilities=pl.DataFrame(),
        safety_runs=(),
        safety_prompts={},
        safety_reference="en",
        prompts_per_seed=300,
    )
    targets = {
        "alignment": 0.1,
        "us_minus_native": 0.1,
        "rq1_slope": 0.5,
        "safety_rate": 0.1,
        "safety_gap": 0.15,
    }
    return precision_plan(widths, {"da": "calibrated"}, design, estimate, targets, seeds=3)


def test_the_plan_scales_counts_and_dollars_from_the_simulated_widths():
    root = 1 / math.sqrt(2)
    widths = widths_frame(
        [
            ("alignment_response", "m", "da", None, None, 0.2, 1, None, None),
            ("alignment_response", "m", "da", None, None, 0.2 * root, 2, None, None),
            ("alignment_topic", "m", "da", None, None, 0.05, 1, None, None),
            ("alignment_topic", "m", "da", None, None, 0.06, 2, None, None),  # did not narrow
            ("us_minus_native", "m", "da", None, None, 0.2, 1, None, None),
            ("us_minus_native", "m", "da", None, None, 0.1, 2, None, None),  # narrows as 1/n
            ("rq1_capability_slope", None, "da", None, "capability:language=da", 0.5, 1, None, None),
            ("rq1_capability_slope", None, "da", None, "capability:language=da", 0.5 * root, 2, None, None),
            ("refusal", "m", "da", "all", None, 0.05, 1, "wilson_clustered_by_prompt", 180.0),
            ("refusal_gap", "m", "da", "none", None, float("nan"), 1, "tango", 45.0),
        ]
    )
    estimate = pl.DataFrame(
        {
            "stage": ["generate", "judge:gpt", "safety:none", "safety_judge:gpt:none", "generate"],
            "model": ["m", "m", "m", "m", "other"],
            "language": ["da", "da", "da", "en", "da"],
            "cost_usd": [3.0, 1.0, 0.5, 0.25, 7.0],
        }
    )
    plan = planned(widths, estimate)
    assert plan.columns[:6] == CONTRACT and plan.schema == pl.Schema(PLAN_SCHEMA)
    row = {planned_row["measure"]: planned_row for planned_row in plan.iter_rows(named=True)}
    response = row["alignment_response"]
    assert (
        response["prompts_per_seed_needed"] == 1200
        and response["usd"] == 4.0
        and response["usd_needed"] == 16.0
    )
    assert response["doubled_prompts_ratio"] == pytest.approx(root)
    assert response["seeds_needed"] is None and "more seeds do not narrow it" in response["note"]
    assert response["note"].startswith("calibrated")
    topic = row["alignment_topic"]
    assert topic["prompts_per_seed_needed"] is None and "did not narrow" in topic["note"]
    total = row["us_minus_native"]
    assert total["prompts_per_seed_needed"] == 600  # 300 * (0.2 / 0.1)^(1/1)
    assert total["seeds_needed"] == 12  # 3 * (0.2 / 0.1)^2
    slope = row["rq1_capability_slope"]
    assert slope["model"] is None and slope["usd"] == 4.0  # the survey's cost of the RQ1 models
    assert slope["prompts_per_seed_needed"] == 300
    refusal = row["refusal"]
    assert refusal["prompts_per_seed_needed"] is None and refusal["usd"] == 0.5  # every attack's stages
    assert "about 45 answers would reach the target" in refusal["note"]
    gap = row["refusal_gap"]
    assert gap["half_width"] is None and gap["usd"] == 0.5 + 0.25  # both languages' safety stages
    assert gap["note"].startswith("no interval in the simulation")
    numbers = plan.select(pl.selectors.float())
    assert not any(
        numbers[column].is_nan().any() or numbers[column].is_infinite().any() for column in numbers.columns
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("precision")
    result = snakemake(
        folder, "plan_precision", "results/alignment.parquet", "results/consistency.parquet", config=CONFIG
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return folder


def test_plan_precision_is_asked_for_not_part_of_all(study):
    rest = snakemake(study, "--dry-run", "--forceall")
    assert rest.returncode == 0, rest.stderr[-3000:]
    assert "plan_precision" not in rest.stdout and "score_run" in rest.stdout


def test_the_plan_predicts_the_half_widths_of_a_real_run_within_20_percent(study):
    consistency = pl.read_parquet(study / "results" / "consistency.parquet").filter(
        pl.col("model") == "half-native"
    )
    assert consistency["consistency"].mean() == pytest.approx(0.5, abs=0.1)  # the design the planner assumes
    reported = (
        pl.read_parquet(study / "results" / "alignment.parquet")
        .filter(
            (pl.col("model") == "half-native")
            & (pl.col("level") == "language")
            & (pl.col("group") == pl.col("language"))
        )
        .group_by("language", "unit")
        .agg(((pl.col("ci_high") - pl.col("ci_low")) / 2).mean().alias("reported"))
    )
    plan = pl.read_csv(study / "results" / "precision_plan.csv", infer_schema_length=None)
    assert plan.columns[:6] == CONTRACT
    predicted = plan.filter(pl.col("model") == "half-native").select(
        pl.col("measure").str.strip_prefix("alignment_").alias("unit"), "language", "half_width"
    )
    compared = reported.join(predicted, on=["language", "unit"])
    assert compared.height == len(CONFIG["languages"]) * 2
    for language, unit, real, planned_width in compared.iter_rows():
        assert planned_width == pytest.approx(real, rel=0.2), (language, unit)
    no_width = plan.filter(pl.col("half_width").is_null())
    assert no_width["note"].str.contains("RQ1 not fitted").all() and no_width.height == 1
