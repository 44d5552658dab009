"""The backend registry and traits: the workflow asks a backend class what it is; a new backend
is one class and one registration."""

import copy

import polars as pl
import pytest
import yaml

from conftest import REPO
from culturalign.backends import Backend, Completion, backend, backend_class, backend_names, create_backend
from culturalign.backends.base import REGISTRY
from culturalign.cache import CompletionCache
from culturalign.calls import generate_responses
from culturalign.config import ConfigError
from culturalign.generate import generation_requests
from culturalign.ledger import model_price
from culturalign.plan import plan_study

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def echo_backend():
    """A backend that answers each prompt with itself, registered for this test only."""

    @backend("echo")
    class Echo(Backend):
        one_job_per_model = True
        priced = False

        def __init__(self, slug, settings):
            self.calls = 0

        def generate(self, requests, record=None):
            self.calls += 1
            completions = []
            for request in requests:
                completion = Completion(request.messages[-1]["content"], "stop", 3, 3)
                if record is not None:
                    record(request, completion)
                completions.append(completion)
            return completions

    yield Echo
    del REGISTRY["echo"]


def test_built_in_backends_declare_their_traits():
    simulated, openai, vllm = (backend_class(name) for name in ("simulated", "openai", "vllm"))
    assert simulated.simulated and not simulated.needs_llm_judge and not simulated.cached
    assert not simulated.sent_to_llm_judge({"respondent": "uniform"})
    assert simulated.sent_to_llm_judge({"respondent": "population"})
    assert vllm.one_job_per_model and vllm.gpu and vllm.fixed_label_count and not vllm.priced
    assert openai.priced and openai.needs_llm_judge and not openai.one_job_per_model
    assert openai.requests_in_flight({"model": "m"}) == 16
    assert openai.requests_in_flight({"model": "m", "concurrency": 4}) == 4
    assert openai.requests_in_flight({"model": "m", "batch": True}) == 0
    assert openai.submits_ahead({"model": "m", "batch": True})
    assert backend_names() == ["openai", "simulated", "vllm"]
    assert backend_names(lambda cls: cls.serves_as_tool and not cls.one_job_per_model) == ["openai"]


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown backend 'gemini'; known backends: \['openai', 'simulated', 'vllm'\]"
    ):
        backend_class("gemini")


def test_the_batch_api_pays_half_the_price_table(tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_text("model,input_usd_per_million,output_usd_per_million\ngpt-x,2.0,8.0\n")
    direct = {"backend": "openai", "model": "gpt-x"}
    assert model_price(direct, prices) == (2.0, 8.0)
    assert model_price(direct | {"batch": True}, prices) == (1.0, 4.0)
    assert model_price({"backend": "openai", "model": "unknown"}, prices) is None
    assert model_price({"backend": "vllm", "model": "gpt-x"}, prices) is None


def test_a_backend_registered_in_one_place_runs_through_the_workflow_code(
    echo_backend, items, tmp_path, monkeypatch
):
    assert "echo" in backend_names()
    settings = {"backend": "echo", "model": "echo-1"}
    requests = generation_requests(
        pl.DataFrame({"prompt_id": ["a", "b"], "item": ["f063", "f063"], "text": ["hi", "hej"]}),
        language="en",
        seed=0,
        settings=settings,
        parameters={},
    )
    model = create_backend("echo-model", settings)
    assert isinstance(model, echo_backend)
    cache = CompletionCache(tmp_path / "cache.sqlite")
    responses, _ = generate_responses(requests, model, cache)
    assert responses["text"].to_list() == ["hi", "hej"]
    again, _ = generate_responses(requests, create_backend("echo-model", settings), cache)
    assert again["cached"].all()

    # the config accepts it, and the plan reads its traits: a judge that reads all runs in one job
    monkeypatch.chdir(REPO)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["models"]["echo"] = {"backend": "echo", "model": "echo-1", "evaluate": False}
    config["judges"] = {"primary": "echo"}
    study, _ = plan_study(copy.deepcopy(config), SCHEMA, REPO / "resources", "study.yaml", items)
    assert study.gpu_judges == ("echo",) and study.api_judges == ()
    assert "echo" not in study.evaluated


def test_a_backend_nobody_registered_is_a_config_error(items, monkeypatch):
    monkeypatch.chdir(REPO)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["models"]["gem"] = {"backend": "gemini", "model": "g"}
    with pytest.raises(ConfigError, match=r"models\.gem\.backend: 'gemini' is not one of the backends"):
        plan_study(config, SCHEMA, REPO / "resources", "study.yaml", items)
