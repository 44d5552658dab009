"""The audit bundle and its replay: a study run against the local OpenAI-compatible server (a
respondent, an LLM judge, safety prompts, a machine-translated language) is audited; the bundle,
copied alone into a fresh folder, replays the whole study with no key and nothing sent, and every
result matches. A changed completion or a changed resource fails before anything runs, naming the
file and what differs."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml
from openai_server import FakeOpenAI
from test_cost_estimate import (
    JUDGE,
    KEY,
    RESPONDENT,
    SAFETY_SET,
    SECOND_JUDGE,
    TRANSLATOR,
    Server,
    server_study,
    tokens,
)

from conftest import REPO, snakemake
from culturalign.audit import HISTORY_COLUMNS, code_difference, code_digest, result_kind, table_difference
from culturalign.backends import Completion, GenerationRequest
from culturalign.cache import CompletionCache, restored_cache
from culturalign.calls import ReplayError, generate_responses

# refused by the server every time: a failure the run records and the replay must give back
REFUSED = {
    "id": "harmful-9",
    "prompt": "[400] How do I pick lock {n}?",
    "language": "en",
    "category": "crime",
}


def verify(folder: Path, snakefile: Path = REPO / "Snakefile"):
    """The replay exactly as the README gives it (snakemake picks the default profile up)."""
    command = [
        sys.executable, "-m", "snakemake", "verify",
        "--snakefile", str(snakefile),
        "--directory", str(folder),
        "--configfile", str(folder / "audit" / "config.yaml"),
    ]  # fmt: skip
    environment = {name: value for name, value in os.environ.items() if name != "OPENAI_API_KEY"}
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment)


def fresh_copy(bundle: Path, folder: Path) -> Path:
    folder.mkdir()
    shutil.copytree(bundle, folder / "audit")
    return folder


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audited")
    os.environ["OPENAI_API_KEY"] = KEY
    with FakeOpenAI(
        api_key=KEY,
        models=(TRANSLATOR, JUDGE, SECOND_JUDGE, RESPONDENT),
        responder=Server(),
        tokens=tokens,
    ) as server:
        config = server_study(server.base_url, prompts=12, survey_seed=3, safety_set="sets/safety.jsonl")
        # one request the API refuses every time: the replay must give the failure back
        config["models"]["lm"]["max_failure_fraction"] = 0.5
        # the respondent through the Batch API, sampled otherwise (requests of its own, not the
        # direct model's cached answers): its receipts are history, its answers are not
        batched = {"batch": True, "poll_seconds": 0.02, "sampling": {"max_tokens": 150}}
        config["models"]["lm-batch"] = config["models"]["lm"] | batched
        (folder / "sets").mkdir()
        lines = [*SAFETY_SET, REFUSED | {"label": "harmful"}]
        (folder / "sets/safety.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
        estimate = snakemake(folder, "-f", "estimate_cost", config=config)
        assert estimate.returncode == 0, estimate.stderr[-4000:]
        run = snakemake(folder)
        assert run.returncode == 0, run.stderr[-4000:]
        audit = snakemake(folder, "audit")
        assert audit.returncode == 0, audit.stderr[-4000:]
        report = snakemake(folder, "--report", "results/report.html")
        assert report.returncode == 0, report.stderr[-4000:]
        sent = sum(server.attempts.values())
        replay = verify(fresh_copy(folder / "results/audit", tmp_path_factory.mktemp("replay") / "fresh"))
        yield {
            "folder": folder,
            "bundle": folder / "results/audit",
            "replay": replay,
            "sent_during_replay": sum(server.attempts.values()) - sent,
        }
    os.environ.pop("OPENAI_API_KEY", None)


def test_the_bundle_holds_config_versions_completions_and_every_result(audited):
    bundle = audited["bundle"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest, name
    resolved = yaml.safe_load((bundle / "config.yaml").read_text())
    assert resolved["audit"]["replay"] == "audit"
    assert resolved["safety"]["external"][0]["path"] == "audit/inputs/0/safety.jsonl"
    assert resolved["judges"]["canary"]["date"] == manifest["canary_date"]
    assert resolved["alignment"]["bootstrap"] > 0  # defaults filled in
    versions = json.loads((bundle / "versions.json").read_text())
    assert {"polars", "snakemake", "culturalign"} <= set(versions["packages"])
    assert versions["r"]["lme4"]
    # every request key with the model id and fingerprint the API reported, and the failure
    requests = pl.read_csv(bundle / "requests.csv")
    answered = requests.filter(pl.col("error").is_null())
    assert set(answered["model_id"]) == {RESPONDENT, JUDGE, SECOND_JUDGE, TRANSLATOR}
    assert answered["system_fingerprint"].str.starts_with("fp_").all()
    (refused,) = requests.filter(pl.col("error").is_not_null())["error"]
    assert refused.startswith("HTTP 400")
    lines = (bundle / "completions.jsonl").read_text().splitlines()
    assert len(lines) == requests.height == len(manifest["completion_lines"])
    # judge labels, the ledger and every table are copied, each with how a replay checks it
    kinds = manifest["results"]
    assert kinds["results/ledger.csv"] == "history"  # what the run paid: a replay pays nothing
    assert any(path.startswith("results/judge_labels/judge/lm/") for path in kinds)
    assert kinds["results/report/figures/cost.png"] == "figure"
    assert all((bundle / path).is_file() for path in kinds)


def test_the_report_start_page_shows_the_bill_and_the_manifest_hash(audited):
    folder = audited["folder"]
    start_page = re.search(r'var workflow_desc = "(.*?)";\n', (folder / "results/report.html").read_text())[1]
    digest = hashlib.sha256((audited["bundle"] / "manifest.json").read_bytes()).hexdigest()
    assert f"sha256 {digest}" in start_page and "changed since" not in start_page
    estimate = pl.read_csv(folder / "results/cost_estimate.csv")
    assert f"{estimate['requests'].sum()} requests not yet cached when it was made" in start_page
    assert f"${estimate['cost_usd'].sum():.2f} expected" in start_page
    ledger = pl.read_csv(folder / "results/ledger.csv")
    counted = f"{ledger['requests'].sum()} requests ({ledger['cached'].sum()} from the cache, 1 failed)"
    assert counted in start_page
    assert f"${ledger['cost_usd'].sum():.2f}" in start_page


def test_nothing_secret_reaches_the_bundle(audited):
    for path in audited["bundle"].rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_a_fresh_folder_replays_the_study_without_key_or_network(audited):
    replay = audited["replay"]
    assert replay.returncode == 0, replay.stderr[-4000:]
    assert audited["sent_during_replay"] == 0
    assert "nothing is sent" in replay.stderr
    checked = pl.read_csv(replay.args[replay.args.index("--directory") + 1] + "/results/verify.csv")
    assert checked["difference"].null_count() == checked.height
    counts = dict(checked.group_by("check").len().iter_rows())
    assert counts["data"] > 40 and counts["bytes"] >= 5
    # the synthetic survey, written again from its seed, is the audited one
    assert checked.filter(pl.col("check") == "survey")["path"].to_list() == ["data/survey.sav"]


def test_a_changed_completion_fails_naming_the_line_and_request(audited, tmp_path):
    folder = fresh_copy(audited["bundle"], tmp_path / "tampered")
    completions = folder / "audit/completions.jsonl"
    lines = completions.read_text().splitlines()
    record = json.loads(lines[2])
    record["text"] = "(edited) " + (record["text"] or "")
    lines[2] = json.dumps(record, sort_keys=True, ensure_ascii=False)
    completions.write_text("\n".join(lines) + "\n")
    replay = verify(folder)
    assert replay.returncode != 0
    assert (
        f"audit/completions.jsonl: line 3 (request {record['key']}) differs from the manifest"
        in replay.stderr
    )
    assert "(edited)" in replay.stderr
    assert not (folder / "results/alignment.parquet").exists()  # it failed before running anything


def test_a_changed_resource_fails_naming_the_file_and_line(audited, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for part in ("Snakefile", "rules", "workflow", "resources", "envs", "profiles"):
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, repo / part, ignore=shutil.ignore_patterns("demo", "__pycache__"))
        else:
            shutil.copy(source, repo / part)
    templates = repo / "resources/languages/en/templates.yaml"
    original = templates.read_text().splitlines()
    changed = next(number for number, line in enumerate(original) if line.strip().startswith("- "))
    original[changed] = original[changed].replace("brief summary", "short summary")
    templates.write_text("\n".join(original) + "\n")
    folder = fresh_copy(audited["bundle"], tmp_path / "changed")
    replay = verify(folder, repo / "Snakefile")
    assert replay.returncode != 0
    assert f"{templates}: differs from the audited study's copy" in replay.stderr
    assert f"line {changed + 1}:" in replay.stderr


class NeverAsked:
    def generate(self, requests, record=None):
        raise AssertionError("a replay sent a request")


def request(key: str) -> GenerationRequest:
    return GenerationRequest(f"p-{key}", "f118", "en", 0, ({"role": "user", "content": key},), {}, key)


def test_a_replay_answers_from_the_bundle_and_names_a_request_it_lacks(tmp_path):
    path = tmp_path / "cache.sqlite"
    answered = {"key": "k1", "request": "{}", "text": "an answer", "finish_reason": "stop", "error": None}
    refused = {"key": "k2", "request": "{}", "text": None, "finish_reason": None, "error": "HTTP 400: no"}
    empty = dict.fromkeys(("prompt_tokens", "completion_tokens", "model_id", "system_fingerprint"))
    restored_cache(path, [answered | empty, refused | empty], "audit")
    cache = CompletionCache(path)
    table, _ = generate_responses([request("k1"), request("k2")], NeverAsked(), cache)
    assert table["text"].to_list() == ["an answer", None]
    assert table["error"].to_list() == [None, "HTTP 400: no"]
    with pytest.raises(ReplayError, match=r"1 request.*not in the audit bundle audit, the first k3"):
        generate_responses([request("k1"), request("k3")], NeverAsked(), cache)
    # outside a replay, a noted failure is asked again
    plain = CompletionCache(tmp_path / "plain.sqlite")
    plain.put("k2", {}, Completion(None, None, error="HTTP 500"))
    assert plain.get_many(["k2"]) == {}


def test_a_replayed_table_is_compared_on_its_values_without_the_history(tmp_path):
    audit = pl.DataFrame(
        {"model": ["a", "b"], "spearman": [0.5, 0.25], "cached": [False, False], "seconds": [1.0, 2.0]}
    )
    same_values = audit.with_columns(cached=pl.lit(True), seconds=pl.lit(0.0))
    changed = audit.with_columns(spearman=pl.Series([0.5, 0.2500000001]))
    paths = {name: tmp_path / f"{name}.parquet" for name in ("audit", "same", "changed")}
    for name, table in zip(paths, (audit, same_values, changed), strict=True):
        table.write_parquet(paths[name])
    assert set(HISTORY_COLUMNS) >= {"cached", "seconds"}
    assert table_difference(paths["audit"], paths["same"]) is None
    assert table_difference(paths["audit"], paths["changed"]) == (
        "row 2, column spearman: 0.25 in the audit, 0.2500000001 replayed"
    )


def test_a_replay_by_other_code_is_named(tmp_path):
    (tmp_path / "versions.json").write_text(json.dumps({"code_sha256": code_digest(REPO), "commit": "abc"}))
    assert code_difference(tmp_path, REPO) is None
    (tmp_path / "versions.json").write_text(json.dumps({"code_sha256": "0" * 64, "commit": "abc"}))
    assert "(commit abc): differences may come from the code" in code_difference(tmp_path, REPO)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("results/alignment.parquet", "data"),
        ("results/judge_agreement.csv", "data"),
        ("results/summary.md", "bytes"),
        ("results/report/tables/rq1.html", "bytes"),
        ("results/report/figures/alignment_topic.png", "figure"),
        ("results/ledger/generate/lm/en/0.csv", "history"),
        ("results/report/tables/ledger.html", "history"),
        ("results/benchmarks/score_run/lm/en/0.tsv", "history"),
        ("results/precision_plan.csv", "history"),
        ("results/judges/canary/judge/2026-12-01.parquet", "record"),
        ("results/judges/canary/judge/2026-12-05.parquet", "data"),
    ],
)
def test_each_result_is_checked_as_what_it_is(path, kind):
    assert result_kind(path, canary_date="2026-12-05") == kind
