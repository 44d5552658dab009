"""The vLLM offline backend on a tiny random Llama, on CPU.

vLLM lives in its own virtualenv (tests/vllm_venv.py builds it on first use, several minutes), so
this file runs itself there as a script: one backend answers two languages x two seeds as four
separate `generate` calls, the way one job serves several runs, and writes a JSON report that the
test then checks. Deselect with `-m "not vllm"`."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vllm_venv import ENGINE, ENVIRONMENT, OFFLINE

from conftest import REPO

LANGUAGES = {
    "en": ("How important is family in your life?", "Work is a duty towards society."),
    "da": ("Hvor vigtig er familien i dit liv?", "Arbejde er en pligt over for samfundet."),
}
SEEDS = (1, 2)


def prompts(language: str):
    """Three prompts; the first two share their text, so only their slot tells them apart."""
    import polars as pl

    family, work = LANGUAGES[language]
    return pl.DataFrame(
        {"prompt_id": [f"{language}-1", f"{language}-2", f"{language}-3"], "item": ["A001", "A001", "C038"]}
    ).with_columns(text=pl.Series([family, family, work]))


def four_runs(report: Path) -> None:
    """What the script does in the vLLM virtualenv."""
    import tempfile

    from tiny_llm import build_tiny_model

    from culturalign.backends import create_backend
    from culturalign.calls import sampling_parameters
    from culturalign.generate import generation_requests

    def outcome(request, completion) -> dict:
        return {
            "key": request.key,
            "text_sent": request.messages[-1]["content"],
            "text": completion.text,
            "finish_reason": completion.finish_reason,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        }

    with tempfile.TemporaryDirectory() as directory:
        settings = {"backend": "vllm", "model": str(build_tiny_model(Path(directory))), "engine": ENGINE}
        parameters = sampling_parameters({}, {"sampling": {"max_tokens": 16}})
        backend = create_backend("tiny", settings)
        empty = backend.generate([])
        result = {"backend": type(backend).__name__, "empty": [empty, backend.engine_loads], "runs": []}
        recorded = []
        for language in LANGUAGES:
            for seed in SEEDS:
                requests = generation_requests(
                    prompts(language), language=language, seed=seed, settings=settings, parameters=parameters
                )
                recorded.clear()
                started = time.perf_counter()
                completions = backend.generate(requests, lambda request, _: recorded.append(request.key))
                result["runs"].append(
                    {
                        "language": language,
                        "seed": seed,
                        "seconds": time.perf_counter() - started,
                        "outcomes": [outcome(*pair) for pair in zip(requests, completions, strict=True)],
                        "recorded": list(recorded),
                    }
                )
        first = generation_requests(
            prompts("en"), language="en", seed=SEEDS[0], settings=settings, parameters=parameters
        )
        result["repeat"] = [completion.text for completion in backend.generate(first)]
        result["engine_loads"] = backend.engine_loads
    report.write_text(json.dumps(result, indent=1, ensure_ascii=False))


@pytest.fixture(scope="session")
def report(tmp_path_factory) -> dict:
    from vllm_venv import vllm_python

    python = vllm_python(REPO)
    directory = tmp_path_factory.mktemp("vllm")
    path, log = directory / "report.json", directory / "vllm.log"
    environment = ENVIRONMENT | dict(os.environ) | OFFLINE
    started = time.perf_counter()
    with log.open("w") as output:
        finished = subprocess.run(
            [str(python), __file__, str(path)],
            cwd=REPO,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    assert finished.returncode == 0, log.read_text()[-6000:]
    print(f"vLLM script took {time.perf_counter() - started:.0f} s; its log: {log}")
    return json.loads(path.read_text())


@pytest.mark.vllm
def test_one_engine_serves_every_run(report):
    assert report["backend"] == "VLLMBackend"
    assert report["empty"] == [[], 0], "an empty request list must not load the engine"
    assert report["engine_loads"] == 1
    assert [(run["language"], run["seed"]) for run in report["runs"]] == [
        (language, seed) for language in LANGUAGES for seed in SEEDS
    ]


@pytest.mark.vllm
def test_every_request_gets_tokens_and_is_recorded(report):
    for run in report["runs"]:
        # each recorded once, in the order the engine finished them
        assert sorted(run["recorded"]) == sorted(outcome["key"] for outcome in run["outcomes"])
        assert len(run["outcomes"]) == 3
        for outcome in run["outcomes"]:
            assert outcome["prompt_tokens"] >= 1
            assert outcome["completion_tokens"] >= 1
            assert outcome["finish_reason"] in {"length", "stop"}
            assert isinstance(outcome["text"], str)
    keys = [outcome["key"] for run in report["runs"] for outcome in run["outcomes"]]
    assert len(set(keys)) == len(keys)


@pytest.mark.vllm
def test_same_request_same_text_and_other_slots_sample_afresh(report):
    first = report["runs"][0]
    assert report["repeat"] == [outcome["text"] for outcome in first["outcomes"]]
    for language, (family, _) in LANGUAGES.items():
        texts = [
            outcome["text"]
            for run in report["runs"]
            if run["language"] == language
            for outcome in run["outcomes"]
            if outcome["text_sent"] == family
        ]
        assert len(texts) == 2 * len(SEEDS)
        assert len(set(texts)) > 1, f"{language}: one prompt in four slots gave one text: {texts[0]!r}"


def test_request_seeds_are_reproducible_and_per_request():
    from culturalign.backends.base import GenerationRequest
    from culturalign.backends.vllm_offline import request_seed

    def request(key: str, **parameters) -> GenerationRequest:
        return GenerationRequest("p", "A001", "en", 1, ({"role": "user", "content": "Hi"},), parameters, key)

    keys = [f"{number:064x}" for number in range(200)]
    unseeded = [request_seed(request(key)) for key in keys]
    seeded = [request_seed(request(key, seed=7)) for key in keys]
    assert unseeded == [request_seed(request(key)) for key in keys]
    assert len(set(unseeded)) == len(set(seeded)) == len(keys)
    assert set(unseeded).isdisjoint(seeded)
    assert request_seed(request(keys[0], seed=8)) != seeded[0]
    assert all(0 <= seed < 2**31 for seed in unseeded + seeded)


def test_a_model_with_more_gpus_is_split_over_them():
    from culturalign.backends import create_backend

    assert create_backend("big", {"backend": "vllm", "model": "m", "gpus": 4}).tensor_parallel_size == 4
    assert create_backend("small", {"backend": "vllm", "model": "m"}).tensor_parallel_size == 1


if __name__ == "__main__":
    # vLLM starts worker processes, which import this file again.
    four_runs(Path(sys.argv[1]))
