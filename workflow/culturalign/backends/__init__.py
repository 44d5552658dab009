"""Model backends: a registry of classes that declare what they are (see base.Backend).

Each provider lives in its own module and registers itself with `@backend("name")`; the built-in
ones are imported the first time they are asked for, so that reading a trait never loads an SDK."""

import importlib

from culturalign.backends.base import REGISTRY, Backend, Completion, GenerationRequest, Record, backend

__all__ = [
    "Backend",
    "Completion",
    "GenerationRequest",
    "Record",
    "backend",
    "backend_class",
    "backend_names",
    "create_backend",
]

BUILT_IN = {
    "simulated": "culturalign.backends.simulated",
    "openai": "culturalign.backends.openai_api",
    "vllm": "culturalign.backends.vllm_offline",
    "imported": "culturalign.backends.imported",
}


class UnknownBackend(ValueError):
    """A `backend:` that no module registers."""


def backend_class(name: str) -> type[Backend]:
    """The class registered under `name`."""
    if name not in REGISTRY and name in BUILT_IN:
        importlib.import_module(BUILT_IN[name])
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownBackend(f"unknown backend {name!r}; known backends: {backend_names()}") from None


def backend_names(where=lambda cls: cls.configurable) -> list[str]:
    """The names of the registered backends (built-in ones included) whose class satisfies `where`."""
    for module in BUILT_IN.values():
        importlib.import_module(module)
    return sorted(name for name, cls in REGISTRY.items() if where(cls))


def create_backend(slug: str, settings: dict, **context) -> Backend:
    """The backend a model's settings (its entry under `models:`) ask for; `context` holds what
    some backends need to run (see Backend.create)."""
    return backend_class(settings["backend"]).create(slug, settings, **context)
