"""Real models through the DAG, against a real local OpenAI-compatible server: the direct and
Batch API paths, the cost estimate, a refused key, a SIGKILL halfway, and no key in any file."""

import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from openai_server import FakeOpenAI

from conftest import REPO, snakemake, snakemake_command

KEY = "sk-culturalign-test-9f8e7d6c5b4a"
API_MODEL = "gpt-4o-mini-2024-07-18"  # priced in resources/prices.csv: 0.15 / 0.60 USD per million
LANGUAGES = ["en", "da"]
PROMPTS = 40


def study_config(base_url: str, models: dict, seeds=(0,)) -> dict:
    return {
        "survey": {
            "path": "data/survey.sav",
            "countries": ["US", "DK"],
            "synthetic": {"enabled": True, "seed": 1, "respondents_per_country": 200},
            "consistency": {"repeats": 20},
        },
        "languages": LANGUAGES,
        "seeds": list(seeds),
        "prompts_per_seed": PROMPTS,
        "safety": {"enabled": False},
        "regression": {"rq2": {"native_countries": {"da": ["DK"]}}},
        "models": {
            "uniform": {"backend": "simulated", "respondent": "uniform"},
            **{
                slug: {"backend": "openai", "model": API_MODEL, "base_url": base_url} | settings
                for slug, settings in models.items()
            },
        },
    }


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI(api_key=KEY, models=(API_MODEL,), batch_seconds=0.5) as running:
        yield running


def total_answered(server) -> int:
    return sum(server.answered.values())


