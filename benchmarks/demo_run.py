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
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 75


def jobs_with_outputs(study: Path) -> dict:
    return {"jobs_with_outputs": sum(1 for _ in (study / ".snakemake" / "metadata").iterdir())}


def cold_run(cores: int, *targets: str, measured: Callable[[Path], dict] = jobs_with_outputs) -> dict:
    """Seconds of `snakemake --cores N [targets]` on config.yaml in an empty study folder, and what
    `measured` reads in that folder before it is removed."""
    with tempfile.TemporaryDirectory() as study:
        started = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable, "-m", "snakemake", *targets,
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
        return {"seconds": seconds} | measured(Path(study))


def benchmark(name: str, description: str, target_seconds: float, run: Callable[[int], dict]) -> None:
    """The command line of a cold-run benchmark: `run(cores)` --repeats times, the median against
    the target, written to benchmarks/results/<name>.json."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / f"{name}.json")
    arguments = parser.parse_args()
    runs = []
    for _ in range(arguments.repeats):
        runs.append(run(arguments.cores))
        print(f"{name} with --cores {arguments.cores}: {runs[-1]['seconds']:.1f} s", flush=True)
    median = statistics.median(run["seconds"] for run in runs)
    report = {
        "cores": arguments.cores,
        "machine_cpus": os.cpu_count(),
        "median_seconds": median,
        "target_seconds": target_seconds,
        "met": median <= target_seconds,
        "runs": runs,
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"median {median:.1f} s (target {target_seconds} s); written to {arguments.output}")


if __name__ == "__main__":
    benchmark("demo_run", __doc__, TARGET_SECONDS, cold_run)
