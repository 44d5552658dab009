"""Statistics-stage benchmark: RQ1 (lme4 through pymer4, plus statsmodels) and RQ2 (OLS and the
response-bootstrap US-minus-native totals) at study scale.

    python benchmarks/statistics_stage.py [--models 9] [--languages 4] [--countries 13] [--responses 300]

Builds polarity for models x languages x seeds runs of `--responses` responses (10 statements
each, stances drawn from known probabilities), a ground truth of `--countries` countries, the
alignment and consistency tables, then times each regression in a fresh process, as its rule runs
it (interpreter and R start-up included). Writes benchmarks/results/statistics.json.
Target (issue 16): the whole statistics stage (per-run alignment bootstrap of every run, RQ1 and
RQ2, R start included) in at most 20 s on 2 cores, with B = 1000. The runs' self-consistency with
its sampling interval (200 resamples) is timed beside it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
COUNTRIES = ["US", "GB", "CA", "AU", "NZ", "IE", "DK", "NL", "SE", "DE", "PT", "BR", "ES", "FR", "IT", "PL"]
LANGUAGES = ["en", "da", "nl", "pt", "de", "fr", "es", "it"]
NATIVE = {
    "da": ["DK"],
    "nl": ["NL"],
    "pt": ["PT", "BR"],
    "de": ["DE"],
    "fr": ["FR"],
    "es": ["ES"],
    "it": ["IT"],
}
FORMULA = "alignment ~ 1 + consistency:language + capability:family:language + (1 | model)"


def measure_rq1(folder: str) -> None:
    from culturalign.regression import (
        fit_lme4,
        fit_statsmodels,
        rq1_observations,
        without_single_level_factors,
    )

    data = rq1_observations(
        pl.read_parquet(f"{folder}/alignment.parquet"),
        pl.read_parquet(f"{folder}/consistency.parquet"),
        pl.read_parquet(f"{folder}/capabilities.parquet"),
    )
    formula = without_single_level_factors(FORMULA, data)
    for fit in (fit_lme4, fit_statsmodels):
        fit(data, formula)


def measure_rq2(folder: str) -> None:
    from culturalign.regression import fit_rq2, rq2_alignment, us_minus_native

    native, runs = json.loads(Path(folder, "rq2.json").read_text())
    polarity = [
        (model, language, seed, pl.read_parquet(f"{folder}/polarity/{model}_{language}_{seed}.parquet"))
        for model, language, seed in runs
    ]
    rq2 = rq2_alignment(polarity, pl.read_parquet(f"{folder}/ground_truth.parquet"), native, resamples=1000)
    fit_rq2(rq2.observations.filter(pl.col("model") != "uniform"))
    us_minus_native(rq2)


def build_inputs(
    folder: Path, models: int, languages: list[str], countries: list[str], seeds: int, responses: int
):
    from culturalign.alignment import alignment, model_consistency
    from culturalign.items import load_items, select_items

    rng = np.random.default_rng(0)
    items = sorted(select_items(load_items(REPO / "resources" / "items.yaml"), "scored"))
    base = rng.normal(0, 1.3, len(items))
    groups = (
        [("country", c) for c in countries]
        + [("language", lang) for lang in languages]
        + [("global", "global")]
    )
    truth = pl.DataFrame(
        [
            (level, group, item, float(1 / (1 + np.exp(-(b + rng.normal(0, 0.5))))))
            for level, group in groups
            for item, b in zip(items, base, strict=True)
        ],
        schema=["level", "group", "item", "pro_score"],
        orient="row",
    )
    truth.write_parquet(folder / "ground_truth.parquet")
    (folder / "polarity").mkdir()
    names = ["uniform"] + [f"model-{i}" for i in range(1, models)]
    parts, consistency, capabilities, runs = [], [], [], []
    alignment_seconds = consistency_seconds = 0.0
    for index, model in enumerate(names):
        family = "simulated" if model == "uniform" else ["gpt", "gemma", "llama"][index % 3]
        for language in languages:
            capability = rng.uniform(0.3, 0.9)
            capabilities.append((model, language, capability))
            target = truth.filter((pl.col("level") == "language") & (pl.col("group") == language))[
                "pro_score"
            ].to_numpy()
            probability = (
                np.full(len(items), 0.5)
                if model == "uniform"
                else capability * target + (1 - capability) * 0.5
            )
            for seed in range(seeds):
                item_index = np.arange(responses) % len(items)
                pro = rng.binomial(10, probability[item_index])
                polarity = pl.DataFrame(
                    {
                        "prompt_id": [f"{seed}-{k}" for k in range(responses)],
                        "item": [items[i] for i in item_index],
                        "pro": pro,
                        "con": 10 - pro,
                        "null": 0,
                        "pro_score": pro / 10,
                    }
                )
                polarity.write_parquet(folder / "polarity" / f"{model}_{language}_{seed}.parquet")
                runs.append((model, language, seed))
                started = time.perf_counter()
                parts.append(
                    alignment(
                        polarity,
                        truth,
                        model=model,
                        family=family,
                        language=language,
                        seed=seed,
                        resamples=1000,
                    )
                )
                alignment_seconds += time.perf_counter() - started
                started = time.perf_counter()
                consistency.append(model_consistency(polarity, model=model, language=language, seed=seed))
                consistency_seconds += time.perf_counter() - started
    pl.concat(parts).write_parquet(folder / "alignment.parquet")
    pl.concat(consistency).write_parquet(folder / "consistency.parquet")
    pl.DataFrame(capabilities, schema=["model", "language", "capability"], orient="row").write_parquet(
        folder / "capabilities.parquet"
    )
    return runs, alignment_seconds, consistency_seconds


def timed(task: str, folder: str) -> float:
    """Wall time of one regression in a fresh process, as its rule runs it."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, __file__, "--measure", task, folder], capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"{task} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=9)
    parser.add_argument("--languages", type=int, default=4)
    parser.add_argument("--countries", type=int, default=13)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--responses", type=int, default=300)
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed fits of each regression; the median counts"
    )
    parser.add_argument(
        "--output", type=Path, default=REPO / "benchmarks" / "results" / "statistics_stage.json"
    )
    parser.add_argument("--measure", nargs=2, metavar=("TASK", "FOLDER"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        task, folder = arguments.measure
        {"rq1": measure_rq1, "rq2": measure_rq2}[task](folder)
        return
    languages = LANGUAGES[: arguments.languages]
    countries = COUNTRIES[: arguments.countries]
    native = {language: NATIVE[language] for language in languages if language in NATIVE}
    with tempfile.TemporaryDirectory() as folder:
        runs, alignment_seconds, consistency_seconds = build_inputs(
            Path(folder), arguments.models, languages, countries, arguments.seeds, arguments.responses
        )
        Path(folder, "rq2.json").write_text(json.dumps([native, [run for run in runs if run[1] in native]]))
        rq1_runs = [timed("rq1", folder) for _ in range(arguments.repeats)]
        rq2_runs = [timed("rq2", folder) for _ in range(arguments.repeats)]
    rq1_seconds, rq2_seconds = statistics.median(rq1_runs), statistics.median(rq2_runs)
    report = {
        "scale": {
            "models": arguments.models,
            "languages": languages,
            "countries": len(countries),
            "seeds": arguments.seeds,
            "responses_per_run": arguments.responses,
            "bootstrap": 1000,
        },
        "machine_cpus": os.cpu_count(),
        "rq1_seconds": rq1_seconds,
        "rq2_seconds": rq2_seconds,
        "rq1_runs": rq1_runs,
        "rq2_runs": rq2_runs,
        "statistics_stage_seconds": alignment_seconds + rq1_seconds + rq2_seconds,
        "alignment_bootstrap_all_runs_seconds": alignment_seconds,
        "self_consistency_all_runs_seconds": consistency_seconds,
        "target_seconds": 20,
        "met": alignment_seconds + rq1_seconds + rq2_seconds <= 20,
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
