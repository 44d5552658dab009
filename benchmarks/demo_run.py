"""Cold run of the embedded default (config.yaml) on this machine, as a fresh clone would run it.

    python benchmarks/demo_run.py [--cores 2] [--repeats 1]

Runs `snakemake --cores N` in an empty study folder with the shipped config.yaml, so that every
job runs (synthetic survey included), and writes benchmarks/results/demo_run.json.
Target (issue 17): at most 75 s with --cores 2 (median of --repeats 3).
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

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 75


def cold_run(cores: int) -> dict:
    with tempfile.TemporaryDirectory() as study:
        started = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable, "-m", "snakemake",
                "--snakefile", str(REPO / "Snakefile"),
                "--directory", study,
                "--configfile", str(REPO / "config.yaml"),
                "--cores", str(cores),
                "--quiet", "rules",
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(result.stderr[-3000:])
        jobs = sum(1 for _ in Path(study, ".snakemake", "metadata").iterdir())
    return {"seconds": seconds, "jobs_with_outputs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "demo_run.json")
    arguments = parser.parse_args()
    runs = []
    for _ in range(arguments.repeats):
        runs.append(cold_run(arguments.cores))
        print(
            f"cold run of config.yaml with --cores {arguments.cores}: {runs[-1]['seconds']:.1f} s", flush=True
        )
    median = statistics.median(run["seconds"] for run in runs)
    report = {
        "cores": arguments.cores,
        "machine_cpus": os.cpu_count(),
        "median_seconds": median,
        "target_seconds": TARGET_SECONDS,
        "met": median <= TARGET_SECONDS,
        "runs": runs,
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"median {median:.1f} s (target {TARGET_SECONDS} s); written to {arguments.output}")


if __name__ == "__main__":
    main()
