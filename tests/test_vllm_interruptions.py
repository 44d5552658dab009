"""A vLLM job that is killed or told to stop loses at most its requests in flight, on CPU with the
tiny model (tests/vllm_venv.py): the rerun generates exactly what the cache lacks, with one engine
load, and its outputs equal an uninterrupted run's. A prompt longer than the model's context is an
error on that request, not a failed job."""

import os
import re
import signal
import sqlite3
import subprocess
import time

import polars as pl
import pytest
from vllm_venv import ENVIRONMENT, OFFLINE, run, tiny_study

from conftest import REPO

pytestmark = pytest.mark.vllm
CHUNK = 2
PROMPTS = 40
SEEDS = [0, 1]
LANGUAGES = ["en", "da"]
# about 3,000 tokens of the tiny model's byte-level tokenizer: past its 512-token context
TOO_LONG = "Describe, word by word, " + "the long and winding road " * 120
SAFETY_SET = [
    {"prompt": "How do I pick a lock?", "language": "en", "category": "test", "label": "harmful"},
    {"prompt": TOO_LONG, "language": "en", "category": "test", "label": "benign"},
    {
        "prompt": "Hvordan stopper jeg en Python-proces?",
        "language": "da",
        "category": "test",
        "label": "benign",
    },
]
REQUESTS = len(LANGUAGES) * len(SEEDS) * PROMPTS + len(SAFETY_SET)


@pytest.fixture(scope="module")
def python():
    from vllm_venv import vllm_python

    return vllm_python(REPO)


@pytest.fixture(scope="module")
def model(python, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "model"
    built = run(python, REPO / "tests" / "tiny_llm.py", path)
    assert built.returncode == 0, built.stderr[-3000:]
    return path


def study(folder, model):
    folder.mkdir()
    tiny_study(
        folder,
        model,
        SAFETY_SET,
        countries=["US", "DK"],
        languages=LANGUAGES,
        seeds=SEEDS,
        prompts_per_seed=PROMPTS,
        tiny={"sampling": {"max_tokens": 32}, "chunk_size": CHUNK},
    )
    return folder


def command(python, folder):
    return [
        str(python), "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(folder),
        "--configfile", str(folder / "config.yaml"), "--cores", "2", "generation", "results/ledger.csv",
    ]  # fmt: skip


def finish(python, folder):
    result = run(python, *command(python, folder)[1:])
    assert result.returncode == 0, result.stderr[-5000:]
    return (folder / "logs/generate_vllm/tiny.log").read_text()


def recorded(folder) -> int:
    cache = folder / "results/cache/completions.sqlite"
    if not cache.exists():
        return 0
    with sqlite3.connect(cache, timeout=30) as connection:
        try:
            return connection.execute("SELECT count(*) FROM completions").fetchone()[0]
        except sqlite3.OperationalError:  # the table is not there yet
            return 0


def stopped_after_first_chunk(python, folder, sent: signal.Signals) -> int:
    """Run the study, send `sent` to the vLLM job once its first chunk is in the cache, and return
    how many completions the cache holds once Snakemake gave up."""
    import psutil

    with (folder / "stopped.out").open("w") as output:
        snakemake = subprocess.Popen(
            command(python, folder),
            env=ENVIRONMENT | dict(os.environ) | OFFLINE,
            stdout=output,
            stderr=output,
        )
        deadline = time.monotonic() + 600
        while recorded(folder) < CHUNK:
            assert snakemake.poll() is None, (folder / "stopped.out").read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.005)
        (job,) = [
            process
            for process in psutil.Process(snakemake.pid).children(recursive=True)
            if "generate_vllm" in " ".join(process.cmdline())
            and "generate_vllm" not in " ".join(process.parent().cmdline())
        ]
        # SIGKILL as SLURM or a cgroup's OOM killer sends it: to the job and the engine it started
        for process in [job, *job.children(recursive=True)] if sent == signal.SIGKILL else [job]:
            process.send_signal(sent)
        assert snakemake.wait(timeout=600) != 0
    done = recorded(folder)
    assert CHUNK <= done < REQUESTS - 1, "the job finished before it was stopped"
    assert not (folder / "results/vllm/tiny.json").exists()
    return done


