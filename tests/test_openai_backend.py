"""The OpenAI-compatible backend and the completion cache, against a real local HTTP server."""

import polars as pl
import pytest
from openai_server import FakeOpenAI

from conftest import requests_for
from culturalign.backends import create_backend
from culturalign.backends.openai_api import BackendError
from culturalign.cache import CompletionCache, request_key
from culturalign.calls import generate_responses, sampling_parameters
from culturalign.ledger import ledger_row

KEY = "sk-test-secret"


def backend(server, **settings):
    return create_backend(
        "gpt",
        {"backend": "openai", "model": "gpt-test", "base_url": server.base_url, "max_retries": 4} | settings,
    )


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI(api_key=KEY) as running:
        yield running


def test_every_request_answered_exactly_once_despite_faults(server, tmp_path):
    texts = [f"plain prompt {i}" for i in range(30)] + [
        f"{fault} prompt {i}" for fault in ("[429]", "[500]", "[malformed]", "[drop]") for i in range(3)
    ]
    cache = CompletionCache(tmp_path / "cache.sqlite")
    responses, _ = generate_responses(requests_for(texts), backend(server, concurrency=8), cache)
    assert responses["error"].null_count() == len(texts)
    assert responses["text"].str.starts_with("Summaries:").all()
    assert set(server.answered.values()) == {1} and len(server.answered) == len(texts)
    assert server.attempts["[429] prompt 0"] == 3 and server.attempts["[drop] prompt 1"] == 3
    assert not responses["cached"].any()
    assert responses["prompt_tokens"].min() > 0


def test_a_rerun_is_served_from_the_cache(server, tmp_path):
    texts = [f"prompt {i}" for i in range(12)]
    path = tmp_path / "cache.sqlite"
    generate_responses(requests_for(texts[:8]), backend(server), CompletionCache(path))
    responses, _ = generate_responses(requests_for(texts), backend(server), CompletionCache(path))
    assert responses["cached"].to_list() == [True] * 8 + [False] * 4
    assert set(server.answered.values()) == {1} and len(server.answered) == 12
    another_seed, _ = generate_responses(
        requests_for(texts[:2], seed=1), backend(server), CompletionCache(path)
    )
    assert not another_seed["cached"].any() and server.answered["prompt 0"] == 2
    row = ledger_row(
        responses, stage="generate", model="gpt", language="en", seed=0, seconds=1.0, price=(2.5, 10.0)
    )
    sent = responses.filter(~pl.col("cached"))
    expected = (sent["prompt_tokens"].sum() * 2.5 + sent["completion_tokens"].sum() * 10.0) / 1e6
    assert row["cached"][0] == 8 and row["requests"][0] == 12
    assert row["cost_usd"][0] == pytest.approx(expected)


def test_refused_key_fails_fast_without_printing_it(server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-and-secret")
    with pytest.raises(BackendError) as error:
        generate_responses(requests_for(["a", "b"]), backend(server), CompletionCache(tmp_path / "c.sqlite"))
    message = str(error.value)
    assert "models.gpt" in message and "401" in message and "OPENAI_API_KEY" in message
    assert "sk-wrong-and-secret" not in message and KEY not in message
    assert sum(server.attempts.values()) <= 2  # one attempt per request in flight, no retries


def test_unknown_model_fails_fast(server, tmp_path):
    with pytest.raises(BackendError, match=r"models\.gpt: model 'gpt-nope' not found .*404"):
        generate_responses(requests_for(["a"]), backend(server, model="gpt-nope"), None)


def test_requests_that_keep_failing_are_recorded_then_counted(server):
    texts = [f"plain {i}" for i in range(19)] + ["[500] always"]
    responses, _ = generate_responses(
        requests_for(texts), backend(server, max_retries=1, max_failure_fraction=0.1), None
    )
    assert responses["error"].is_not_null().sum() == 1
    with pytest.raises(BackendError, match="1 of 2 requests failed"):
        generate_responses(requests_for(["plain x", "[500] again"]), backend(server, max_retries=1), None)


def test_request_key_covers_what_determines_a_completion():
    base = ("openai", "gpt-4o", None, [{"role": "user", "content": "hi"}], {"temperature": 0.7}, "0/0-1")
    assert request_key(*base) == request_key(*base)
    for index, changed in [
        (1, "gpt-4o-mini"),
        (2, "http://127.0.0.1:8000/v1"),
        (4, {"temperature": 0.0}),
        (5, "1/0-1"),
    ]:
        assert request_key(*base[:index], changed, *base[index + 1 :]) != request_key(*base)


def test_sampling_defaults_and_overrides():
    assert sampling_parameters({}, {}) == {"temperature": 0.7, "top_p": 0.95, "max_tokens": 600}
    assert sampling_parameters({"max_tokens": 300}, {"sampling": {"temperature": 0.0, "seed": 3}}) == {
        "temperature": 0.0,
        "top_p": 0.95,
        "max_tokens": 300,
        "seed": 3,
    }


def test_time_outs_are_retried(server):
    responses, _ = generate_responses(requests_for(["[slow] prompt"]), backend(server, timeout=0.5), None)
    assert responses["error"][0] is None and responses["text"][0].startswith("Summaries:")
    assert server.attempts["[slow] prompt"] >= 2
