"""OpenAI-compatible backend: the OpenAI API or any server that speaks it (vLLM's server, Ollama,
llama.cpp's server), through the openai SDK's async client.

Requests run with bounded concurrency. Rate limits (429), server errors (5xx), time-outs and
dropped connections are retried with exponential backoff and jitter, honouring Retry-After; a
refused key (401/403) or an unknown model (404) stops at once without retrying. A request that
still fails is recorded with its error, and the job fails only when failures exceed
`max_failure_fraction`. The API key comes from the environment only and is never logged.
"""

import asyncio
import logging
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from culturalign.backends.base import Backend, Completion, GenerationRequest, backend
from culturalign.logs import LogProgress

DEFAULTS = {
    "concurrency": 16,
    "max_retries": 6,
    "timeout": 120.0,
    "max_failure_fraction": 0.05,
    "batch_max_requests": 50_000,
    "batch_max_bytes": 190_000_000,  # under the Batch API's 200 MB per input file
    "poll_seconds": 60.0,
    "max_wait_hours": 25.0,
    "max_resubmits": 2,
}
BATCH_PRICE_FACTOR = 0.5  # the Batch API bills half the direct price
log = logging.getLogger("culturalign")


class BackendError(RuntimeError):
    """A failure that retrying cannot fix (refused key, unknown model, too many failed requests)."""


def api_key(slug: str, key_variable: str, base_url: str | None) -> str:
    """The API key from the environment; local servers (a base URL) may need none."""
    key = os.environ.get(key_variable)
    if key is None and base_url is None:
        raise BackendError(f"models.{slug}: set the API key in the environment variable {key_variable}")
    return key or "unused"


def refusal(settings: "OpenAISettings", failure) -> BackendError:
    """A refused key (401/403) or an unknown model (404), said without the key."""
    where = f"models.{settings.slug}"
    if failure.status_code == 404:
        return BackendError(f"{where}: model {settings.model!r} not found at {settings.endpoint} (HTTP 404)")
    return BackendError(
        f"{where}: the server at {settings.endpoint} refused the API key from {settings.key_variable} "
        f"(HTTP {failure.status_code})"
    )


@dataclass(frozen=True)
class OpenAISettings:
    """A model's settings for the OpenAI API, direct or through the Batch API, with defaults."""

    slug: str
    model: str
    base_url: str | None
    key_variable: str
    batch: bool
    concurrency: int
    max_retries: int
    timeout: float
    max_failure_fraction: float
    batch_max_requests: int
    batch_max_bytes: int
    poll_seconds: float
    max_wait_hours: float
    max_resubmits: int

    @classmethod
    def parse(cls, slug: str, settings: dict) -> "OpenAISettings":
        options = DEFAULTS | {name: settings[name] for name in DEFAULTS if name in settings}
        return cls(
            slug=slug,
            model=settings["model"],
            base_url=settings.get("base_url"),
            key_variable=settings.get("api_key_env", "OPENAI_API_KEY"),
            batch=bool(settings.get("batch", False)),
            concurrency=int(options["concurrency"]),
            max_retries=int(options["max_retries"]),
            timeout=float(options["timeout"]),
            max_failure_fraction=float(options["max_failure_fraction"]),
            batch_max_requests=int(options["batch_max_requests"]),
            batch_max_bytes=int(options["batch_max_bytes"]),
            poll_seconds=float(options["poll_seconds"]),
            max_wait_hours=float(options["max_wait_hours"]),
            max_resubmits=int(options["max_resubmits"]),
        )

    @property
    def endpoint(self) -> str:
        return self.base_url or "api.openai.com"


