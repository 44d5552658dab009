"""Model calls: keyed requests, the completion cache, and "ask, then build the responses table".

Every request carries a stable key; completions already in the cache are not requested again,
and new ones are cached the moment they arrive. The generation, judging, translation and safety
stages all call models through here."""

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from culturalign.backends import Backend, Completion, GenerationRequest, backend_class, create_backend
from culturalign.cache import CompletionCache, request_key
from culturalign.ledger import generation_ledger
from culturalign.phrase_bank import PhraseBank

RESPONSE_SCHEMA = {
    "prompt_id": pl.String,
    "item": pl.String,
    "text": pl.String,
    "finish_reason": pl.String,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "cached": pl.Boolean,
    "error": pl.String,
}


STUDY_SAMPLING = {"temperature": 0.7, "top_p": 0.95, "max_tokens": 600}


def sampling_parameters(study: dict, model: dict) -> dict:
    """The study's sampling defaults overridden by the model's `sampling` settings."""
    return {**STUDY_SAMPLING, **study, **model.get("sampling", {})}


def keyed_request(
    settings: dict,
    content: str,
    parameters: dict,
    replicate: str,
    *,
    prompt_id: str,
    item: str,
    language: str,
    seed: int,
    attack: str | None = None,
) -> GenerationRequest:
    """One user message to the model of `settings`, keyed for the cache by backend, model,
    endpoint, message, parameters and `replicate` (what tells apart draws of the same message)."""
    messages = ({"role": "user", "content": content},)
    key = request_key(
        settings["backend"],
        settings.get("model", ""),
        settings.get("base_url"),
        messages,
        parameters,
        replicate,
    )
    return GenerationRequest(prompt_id, item, language, seed, messages, parameters, key, attack)


class ReplayError(RuntimeError):
    """A replay of an audit bundle needs a request the bundle does not hold."""


def uncached(requests: list[GenerationRequest], cache: CompletionCache) -> list[GenerationRequest]:
    stored = cache.get_many([request.key for request in requests])
    return [request for request in requests if request.key not in stored]


def replayable(missing: list[GenerationRequest], cache: CompletionCache | None) -> list[GenerationRequest]:
    """`missing` (requests the cache does not hold), to be sent; a replay sends nothing, so there
    any of them is an error naming it."""
    if cache is not None and cache.replay_source and missing:
        first = missing[0]
        raise ReplayError(
            f"{len(missing)} request(s) are not in the audit bundle {cache.replay_source}, the first "
            f"{first.key} (prompt {first.prompt_id}, item {first.item}, language {first.language}, "
            f"seed {first.seed}): a replay sends nothing"
        )
    return missing


def generate_responses(
    requests: list[GenerationRequest], backend: Backend, cache: CompletionCache | None = None
) -> tuple[pl.DataFrame, float]:
    """The responses table (one row per request, in order) and the seconds spent generating."""
    cached = cache.get_many([request.key for request in requests]) if cache else {}
    missing = replayable([request for request in requests if request.key not in cached], cache)
    started = time.perf_counter()
    answers = backend.generate(missing, cache.record if cache else None) if missing else []
    fresh = dict(zip([r.key for r in missing], answers, strict=True))
    seconds = time.perf_counter() - started
    completions = [cached.get(request.key) or fresh[request.key] for request in requests]
    table = pl.DataFrame(
        [
            {
                "prompt_id": request.prompt_id,
                "item": request.item,
                "text": completion.text,
                "finish_reason": completion.finish_reason,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "cached": completion.cached,
                "error": completion.error,
            }
            for request, completion in zip(requests, completions, strict=True)
        ],
        schema=RESPONSE_SCHEMA,
    )
    return table, seconds


def answer_run(
    requests: list[GenerationRequest],
    *,
    model: str,
    settings: dict,
    cache_path: str | Path,
    manifest: str | Path | None = None,
    run: str = "",
    phrase_banks: Mapping[str, PhraseBank] | None = None,
    ground_truth: str | Path | None = None,
    batch_state: str | Path | None = None,
    answer_languages: dict[str, str] | None = None,
) -> tuple[pl.DataFrame, float]:
    """One run's responses through its model's backend, and the seconds spent generating.
    Completions are cached the moment they arrive, unless the backend's answers are free and
    reproducible (simulated respondents). When one job answers all of a model's runs (vLLM), it
    already generated and cached them: its `manifest` says which ones of `run` were new, and how
    long they took."""
    kind = backend_class(settings["backend"])
    if kind.one_job_per_model:
        backend = StoredOnly(manifest)
    else:
        backend = create_backend(
            model,
            settings,
            phrase_banks=phrase_banks,
            ground_truth=pl.read_parquet(ground_truth) if ground_truth else None,
            batch_state=batch_state,
            answer_languages=answer_languages,
        )
    responses, seconds = generate_responses(
        requests, backend, CompletionCache(cache_path) if kind.cached else None
    )
    if kind.one_job_per_model:
        generated = backend.manifest["runs"].get(run, {})
        responses = with_fresh(responses, requests, set(generated.get("fresh", [])))
        seconds = generated.get("seconds", 0.0)
    return responses, seconds


def answer_and_account(
    requests: list[GenerationRequest],
    *,
    model: str,
    settings: dict,
    prices_path: str | Path,
    stage: str,
    language: str,
    seed: int | None,
    log: logging.Logger,
    **answering,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One run's responses (answer_run, with its `answering` arguments) and its ledger row, with
    what came from the cache and what failed logged."""
    responses, seconds = answer_run(requests, model=model, settings=settings, **answering)
    log.info(
        "%d responses: %d from the cache, %d failed",
        responses.height,
        responses["cached"].sum(),
        responses["error"].is_not_null().sum(),
    )
    ledger = generation_ledger(
        responses,
        settings=settings,
        prices_path=prices_path,
        stage=stage,
        model=model,
        language=language,
        seed=seed,
        seconds=seconds,
    )
    return responses, ledger


def write_manifest(path: str | Path, runs: dict, cache: CompletionCache) -> None:
    """What a model's one job (vLLM) did, for the per-run jobs that read its work from the cache:
    an entry per run, and the requests that failed with the reason."""
    Path(path).write_text(json.dumps({"runs": runs, "errors": cache.errors}))


def read_manifest(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


class StoredOnly:
    """The backend of a run whose completions another job already generated and cached (a vLLM
    model's one job for all its runs): what is not in the cache failed there (the manifest says
    why) or was never asked; it is an error, never a request."""

    def __init__(self, manifest: str | Path):
        self.source = str(manifest)
        self.manifest = read_manifest(manifest)

    def generate(self, requests: Sequence[GenerationRequest], record=None) -> list[Completion]:
        errors = self.manifest["errors"]
        return [
            Completion(None, None, error=errors.get(request.key, f"not generated by {self.source}"))
            for request in requests
        ]


def with_fresh(responses: pl.DataFrame, requests: list[GenerationRequest], fresh: set[str]) -> pl.DataFrame:
    """Mark as not cached the responses that another job generated for this run in its latest
    invocation, so that the ledger counts them as this run's work."""
    generated = [request.key in fresh for request in requests]
    return responses.with_columns(cached=pl.col("cached") & ~pl.Series(generated, dtype=pl.Boolean))
