"""Model backends behind one small interface: a list of requests in, a list of completions out.

Each provider lives in its own module; `create_backend` picks one from a model's config."""

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
) -> Backend:
    """The backend a model's settings (its entry under `models:`) ask for; simulated respondents
    need the phrase banks they write from and the survey populations they reproduce."""
    if settings["backend"] == "simulated":
        from culturalign.backends.simulated import SimulatedRespondent

        return SimulatedRespondent(slug, settings, banks=phrase_banks or {}, ground_truth=ground_truth)
    if settings["backend"] == "openai" and not settings.get("batch", False):
        from culturalign.backends.openai_api import OpenAIBackend

        return OpenAIBackend(slug, settings)
    raise NotImplementedError(f"models.{slug}: the {settings['backend']} backend is not available yet")
