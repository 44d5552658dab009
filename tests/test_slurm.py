"""profiles/slurm on a real single-node SLURM cluster (tests/slurm_cluster.py): a study with a
vLLM model and a vLLM judge runs through snakemake-executor-plugin-slurm, and the controller's
record of each submitted job shows the resources as the profile maps them.

The profile is used as the README tells a user to: its account and partitions set, and its GPU
jobs' CPUs and memory sized to the node (this one has two cores and one fake A100). Snakemake runs
in the vLLM virtualenv, like test_vllm_workflow, so that the GPU jobs really load a (tiny) model."""

import re
import subprocess

import polars as pl
import pytest
import yaml
from slurm_cluster import slurm_cluster, unavailable
from vllm_venv import ENGINE, ENVIRONMENT, OFFLINE, run

from conftest import REPO

pytestmark = [pytest.mark.vllm, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]
PROMPTS = 4
NODE_CPUS = 2
GPU_JOB = {"cpus_per_gpu": NODE_CPUS, "mem_mb": 6000}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as environment:
        yield environment


@pytest.fixture(scope="module")
def python():
    from vllm_venv import vllm_python

    return vllm_python(REPO)


def edited_profile(folder):
    """profiles/slurm with what the README asks a user to set, sized to this node."""
    text = (REPO / "profiles/slurm/config.yaml").read_text()
    text = text.replace("YOUR_ACCOUNT", "culturalign").replace("YOUR_CPU_PARTITION", "main")
    text = text.replace("YOUR_GPU_PARTITION", "main").replace(
        "# slurm-status-command", "slurm-status-command"
    )
    profile = yaml.safe_load(text)
    for rule in ("generate_vllm", "llm_judge_vllm"):
        profile["set-resources"][rule] |= GPU_JOB
    profile["cores"] = NODE_CPUS
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return profile


def recorded_jobs(environment):
    """Every job the controller remembers, as a dict of scontrol's fields."""
    listing = subprocess.run(
        ["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True, env=environment, check=True
    ).stdout
    return [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in listing.splitlines() if line.strip()]


def test_the_study_runs_through_the_slurm_profile_with_the_gpu_jobs_as_mapped(cluster, python, tmp_path):
    built = run(python, REPO / "tests/tiny_llm.py", tmp_path / "model")
    assert built.returncode == 0, built.stderr[-3000:]
    profile = edited_profile(tmp_path / "profile")
    study = tmp_path / "study"
    study.mkdir()
    # a throughput, so that the GPU jobs' time requests are derived from the work they have
    tiny = {"backend": "vllm", "model": str(tmp_path / "model"), "engine": ENGINE | {"max_model_len": 4096}}
    tiny |= {"requests_per_minute": 2, "startup_minutes": 3}
    config = {
        "survey": {
            "path": "data/survey.sav",
            "countries": ["US", "DK"],
            "synthetic": {"enabled": True, "seed": 1, "respondents_per_country": 100},
        },
        "languages": ["en", "da"],
        "seeds": [0],
        "prompts_per_seed": PROMPTS,
        "judges": {"primary": "tiny-judge"},
        "safety": {"enabled": False},  # the safety stage's vLLM jobs are tested in test_vllm_workflow.py
        "models": {
            "uniform": {"backend": "simulated", "respondent": "uniform"},
            "tiny": tiny | {"sampling": {"max_tokens": 24}, "capability": {"en": 0.5, "da": 0.4}},
            "tiny-judge": tiny | {"evaluate": False},
        },
    }
    (study / "config.yaml").write_text(yaml.safe_dump(config))
    targets = ["results/alignment.parquet", "results/language_fidelity.csv", "results/ledger.csv"]
    result = subprocess.run(
        [python, "-m", "snakemake", "--snakefile", REPO / "Snakefile", "--directory", study,
         "--configfile", study / "config.yaml", "--workflow-profile", tmp_path / "profile", *targets],
        env=cluster | ENVIRONMENT | OFFLINE, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-6000:]
    for target in targets:
        assert (study / target).stat().st_size > 0
    assert pl.read_parquet(study / "results/alignment.parquet")["model"].unique().sort().to_list() == [
        "tiny",
        "uniform",
    ]

    jobs = recorded_jobs(cluster)
    assert jobs and all(job["JobState"] == "COMPLETED" for job in jobs), jobs
    by_rule = {}
    for job in jobs:
        rule = re.match(r"rule_(\w+?)(_wildcards_|$)", job["Comment"]).group(1)
        by_rule.setdefault(rule, []).append(job)
    # API, per-run generation, copies and aggregates are local rules: never submitted
    assert set(by_rule) == {
        "synthetic_survey", "survey_respondents", "ground_truth", "prompts",
        "generate_vllm", "llm_judge_vllm", "run_answer_and_score_run_score_run",
    }  # fmt: skip
    # one cluster job (group "run") carries the scoring jobs of up to 25 runs (here the tiny model's
    # score_run and the uniform baseline's answer_and_score_run), two at a time: the profile's
    # `cores` caps the CPUs a group asks for, and with them its memory
    (group,) = by_rule["run_answer_and_score_run_score_run"]
    per_run = profile["set-resources"]["score_run"]
    assert group["NumCPUs"] == str(NODE_CPUS), group
    assert group["MinMemoryNode"] == f"{NODE_CPUS * per_run['mem_mb']}M", group

    for rule in ("generate_vllm", "llm_judge_vllm"):
        (job,) = by_rule[rule]
        assert "CpusPerTres" in job, job
        assert job["TresPerJob"] == "gres:gpu:a100:1"  # gpu: the model's `gpus` (1); gpu_model: a100
        assert job["CpusPerTres"] == f"gres:gpu:{GPU_JOB['cpus_per_gpu']}"
        assert job["MinMemoryNode"] == f"{GPU_JOB['mem_mb']}M"
        assert job["Partition"] == "main" and job["Account"] == "culturalign"
        assert job["Requeue"] == "1"  # a preempted GPU job goes back to the queue
    # startup_minutes + uncached requests / requests_per_minute: tiny's 2 runs of PROMPTS prompts,
    # and the judge's as many answers (the uniform baseline's go to the simulated reader)
    assert "runtime" not in profile["set-resources"]["generate_vllm"]
    for rule in ("generate_vllm", "llm_judge_vllm"):
        (job,) = by_rule[rule]
        assert job["TimeLimit"] == _duration(f"{3 + 2 * PROMPTS // 2}m"), (rule, job["TimeLimit"])
    for job in by_rule["prompts"]:
        assert job["TimeLimit"] == _duration(profile["default-resources"]["runtime"])
        assert job["MinMemoryNode"] == f"{profile['default-resources']['mem_mb']}M"
        assert "TresPerJob" not in job and job["NumCPUs"] == "1"


def _duration(runtime: str) -> str:
    """A profile's runtime ("30m", "6h") as scontrol writes a time limit."""
    minutes = int(runtime[:-1]) * {"m": 1, "h": 60}[runtime[-1]]
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"
