"""Re-analysis of released judged responses: the DAG skips generation and judging."""

import itertools

import numpy as np
import polars as pl
import pytest
from scipy import stats

from conftest import snakemake

ITEMS = ["d059", "e035", "f118", "f120", "f121", "e069_04", "e069_20", "h010"]
COUNTRIES = ["US", "DK", "NL"]
MODELS = {"gpt-x": "openai", "gemma-y": "gemma", "gemma-z": "gemma"}
SEEDS = [0, 1]


@pytest.fixture(scope="module")
def reanalysis(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reanalysis")
    rng = np.random.default_rng(4)
    population = pl.DataFrame(
        [("country", country, item, float(rng.uniform(0.1, 0.9))) for country in COUNTRIES for item in ITEMS]
        + [
            ("language", language, item, float(rng.uniform(0.1, 0.9)))
            for language in ["da", "nl"]
            for item in ITEMS
        ],
        schema=["level", "group", "item", "pro_score"],
        orient="row",
    )
    population.write_csv(folder / "aggregated.csv")
    rows = []
    for model, family in MODELS.items():
        for language, seed in itertools.product(["da", "nl"], SEEDS):
            for index in range(40):
                rows.append(
                    {
                        "model": model,
                        "family": family,
                        "language": language,
                        "seed": seed,
                        "item": ITEMS[index % len(ITEMS)].upper()
                        if index % 5 == 0
                        else ITEMS[index % len(ITEMS)],
                        "pro_score": float(rng.integers(0, 11) / 10),
                        # every seventh response came back in English and must be filtered out
                        "response_language": "en" if index % 7 == 3 else language,
                        "prompt_id": f"{language}-{seed}-{index}",
                    }
                )
    imported = pl.DataFrame(rows)
    imported.write_parquet(folder / "judged.parquet")
    config = {
        "survey": {"aggregated": "aggregated.csv", "countries": COUNTRIES},
        "languages": ["da", "nl"],
        "judged_import": "judged.parquet",
        "regression": {
            "capability_names": {"gpt-x": "GPT-4o", "gemma-y": "Gemma-2 9B", "gemma-z": "Gemma-2 27B"},
            "rq1": {"formula": "alignment ~ 0 + capability:language + (1 | model)"},
            "rq2": {"native_countries": {"da": ["DK"], "nl": ["NL"]}},
        },
    }
    result = snakemake(folder, config=config)
    assert result.returncode == 0, result.stderr[-4000:]
    return folder, imported.with_columns(pl.col("item").str.to_lowercase()), population


def test_response_level_spearman_matches_scipy(reanalysis):
    folder, imported, population = reanalysis
    alignment = pl.read_parquet(folder / "results" / "alignment.parquet")
    checked = 0
    for (model, language, seed), country in itertools.product(
        itertools.product(MODELS, ["da", "nl"], SEEDS), COUNTRIES
    ):
        kept = imported.filter(
            (pl.col("model") == model)
            & (pl.col("language") == language)
            & (pl.col("seed") == seed)
            & (pl.col("response_language") == language)
        )
        scores = population.filter(pl.col("group") == country).select(
            "item", pl.col("pro_score").alias("truth")
        )
        paired = kept.join(scores, on="item")
        expected = stats.spearmanr(paired["pro_score"], paired["truth"]).statistic
        row = alignment.filter(
            (pl.col("model") == model)
            & (pl.col("language") == language)
            & (pl.col("seed") == seed)
            & (pl.col("group") == country)
            & (pl.col("unit") == "response")
        ).row(0, named=True)
        assert row["spearman"] == pytest.approx(expected, abs=1e-12)
        assert row["n"] == paired.height == 34
        checked += 1
    assert checked == 3 * 2 * 2 * 3
    assert set(alignment["family"]) == {"openai", "gemma", "simulated"}


def test_wrong_language_rows_are_filtered_and_counted(reanalysis):
    folder, _, _ = reanalysis
    counts = pl.read_parquet(folder / "results" / "filtering.parquet")
    assert (
        (counts["responses"] == 40).all()
        and (counts["wrong_language"] == 6).all()
        and (counts["kept"] == 34).all()
    )
    assert not (folder / "results" / "responses").exists() and not (folder / "results" / "judged").exists()


def test_uniform_baseline_is_added_for_rq2(reanalysis):
    folder, _, _ = reanalysis
    totals = pl.read_csv(folder / "results" / "regression" / "rq2_totals.csv")
    assert set(totals["model"]) == {*MODELS, "uniform"}
    assert (totals["ci_low"] <= totals["us_minus_native"]).all()


def test_rq1_runs_on_imported_models(reanalysis):
    folder, _, _ = reanalysis
    fit = pl.read_csv(folder / "results" / "regression" / "rq1_fit.csv")
    assert set(fit["engine"]) == {"lme4", "statsmodels"} and (fit["models"] == 3).all()
    assert (fit["observations"] == 6).all()  # one per (model, language): seeds averaged
    rq1 = pl.read_csv(folder / "results" / "regression" / "rq1.csv")
    assert set(rq1["term"]) == {"capability:language=da", "capability:language=nl"}