def test_direct_and_batch_models_run_through_the_dag_and_bill_the_ledger(server, tmp_path):
    # Another temperature: the same model at the same settings would share the cache.
    batch = {"batch": True, "poll_seconds": 0.1, "sampling": {"temperature": 0.5}}
    config = study_config(server.base_url, {"gpt": {}, "gpt-batch": batch})
    result = snakemake(tmp_path, config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "need an LLM judge" in result.stderr
    runs = len(LANGUAGES) * 2  # two real models, one seed
    assert total_answered(server) == runs * PROMPTS and server.batch_lines_submitted == 2 * PROMPTS
    for model in ("gpt", "gpt-batch"):
        for language in LANGUAGES:
            responses = pl.read_parquet(tmp_path / f"results/responses/{model}/{language}/0.parquet")
            assert responses.height == PROMPTS and responses["error"].null_count() == PROMPTS
            assert responses["text"].str.starts_with("Summaries:").all() and not responses["cached"].any()
    ledger = pl.read_csv(tmp_path / "results/ledger.csv").filter(pl.col("model") != "uniform")
    assert ledger["requests"].to_list() == [PROMPTS] * runs and ledger["cached"].sum() == 0
    expected = (ledger["prompt_tokens"] * 0.15 + ledger["completion_tokens"] * 0.60) / 1e6
    discount = pl.Series([1.0, 1.0, 0.5, 0.5])
    assert ledger["cost_usd"].to_list() == pytest.approx((expected * discount).to_list())
    assert not (tmp_path / "results/judged").exists()
    assert "gpt: 100%|" in (tmp_path / "logs/generate/gpt/da/0.log").read_text()  # the progress bar
    assert "collected batch" in (tmp_path / "logs/generate/gpt-batch/da/0.log").read_text()

    # a new seed sends only the new seed's requests
    config["seeds"] = [0, 1]
    result = snakemake(tmp_path, config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert total_answered(server) == 2 * runs * PROMPTS
    assert server.batch_lines_submitted == 4 * PROMPTS

    # the key is in no file the run wrote
    written = [
        path for folder in ("results", ".snakemake", "logs") for path in (tmp_path / folder).rglob("*")
    ]
    assert len(written) > 50
    leaking = [path for path in written if path.is_file() and KEY.encode() in path.read_bytes()]
    assert leaking == []
    assert KEY not in result.stdout + result.stderr


def test_the_cost_estimate_sends_nothing(server, tmp_path):
    config = study_config(
        server.base_url, {"gpt": {"sampling": {"max_tokens": 100}}, "gpt-batch": {"batch": True}}
    )
    result = snakemake(tmp_path, "estimate_cost", config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert total_answered(server) == 0 and not server.batches
    estimate = pl.read_csv(tmp_path / "results/cost_estimate.csv")
    assert estimate["requests"].to_list() == [PROMPTS] * 4
    per_model = estimate.group_by("model").agg(pl.col("completion_tokens").sum(), pl.col("cost_usd").sum())
    tokens = dict(per_model.select("model", "completion_tokens").iter_rows())
    assert tokens == {"gpt": 100 * 2 * PROMPTS, "gpt-batch": 600 * 2 * PROMPTS}  # max_tokens bounds
    prompts = pl.concat(
        pl.read_parquet(tmp_path / f"results/prompts/{language}/0.parquet") for language in LANGUAGES
    )
    assert estimate.filter(model="gpt")["prompt_tokens"].sum() == pytest.approx(
        prompts["text"].str.len_chars().sum() / 4 + 4 * prompts.height, rel=0.01
    )
    assert "Total: $" in result.stdout


def test_a_refused_key_fails_fast_naming_the_model_never_the_key(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-0123456789")
    config = study_config(server.base_url, {"gpt": {}})
    config["languages"] = ["en"]
    started = time.monotonic()
    result = snakemake(tmp_path, config=config)
    assert result.returncode != 0 and time.monotonic() - started < 120
    log = (tmp_path / "logs/generate/gpt/en/0.log").read_text()
    assert "models.gpt: the server at" in log and "refused the API key from OPENAI_API_KEY (HTTP 401)" in log
    assert "sk-wrong" not in log + result.stdout + result.stderr
    assert sum(server.attempts.values()) == 0  # refused before any prompt was answered


def start_snakemake(study: Path, *arguments) -> subprocess.Popen:
    return subprocess.Popen(
        snakemake_command(study, *arguments),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes the job with it
    )  # fmt: skip


def kill_when(process: subprocess.Popen, ready, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the workflow ended before the kill"
        assert time.monotonic() < deadline, "never got halfway"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("path", ["direct", "batch"])
def test_a_killed_generation_job_resumes_without_paying_twice(path, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI(api_key=KEY, models=(API_MODEL,), latency=0.05, batch_seconds=8) as server:
        settings = {"concurrency": 2} if path == "direct" else {"batch": True, "poll_seconds": 0.2}
        config = study_config(server.base_url, {"gpt": settings})
        config["languages"] = ["en"]
        config["prompts_per_seed"] = 120
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
        running = start_snakemake(tmp_path, "generation")
        if path == "direct":
            kill_when(running, lambda: total_answered(server) >= 60)
        else:
            kill_when(
                running, lambda: any(batch["status"] == "in_progress" for batch in server.batches.values())
            )
        assert not (tmp_path / "results/responses/gpt/en/0.parquet").exists()
        time.sleep(0.5)  # let the server finish the answers that were in flight
        answered_before = total_answered(server)
        with sqlite3.connect(tmp_path / "results/cache/completions.sqlite") as cache:
            cached_before = cache.execute("SELECT count(*) FROM completions").fetchone()[0]

        # as after any kill: release Snakemake's lock, then run again
        assert snakemake(tmp_path, "--unlock").returncode == 0
        result = snakemake(tmp_path, "generation")
        assert result.returncode == 0, result.stderr[-3000:]
    responses = pl.read_parquet(tmp_path / "results/responses/gpt/en/0.parquet")
    assert responses.height == 120 and responses["error"].null_count() == 120
    assert responses["cached"].sum() == cached_before
    if path == "direct":
        # Nothing cached is asked again; the only repeats are the answers in flight at the kill,
        # which the server sent but the killed job never received.
        in_flight = answered_before - cached_before
        # the kill came once the server had answered 60; up to `concurrency` of them never reached the cache
        assert answered_before >= 60 and 0 < cached_before < 120 and 0 <= in_flight <= settings["concurrency"]
        assert total_answered(server) == 120 + in_flight
    else:
        assert answered_before == 0 and cached_before == 0
        assert total_answered(server) == 120  # each request answered (and paid) once
        assert server.batch_lines_submitted == 120 and len(server.batches) == 1
    ledger = pl.read_csv(tmp_path / "results/ledger/generate/gpt/en/0.csv")
    assert ledger["requests"].item() == 120 and ledger["cached"].item() == responses["cached"].sum()


def test_api_jobs_claim_their_requests_in_flight_against_the_workstation_budget(tmp_path):
    config = study_config("http://127.0.0.1:9/v1", {"gpt": {"concurrency": 32}, "gpt-batch": {"batch": True}})
    config["models"]["gpt-wide"] = config["models"]["gpt"] | {"concurrency": 500}
    result = snakemake(tmp_path, "--dry-run", "generation", config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    claims = dict(
        re.findall(
            r"output: results/responses/([\w-]+)/en/0\.parquet.*?api_requests=(\d+)",
            result.stdout,
            flags=re.S,
        )
    )
    # a batch job keeps nothing in flight; one job never claims more than the whole budget (64)
    assert claims == {"gpt": "32", "gpt-batch": "0", "gpt-wide": "64", "uniform": "0"}


def test_a_vllm_model_loads_once_for_all_its_languages_and_seeds(tmp_path):
    config = study_config("unused", {}, seeds=(0, 1))
    config["models"]["llama"] = {"backend": "vllm", "model": "/models/tiny", "gpus": 2}
    result = snakemake(tmp_path, "--dry-run", "generation", config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    assert counts["generate_vllm"] == "1" and counts["generate"] == str(2 * len(LANGUAGES) * 2)
    # the workstation profile caps GPUs at the machine's (1) and runs one vLLM engine at a time
    assert re.search(r"rule generate_vllm:.*?resources: .*gpu=1, vllm_engines=1", result.stdout, flags=re.S)
    # on the cluster the job asks for the model's two GPUs (its tensor parallel size)
    profile = ("--workflow-profile", REPO / "profiles/slurm")
    result = snakemake(tmp_path, "--dry-run", *profile, "generation", config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    (resources,) = re.findall(r"rule generate_vllm:.*?resources: ([^\n]*)", result.stdout, flags=re.S)
    assert {"gpu=2", "gpu_model=a100", "cpus_per_gpu=8", "mem_mb=64000"} <= set(resources.split(", "))