@backend("openai")
class OpenAIBackend(Backend):
    """Direct calls with bounded concurrency; with `batch: true` the model goes through the Batch
    API instead (openai_batch.py), which keeps its batches in a state file."""

    @classmethod
    def create(cls, slug, settings, *, batch_state=None, **_):
        parsed = OpenAISettings.parse(slug, settings)
        if not parsed.batch:
            return cls(parsed)
        from culturalign.backends.openai_batch import OpenAIBatchBackend

        if batch_state is None:
            raise ValueError(f"models.{slug}: the Batch API needs a state file")
        return OpenAIBatchBackend(parsed, batch_state)

    @classmethod
    def requests_in_flight(cls, settings: dict) -> int:
        parsed = OpenAISettings.parse("", settings)
        return 0 if parsed.batch else parsed.concurrency

    @classmethod
    def submits_ahead(cls, settings: dict) -> bool:
        return bool(settings.get("batch", False))

    @classmethod
    def price_factor(cls, settings: dict) -> float:
        return BATCH_PRICE_FACTOR if settings.get("batch", False) else 1.0

    def __init__(self, settings: OpenAISettings):
        self.settings = settings

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        record: Callable[[GenerationRequest, Completion], None] | None = None,
    ) -> list[Completion]:
        completions = asyncio.run(self._generate_all(requests, record or (lambda request, completion: None)))
        failed = sum(completion.error is not None for completion in completions)
        if requests and failed / len(requests) > self.settings.max_failure_fraction:
            raise BackendError(
                f"models.{self.settings.slug}: {failed} of {len(requests)} requests failed after retries, "
                "more than "
                f"max_failure_fraction {self.settings.max_failure_fraction}; first error: "
                + next(c.error for c in completions if c.error is not None)
            )
        return completions

    async def _generate_all(self, requests, record) -> list[Completion]:
        import openai

        # Our own retry loop honours Retry-After and counts failures; the SDK's would hide them.
        # aiohttp as transport: httpx's connection pool costs milliseconds of CPU per request at
        # high concurrency, which caps throughput long before the API does.
        client = openai.AsyncOpenAI(
            api_key=api_key(self.settings.slug, self.settings.key_variable, self.settings.base_url),
            base_url=self.settings.base_url,
            max_retries=0,
            timeout=self.settings.timeout,
            http_client=openai.DefaultAioHttpClient(timeout=self.settings.timeout),
        )
        semaphore = asyncio.Semaphore(self.settings.concurrency)
        progress = LogProgress(log, f"{self.settings.slug}: ", len(requests))
        failed = 0

        async def one(request: GenerationRequest) -> Completion:
            nonlocal failed
            async with semaphore:
                completion = await self._with_retries(client, request)
            record(request, completion)
            failed += completion.error is not None
            progress.advance(completion.completion_tokens, f" ({failed} failed)" if failed else "")
            return completion

        try:
            return await asyncio.gather(*(one(request) for request in requests))
        finally:
            await client.close()

    async def _with_retries(self, client, request: GenerationRequest) -> Completion:
        import openai
        from openai.types.chat import ChatCompletion

        refused = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)
        error = "no attempt"
        for attempt in range(self.settings.max_retries + 1):
            try:
                # The SDK's generic post skips re-validating the typed request body, which costs
                # more CPU per request than the HTTP exchange itself.
                response = await client.post(
                    "/chat/completions",
                    body={
                        "model": self.settings.model,
                        "messages": list(request.messages),
                        **request.parameters,
                    },
                    cast_to=ChatCompletion,
                )
                choice = response.choices[0]
                usage = response.usage
                return Completion(
                    text=choice.message.content,
                    finish_reason=choice.finish_reason,
                    prompt_tokens=usage.prompt_tokens if usage else None,
                    completion_tokens=usage.completion_tokens if usage else None,
                    model_id=response.model,
                    system_fingerprint=response.system_fingerprint,
                )
            except refused as failure:
                raise refusal(self.settings, failure) from None
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as failure:
                error = f"{type(failure).__name__}: {getattr(failure, 'status_code', '')}".strip()
                await asyncio.sleep(self._delay(attempt, failure))
            except openai.APIStatusError as failure:
                return Completion(None, None, error=f"HTTP {failure.status_code}")
            except (
                openai.APIResponseValidationError,
                ValueError,
                AttributeError,
                IndexError,
                TypeError,
            ) as failure:
                # A malformed body is worth another try: proxies sometimes cut responses.
                error = f"malformed response: {type(failure).__name__}"
                await asyncio.sleep(self._delay(attempt, None))
        return Completion(None, None, error=f"failed after {self.settings.max_retries + 1} attempts: {error}")

    @staticmethod
    def _delay(attempt: int, failure) -> float:
        response = getattr(failure, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after is not None:
            try:
                return float(retry_after)
            except ValueError:
                pass
        return min(60.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)
