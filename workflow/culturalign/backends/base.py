"""The request and completion every backend speaks, the traits a backend declares about itself,
and the registry that maps a model's `backend:` to its class."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar


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
    # what an API said answered (its model id, its system fingerprint where it gives one): an
    # alias such as gpt-4o moves to newer weights, and an audit must show which ones answered
    model_id: str | None = None
    system_fingerprint: str | None = None


Record = Callable[[GenerationRequest, Completion], None]


class Backend:
    """A model behind one small interface: a list of requests in, a list of completions out.

    The class attributes are what the workflow asks instead of comparing backend names; each
    backend overrides those that differ from these defaults (a priced API model)."""

    name: ClassVar[str] = ""
    # A calibration model with a known answer, not a language model: it writes from phrase banks,
    # so it answers only in languages that have one, and the report says its results are simulated.
    simulated: ClassVar[bool] = False
    # Whether its answers need an LLM judge; without one the study stops after generation.
    needs_llm_judge: ClassVar[bool] = True
    # One job answers every run of the model (its weights load once), instead of one job per run.
    one_job_per_model: ClassVar[bool] = False
    # That job asks for the model's `gpus` and runs in the GPU environment.
    gpu: ClassVar[bool] = False
    # Its tokens cost money at the price table's rate.
    priced: ClassVar[bool] = True
    # Its completions are worth keeping: they go to the completion cache the moment they arrive.
    cached: ClassVar[bool] = True
    # Its answers cost nothing and take no time: the job that reads them writes them too, instead
    # of a job per run of their own (whose start-up would cost more than the answers).
    answered_by_reader: ClassVar[bool] = False
    # Structured output can make a judge return exactly as many labels as there are statements.
    fixed_label_count: ClassVar[bool] = False
    # It may be named as a judge or translator (a real model that reads and writes text).
    serves_as_tool: ClassVar[bool] = True
    # A user may configure it under models (not a stand-in the workflow makes itself).
    configurable: ClassVar[bool] = True

    @classmethod
    def create(cls, slug: str, settings: dict, **context) -> "Backend":
        """The backend for a model's settings; `context` holds what some backends need to run
        (phrase banks, ground truth, a batch state file, answer languages): each takes its own."""
        return cls(slug, settings)

    @classmethod
    def requests_in_flight(cls, settings: dict) -> int:
        """Requests a job of this model keeps in flight against an API (profiles cap their sum)."""
        return 0

    @classmethod
    def submits_ahead(cls, settings: dict) -> bool:
        """Whether its requests are submitted in a quick job of their own before the job that
        collects them (the Batch API)."""
        return False

    @classmethod
    def price_factor(cls, settings: dict) -> float:
        """The share of the price table's rate it pays (the Batch API pays half)."""
        return 1.0

    @classmethod
    def sent_to_llm_judge(cls, settings: dict) -> bool:
        """Whether the LLM judges, when the study has any, read this model's answers."""
        return True

    def generate(
        self, requests: Sequence[GenerationRequest], record: Record | None = None
    ) -> list[Completion]:
        """One completion per request, in order; a failed request is a Completion with `error`.
        `record` is called with each completion the moment it arrives (to cache it)."""
        raise NotImplementedError


REGISTRY: dict[str, type[Backend]] = {}


def backend(name: str) -> Callable[[type[Backend]], type[Backend]]:
    """Register a backend class under the name a model's `backend:` gives."""

    def register(cls: type[Backend]) -> type[Backend]:
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return register
