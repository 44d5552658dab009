"""Model backends behind one small interface: a list of requests in, a list of completions out.

Each provider lives in its own module; `create_backend` picks one from a model's config."""

from pathlib import Path

import polars as pl

from culturalign.backends.base import Backend, Completion, GenerationRequest
from culturalign.phrase_bank import PhraseBank

__all__ = ["Backend", "Completion", "GenerationRequest", "create_backend"]


def create_backend(
    slug: str,
    settings: dict,
    *,
    phrase_banks: dict[str, PhraseBank] | None = None,
    ground_truth: pl.DataFrame | None = None,
    batch_state: str | Path | None = None,
    answer_languages: dict[str, str] | None = None,
) -> Backend:
    """The backend a model's settings (its entry under `models:`) ask for; simulated respondents
    need the phrase banks they write from, the survey populations they reproduce and the language
    each prompt language's `other_language` attack asks for; a vLLM model
    is split across its `gpus` GPUs; a Batch API model keeps its batches in `batch_state`."""
    if settings["backend"] == "simulated":
        from culturalign.backends.simulated import SimulatedRespondent

        return SimulatedRespondent(
            slug,
            settings,
            banks=phrase_banks or {},
            ground_truth=ground_truth,
            answer_languages=answer_languages,
        )
    if settings["backend"] == "openai" and settings.get("batch", False):
        from culturalign.backends.openai_batch import OpenAIBatchBackend

        if batch_state is None:
            raise ValueError(f"models.{slug}: the Batch API needs a state file")
        return OpenAIBatchBackend(slug, settings, batch_state)
    if settings["backend"] == "openai":
        from culturalign.backends.openai_api import OpenAIBackend

        return OpenAIBackend(slug, settings)
    if settings["backend"] == "vllm":
        from culturalign.backends.vllm_offline import VLLMBackend

        return VLLMBackend(slug, settings)
    raise NotImplementedError(f"models.{slug}: the {settings['backend']} backend is not available yet")
