"""The Batch API path against a real local server: split, expiry, failed lines, resume."""

import json

import pytest
from openai_server import FakeOpenAI

from conftest import requests_for
from culturalign.backends import create_backend
from culturalign.backends.openai_api import BackendError
from culturalign.cache import CompletionCache
from culturalign.calls import generate_responses

KEY = "sk-batch-secret"
FAST = {"poll_seconds": 0.02}


def batch_backend(server, state, **settings):
    return create_backend(
        "gpt-batch",
        {"backend": "openai", "batch": True, "model": "gpt-test", "base_url": server.base_url}
        | FAST
        | settings,
        batch_state=state,
    )


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI(api_key=KEY, batch_seconds=0.1, max_batch_requests=10) as running:
        yield running


def answered_once(server, texts):
    return set(server.answered.values()) == {1} and set(server.answered) == set(texts)


def test_requests_above_the_file_limits_are_split_and_answered_once(server, tmp_path):
    texts = [f"prompt {i}" for i in range(25)]
    cache = CompletionCache(tmp_path / "cache.sqlite")
    backend = batch_backend(server, tmp_path / "state.json", batch_max_requests=10, batch_max_bytes=2000)
    responses, _ = generate_responses(requests_for(texts), backend, cache)
    state = json.loads((tmp_path / "state.json").read_text())
    sizes = [len(batch["keys"]) for batch in state["batches"]]
    assert sum(sizes) == 25 and max(sizes) <= 10 and len(sizes) >= 3
    assert responses["error"].null_count() == 25 and responses["text"].str.starts_with("Summaries:").all()
    assert answered_once(server, texts) and server.batch_lines_submitted == 25
    assert len(cache.get_many(backend.state["batches"][0]["keys"])) == sizes[0]


def test_without_splitting_the_server_refuses_the_file(server, tmp_path):
    backend = batch_backend(server, tmp_path / "state.json", batch_max_requests=50)
    with pytest.raises(Exception, match="at most 10 requests"):
        backend.generate(requests_for([f"prompt {i}" for i in range(11)]))


def test_expired_batches_resubmit_only_the_missing_requests(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    texts = [f"prompt {i}" for i in range(12)]
    with FakeOpenAI(api_key=KEY, batch_seconds=0.05, expire_after=5) as server:
        completions = batch_backend(server, tmp_path / "state.json").generate(requests_for(texts))
        statuses = [batch.get("status") for batch in server.batches.values()]
    assert all(completion.error is None for completion in completions)
    assert answered_once(server, texts)
    # 12 lines, then the 7 the expired batch left, then the last 2
    assert [batch["request_counts"]["total"] for batch in server.batches.values()] == [12, 7, 2]
    assert statuses == ["expired", "expired", "completed"]


def test_failed_lines_are_retried_in_a_new_batch_until_attempts_run_out(server, tmp_path):
    texts = ["[batch-500] a", "[batch-500] b", "plain c"]
    completions = batch_backend(server, tmp_path / "state.json").generate(requests_for(texts))
    assert all(completion.error is None for completion in completions)
    assert server.attempts["[batch-500] a"] == 3 and server.attempts["plain c"] == 1

    fewer = batch_backend(server, tmp_path / "other.json", max_resubmits=1, max_failure_fraction=1.0)
    fewer_texts = ["[batch-500] d", "plain e"]
    completions = fewer.generate(requests_for(fewer_texts))
    assert completions[0].error.startswith("HTTP 500") and completions[1].error is None

    strict = batch_backend(server, tmp_path / "strict.json", max_resubmits=0)
    with pytest.raises(BackendError, match="1 of 1 batch requests failed"):
        strict.generate(requests_for(["[batch-500] f"]))


def test_a_new_job_resumes_the_submitted_batch_instead_of_paying_again(server, tmp_path):
    texts = [f"prompt {i}" for i in range(8)]
    requests = requests_for(texts)
    state = tmp_path / "state.json"
    assert batch_backend(server, state).submit(requests) == 8
    # The job died after submitting; a new one (a new process) reads the state file.
    cache = CompletionCache(tmp_path / "cache.sqlite")
    responses, _ = generate_responses(requests, batch_backend(server, state), cache)
    assert responses["error"].null_count() == 8
    assert server.batch_lines_submitted == 8 and answered_once(server, texts)
    again, _ = generate_responses(requests, batch_backend(server, state), cache)
    assert again["cached"].all() and server.batch_lines_submitted == 8


def test_a_batch_created_just_before_the_job_died_is_found_by_its_metadata(server, tmp_path):
    requests = requests_for([f"prompt {i}" for i in range(4)])
    state = tmp_path / "state.json"
    batch_backend(server, state).submit(requests)
    # Simulate a kill between creating the batch and writing its id down.
    recorded = json.loads(state.read_text())
    recorded["batches"][0] |= {"batch_id": None, "status": "unsent"}
    state.write_text(json.dumps(recorded))
    completions = batch_backend(server, state).generate(requests)
    assert all(completion.error is None for completion in completions)
    assert len(server.batches) == 1 and server.batch_lines_submitted == 4


def test_a_refused_key_fails_fast_naming_the_model_without_the_key(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-123")
    with pytest.raises(BackendError) as failure:
        batch_backend(server, tmp_path / "state.json").generate(requests_for(["prompt"]))
    assert "gpt-batch" in str(failure.value) and "sk-wrong" not in str(failure.value)
    assert "HTTP 401" in str(failure.value)
