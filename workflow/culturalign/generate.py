"""Generation stage: the requests of one model answering every prompt of one (language, seed);
they are sent through culturalign.calls."""

from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from culturalign.backends import GenerationRequest
from culturalign.calls import keyed_request, sampling_parameters
from culturalign.safety.prompts import safety_requests


def generation_requests(
    prompts: pl.DataFrame, *, language: str, seed: int, settings: dict, parameters: dict
) -> list[GenerationRequest]:
    """Each prompt as a single user message. A request's key covers backend, model, endpoint,
    messages, sampling parameters and its slot in the study (seed and prompt), so that the same
    text drawn twice is sampled twice."""
    return [
        keyed_request(
            settings,
            text,
            parameters,
            f"{seed}/{prompt_id}",
            prompt_id=prompt_id,
            item=item,
            language=language,
            seed=seed,
        )
        for prompt_id, item, text in prompts.select("prompt_id", "item", "text").iter_rows()
    ]


def run_requests(
    prompts_path: str | Path, *, language: str, seed: int, settings: dict, study_sampling: dict
) -> list[GenerationRequest]:
    """The requests of one (model, language, seed) run, from its prompt sample."""
    return generation_requests(
        pl.read_parquet(prompts_path),
        language=language,
        seed=seed,
        settings=settings,
        parameters=sampling_parameters(study_sampling, settings),
    )


def model_requests(
    runs: Sequence[Mapping],
    prompt_paths: Sequence[str | Path],
    safety_prompt_paths: Mapping[str, str | Path],
    *,
    settings: dict,
    sampling: dict,
    safety_sampling: dict,
    attacks: Mapping[str, Sequence[str]],
) -> dict[str, list[GenerationRequest]]:
    """Every request a model's one job answers (vLLM), by run: each (language, seed) sample's
    (`language/seed`) and each safety language's under each of its `attacks`
    (`safety/language/attack`)."""
    requests = {
        f"{run['language']}/{run['seed']}": run_requests(
            path, language=run["language"], seed=run["seed"], settings=settings, study_sampling=sampling
        )
        for run, path in zip(runs, prompt_paths, strict=True)
    }
    parameters = sampling_parameters(safety_sampling, settings)
    for language, path in safety_prompt_paths.items():
        prompts = pl.read_parquet(path)
        for attack in attacks[language]:
            requests[f"safety/{language}/{attack}"] = safety_requests(
                prompts, attack=attack, settings=settings, parameters=parameters
            )
    return requests
