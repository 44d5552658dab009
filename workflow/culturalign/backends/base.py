"""The request and completion every backend speaks."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to one model. `item`, `language`, `seed` and `attack` let simulated respondents
    answer; real backends see only the messages. A safety prompt's `item` is its kind (harmful or
    benign) and `attack` the jailbreak wrapper around it; survey prompts have no attack."""

    prompt_id: str
    item: str
    language: str
    seed: int
    messages: tuple[dict[str, str], ...]
    parameters: dict = field(default_factory=dict)
    key: str = ""
    attack: str | None = None


@dataclass(frozen=True)
class Completion:
    text: str | None
    finish_reason: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: bool = False
    error: str | None = None


Record = Callable[[GenerationRequest, Completion], None]


class Backend(Protocol):
    def generate(
        self, requests: Sequence[GenerationRequest], record: Record | None = None
    ) -> list[Completion]:
        """One completion per request, in order; a failed request is a Completion with `error`.
        `record` is called with each completion the moment it arrives (to cache it)."""
        ...
