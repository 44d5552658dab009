"""Scale: a generated study of 20 simulated models, 10 languages and 5 seeds, planned and run.

    python benchmarks/scale.py [--models 20] [--languages 10] [--seeds 5] [--cores 2] [--plan-only]

Copies the workflow into a temporary folder and writes a study config there, then measures
`snakemake -n` (median of 3, targets: 30 s) and one cold run with `--cores N` through the
workflow's default profile. Writes benchmarks/results/scale.json.

The repository has hand-written resources for four languages (en, da, nl, pt). The other six (de,
fr, es, it, sv, fi, whose populations the synthetic survey has) get stand-ins in the copy only:
the Danish prompt templates and topics, and a phrase bank made from the English one by rotating
its letters (ROT-k, placeholders kept), so that the simulated reader tells the languages apart.
Their answers are nonsense, their shapes and sizes are real, and so is every job.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
HAND_WRITTEN = {"en": ["US", "GB"], "da": ["DK"], "nl": ["NL"], "pt": ["PT", "BR"]}
STAND_INS = {"de": ["DE"], "fr": ["FR"], "es": ["ES"], "it": ["IT"], "sv": ["SE"], "fi": ["FI"]}
PLACEHOLDER = re.compile(r"(\{[^}]*\})")


def rotated(text: str, shift: int) -> str:
    """`text` with its ASCII letters rotated by `shift`, placeholders like {person} untouched."""
    letters = string.ascii_lowercase, string.ascii_uppercase
    table = str.maketrans("".join(letters), "".join(case[shift:] + case[:shift] for case in letters))
    return "".join(
        part if PLACEHOLDER.fullmatch(part) else part.translate(table) for part in PLACEHOLDER.split(text)
    )


def rotated_bank(bank, shift: int):
    if isinstance(bank, str):
        return rotated(bank, shift)
    if isinstance(bank, list):
        return [rotated_bank(entry, shift) for entry in bank]
    if isinstance(bank, dict):
        return {key: rotated_bank(value, shift) for key, value in bank.items()}
    return bank


def copy_workflow(target: Path, languages: list[str]) -> None:
    for name in ("Snakefile", "rules", "workflow", "resources", "profiles", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(source, target / name)
    folders = target / "resources" / "languages"
    english = yaml.safe_load((folders / "en" / "phrase_bank.yaml").read_text())
    for shift, language in enumerate((lang for lang in languages if lang in STAND_INS), start=1):
        (folders / language).mkdir()
        for name in ("templates.yaml", "topics.yaml"):
            shutil.copy(folders / "da" / name, folders / language / name)
        bank = rotated_bank(english, shift)
        (folders / language / "phrase_bank.yaml").write_text(yaml.safe_dump(bank, allow_unicode=True))


def study_config(models: int, languages: list[str], seeds: int) -> dict:
    rng = np.random.default_rng(7)
    natives = HAND_WRITTEN | STAND_INS
    kinds = [
        {"respondent": "population", "population": "native"},
        {"respondent": "mixture", "mixture": {"native": 0.5, "uniform": 0.5}},
        {"respondent": "mixture", "mixture": {"US": 0.7, "native": 0.3}},
        {"respondent": "mixture", "mixture": {"global": 0.6, "native": 0.4}},
    ]
    study_models = {"uniform": {"backend": "simulated", "respondent": "uniform"}}
    for index in range(models - 1):
        capability = {language: round(float(rng.uniform(0.3, 0.9)), 2) for language in languages}
        study_models[f"model-{index + 1:02d}"] = (
            {"backend": "simulated"} | kinds[index % len(kinds)] | {"seed": index, "capability": capability}
        )
    return {
        "survey": {
            "path": "data/survey.sav",
            "countries": sorted(
                {country for language in languages for country in natives[language]} | {"US"}
            ),
            "synthetic": {"enabled": True, "seed": 0, "respondents_per_country": 1500},
        },
        "languages": languages,
        "seeds": list(range(seeds)),
        "prompts_per_seed": 300,
        "regression": {
            "rq2": {"native_countries": {lang: natives[lang] for lang in languages if lang != "en"}}
        },
        "models": study_models,
    }


def snakemake(study: Path, *arguments: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    # the copy's own package, not the installed one, which may change while the run goes on
    environment = os.environ | {"PYTHONPATH": str(study / "workflow")}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(study / "Snakefile"), "--directory",
         str(study), "--configfile", str(study / "study.yaml"), *arguments],
        capture_output=True, text=True, env=environment,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr[-4000:])
    return seconds, result


def job_seconds(study: Path) -> dict:
    """Per rule: jobs, median and total seconds from start to end, as Snakemake recorded them."""
    spans = {}
    for record in (study / ".snakemake/metadata").iterdir():
        entry = json.loads(record.read_text())
        spans.setdefault(entry["rule"], {})[entry["job_hash"]] = entry["endtime"] - entry["starttime"]
    return {
        rule: {"jobs": len(jobs), "median": statistics.median(jobs.values()), "total": sum(jobs.values())}
        for rule, jobs in sorted(spans.items())
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--languages", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--plan-only", action="store_true", help="measure the dry run only")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks/results/scale.json")
    arguments = parser.parse_args()
    languages = [*HAND_WRITTEN, *STAND_INS][: arguments.languages]
    report = {"models": arguments.models, "languages": languages, "seeds": arguments.seeds}
    with tempfile.TemporaryDirectory() as folder:
        study = Path(folder)
        copy_workflow(study, languages)
        config = study_config(arguments.models, languages, arguments.seeds)
        (study / "study.yaml").write_text(yaml.safe_dump(config))

        plans = [snakemake(study, "--dry-run", "--quiet", "rules") for _ in range(3)]
        jobs = Counter(dict(re.findall(r"^(\w+)\s+(\d+)$", plans[-1][1].stdout, flags=re.M)))
        report["jobs"] = {rule: int(count) for rule, count in jobs.items()}
        report["plan_seconds"] = statistics.median(seconds for seconds, _ in plans)
        report["plan_target_seconds"] = 30
        print(
            f"snakemake -n: {report['plan_seconds']:.1f} s for {report['jobs'].get('total')} jobs", flush=True
        )
        if not arguments.plan_only:
            seconds, _ = snakemake(study, "--cores", str(arguments.cores), "--quiet", "rules")
            report |= {"cores": arguments.cores, "machine_cpus": os.cpu_count(), "run_seconds": seconds}
            runs = int(report["jobs"]["score_run"])
            report["run_seconds_per_run"] = seconds / runs
            print(f"run with --cores {arguments.cores}: {seconds:.0f} s ({seconds / runs:.2f} s per run)")
            report["jobs_seconds"] = job_seconds(study)
            busy = sum(rule["total"] for rule in report["jobs_seconds"].values())
            report["jobs_busy_share"] = busy / (seconds * arguments.cores)
            print(f"jobs were running {report['jobs_busy_share']:.0%} of the {arguments.cores} cores' time")
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {arguments.output}")


if __name__ == "__main__":
    main()
