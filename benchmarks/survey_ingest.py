"""Survey ingest benchmark: a full-scale synthetic EVS/WVS joint file (.sav) to ground truth.

    python benchmarks/survey_ingest.py [--respondents 150000] [--variables 206] [--repeats 3]

Writes benchmarks/results/survey_ingest.json and prints a summary. Each measurement runs in a
fresh process, so its peak memory (ru_maxrss) is its own. Target (issue 2): ingest to ground truth
in at most 15 s and 3 GB on 2 cores. Baseline: pandas.read_spss of the whole file.
"""

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COUNTRIES = ["US", "GB", "CA", "AU", "NZ", "DK", "NL", "PT", "BR"]
BASE_VARIABLES = 9  # S002VS, S003, S020, cntry_AN, lnge_iso, X001, X003, gwght, pwght


def measure(task: str, path: str) -> dict:
    """Run one task in this process and report its wall time and peak memory."""
    from culturalign.items import load_items, select_items
    from culturalign.survey import ground_truth, ingest_survey, survey_consistency

    items = select_items(load_items(REPO / "resources" / "items.yaml"), "scored")
    start = time.perf_counter()
    if task == "ingest":
        respondents = ingest_survey(path, items, countries=COUNTRIES)
        rows = ground_truth(respondents, COUNTRIES).height
    elif task == "consistency":
        respondents = ingest_survey(path, items, countries=COUNTRIES)
        start = time.perf_counter()
        rows = survey_consistency(respondents, COUNTRIES).height
    elif task == "read_spss":
        import pandas as pd

        rows = len(pd.read_spss(path))
    else:
        raise ValueError(task)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rows": rows}


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss: Linux carries that across exec, so a
    child would inherit the peak of the benchmark process that started it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_measurement(task: str, path: Path) -> dict:
    started = time.perf_counter()
    output = subprocess.run(
        [sys.executable, __file__, "--measure", task, str(path)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output) | {"process_seconds": time.perf_counter() - started}


def summarise(runs: list[dict]) -> dict:
    return {
        "median_seconds": statistics.median(run["seconds"] for run in runs),
        "median_process_seconds": statistics.median(run["process_seconds"] for run in runs),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--respondents", type=int, default=150_003)
    parser.add_argument("--variables", type=int, default=206)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-repeats", type=int, default=1)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "survey_ingest.json")
    parser.add_argument("--measure", nargs=2, metavar=("TASK", "PATH"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        print(json.dumps(measure(*arguments.measure)))
        return

    from culturalign.items import load_items
    from culturalign.synthetic_survey import synthetic_microdata, write_sav

    items = load_items(REPO / "resources" / "items.yaml")
    per_country = -(-arguments.respondents // len(COUNTRIES))
    extra = max(0, arguments.variables - BASE_VARIABLES - len(items))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "joint.sav"
        started = time.perf_counter()
        microdata = synthetic_microdata(items, COUNTRIES, per_country, seed=0, extra_variables=extra)
        write_sav(microdata, path, items)
        shape = microdata.shape
        del microdata
        written = time.perf_counter() - started
        print(f"synthetic joint file: {shape[0]} respondents x {shape[1]} variables, "
              f"{path.stat().st_size / 1e6:.0f} MB, written in {written:.1f} s", flush=True)  # fmt: skip
        results = {}
        for task, repeats in [
            ("ingest", arguments.repeats),
            ("consistency", arguments.repeats),
            ("read_spss", arguments.baseline_repeats),
        ]:
            results[task] = summarise([run_measurement(task, path) for _ in range(repeats)])
            print(
                f"{task:12s} median {results[task]['median_seconds']:6.2f} s "
                f"(whole process {results[task]['median_process_seconds']:6.2f} s), "
                f"peak {results[task]['peak_rss_mb']:6.0f} MB",
                flush=True,
            )
        size_mb = path.stat().st_size / 1e6
    ratio = results["read_spss"]["median_seconds"] / results["ingest"]["median_seconds"]
    memory_ratio = results["read_spss"]["peak_rss_mb"] / results["ingest"]["peak_rss_mb"]
    print(
        f"ingest to ground truth: {ratio:.1f}x faster than pandas.read_spss, {memory_ratio:.1f}x less memory"
    )
    report = {
        "file": {
            "respondents": shape[0],
            "variables": shape[1],
            "megabytes": size_mb,
            "written_seconds": written,
        },
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "target": {"ingest_seconds": 15, "ingest_peak_rss_mb": 3072},
        "met": results["ingest"]["median_seconds"] <= 15 and results["ingest"]["peak_rss_mb"] <= 3072,
        "speedup_vs_read_spss": ratio,
        "memory_ratio_vs_read_spss": memory_ratio,
        **results,
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {arguments.output}")


if __name__ == "__main__":
    main()
