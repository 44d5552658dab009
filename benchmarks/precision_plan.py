"""Cold precision plan of the embedded default (config.yaml) on this machine, before anything is sent.

    python benchmarks/precision_plan.py [--cores 2] [--repeats 1]

Runs `snakemake --cores N plan_precision` in an empty study folder with the shipped config.yaml,
so that everything the planner reads is built first (synthetic survey, ground truth, prompts,
safety prompts, cost estimate), Snakemake's start included, and writes
benchmarks/results/precision_plan.json.
Target (issue 21): under 60 s with --cores 2.
"""

import re
from pathlib import Path

from demo_run import benchmark, cold_run

TARGET_SECONDS = 60


def planned(study: Path) -> dict:
    """The planner's own seconds (from its log) and how many measures it planned."""
    log = (study / "logs" / "plan_precision.log").read_text()
    return {
        "planner_seconds": float(re.search(r"planned from \d+ simulations in ([\d.]+) s", log).group(1)),
        "measures": len((study / "results" / "precision_plan.csv").read_text().splitlines()) - 1,
    }


if __name__ == "__main__":
    benchmark(
        "precision_plan",
        __doc__,
        TARGET_SECONDS,
        lambda cores: cold_run(cores, "plan_precision", measured=planned),
    )
