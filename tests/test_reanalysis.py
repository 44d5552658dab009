"""Re-analysis of released judged responses: the DAG skips generation and judging."""

import numpy as np
import polars as pl
import pytest
from scipy import stats
from test_workflow import snakemake

ITEMS = ["d059", "e035", "f118", "f120", "f121", "e069_04", "e069_20", "h010"]
COUNTRIES = ["US", "DK", "NL"]


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
    for model, family in [("gpt-x", "openai"), ("gemma-y", "gemma")]:
        for language in ["da", "nl"]:
            for index in range(40):
                rows.append(
                    {
                        "model": model,
                        "family": family,
                        "language": language,
                        "item": ITEMS[index % len(ITEMS)].upper()
                        if index % 5 == 0
                        else ITEMS[index % len(ITEMS)],
                        "pro_score": float(rng.integers(0, 11) / 10),
                        # every seventh response came back in English and must be filtered out
                        "response_language": "en" if index % 7 == 3 else language,
                        "prompt_id": f"{language}-{index}",
                    }
                )
    imported = pl.DataFrame(rows)
    imported.write_parquet(folder / "judged.parquet")
    config = {
        "survey": {"aggregated": "aggregated.csv", "countries": COUNTRIES},
        "languages": ["da", "nl"],
        "judged_import": "judged.parquet",
        "regression": {"rq2": {"native_countries": {"da": ["DK"], "nl": ["NL"]}}},
    }
    targets = ["results/alignment.parquet", "results/filtering.parquet", "results/regression/rq2_totals.csv"]
    result = snakemake(folder, *targets, config=config)
    assert result.returncode == 0, result.stderr[-4000:]
    return folder, imported.with_columns(pl.col("item").str.to_lowercase()), population


def test_response_level_spearman_matches_scipy(reanalysis):
    folder, imported, population = reanalysis
    alignment = pl.read_parquet(folder / "results" / "alignment.parquet")
    checked = 0
    for model in ["gpt-x", "gemma-y"]:
        for language in ["da", "nl"]:
            kept = imported.filter(
                (pl.col("model") == model)
                & (pl.col("language") == language)
                & (pl.col("response_language") == language)
            )
            for country in COUNTRIES:
                scores = population.filter(pl.col("group") == country).select(
                    "item", pl.col("pro_score").alias("truth")
                )
                paired = kept.join(scores, on="item")
                expected = stats.spearmanr(paired["pro_score"], paired["truth"]).statistic
                row = alignment.filter(
                    (pl.col("model") == model)
                    & (pl.col("language") == language)
                    & (pl.col("group") == country)
                    & (pl.col("unit") == "response")
                ).row(0, named=True)
                assert row["spearman"] == pytest.approx(expected, abs=1e-12)
                assert row["n"] == paired.height == 34
                checked += 1
    assert checked == 12
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
    assert set(totals["model"]) == {"gpt-x", "gemma-y", "uniform"}
    assert (totals["ci_low"] <= totals["us_minus_native"]).all()