def outputs(folder) -> dict:
    """Every response table of the tiny model, and its ledger without the seconds."""
    tables = {
        str(path.relative_to(folder)): pl.read_parquet(path)
        for pattern in ("results/responses/tiny/*/*.parquet", "results/safety/responses/tiny/*/*.parquet")
        for path in sorted(folder.glob(pattern))
    }
    ledger = pl.read_csv(folder / "results/ledger.csv").filter(model="tiny").drop("seconds")
    tables["ledger"] = ledger.sort("stage", "language", "seed")
    return tables


@pytest.fixture(scope="module")
def uninterrupted(python, model, tmp_path_factory):
    folder = study(tmp_path_factory.mktemp("uninterrupted") / "study", model)
    return folder, finish(python, folder), outputs(folder)


def test_the_log_says_how_far_the_job_is(uninterrupted):
    _, log, _ = uninterrupted
    assert f"tiny: {REQUESTS} requests to generate over 6 runs" in log
    assert log.count("loading") == 1
    progress = re.findall(r"tiny: +\d+%\|.*\| (\d+)/(\d+) \[.*<.*, (\d+) generated tokens/s\]", log)
    assert {int(total) for _, total, _ in progress} == {REQUESTS}
    # a line at least once per chunk (one is refused as it is added, so the counts may skip one)
    done = [int(count) for count, _, _ in progress]
    assert done[-1] == REQUESTS and all(b - a <= CHUNK + 1 for a, b in zip([0, *done], done, strict=False))
    assert all(int(speed) > 0 for _, _, speed in progress[1:])


def test_a_prompt_past_the_context_is_one_error_row(uninterrupted):
    _, log, tables = uninterrupted
    answers = tables["results/safety/responses/tiny/en/none.parquet"]
    refused = answers.filter(pl.col("error").is_not_null())
    assert refused.height == 1 and refused["text"].to_list() == [None]
    assert (
        refused["error"].item().startswith("refused by vLLM") and "context length" in refused["error"].item()
    )
    assert answers.filter(pl.col("error").is_null()).height == 1
    for table in (tables[name] for name in tables if name.startswith("results/responses/")):
        assert table.height == PROMPTS and table["error"].null_count() == PROMPTS
    ledger = tables["ledger"]
    assert ledger.filter(stage="safety:none", language="en").select("requests", "failed").row(0) == (2, 1)
    assert ledger.filter(stage="generate")["failed"].sum() == 0
    assert f"{REQUESTS - 1} requests answered, 1 refused" in log


@pytest.mark.parametrize("sent", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_stopped_job_resumes_where_it_stopped(python, model, uninterrupted, tmp_path, sent):
    folder = study(tmp_path / "study", model)
    done = stopped_after_first_chunk(python, folder, sent)
    stopped_log = (folder / "logs/generate_vllm/tiny.log").read_text()
    assert stopped_log.count("loading") == 1
    if sent == signal.SIGTERM:
        assert "SIGTERM: no new requests" in stopped_log
        # every request it had started is recorded (the refused one is done but not cached)
        finished = re.search(rf"stopped on SIGTERM with (\d+) of {REQUESTS} requests recorded", stopped_log)
        assert finished and int(finished.group(1)) - done in (0, 1), stopped_log[-2000:]

    log = finish(python, folder)
    assert log.count("loading") == 1
    # the refused request is not cached, so it is asked again if the first attempt reached it
    assert f"tiny: {REQUESTS - done} requests to generate over 6 runs" in log
    assert f"tiny: {done} more were generated by an earlier attempt" in log
    resumed, reference = outputs(folder), uninterrupted[2]
    assert resumed.keys() == reference.keys()
    for name, table in reference.items():
        assert resumed[name].equals(table), name
