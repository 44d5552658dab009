"""Local open-weight models through vLLM's offline engine, without a server.

The engine is built on the first `generate` call and kept, so one weight load serves every
language and seed a job asks for. Requests enter the engine through `LLM.enqueue_chat` (the
model's own chat template) and never more than `chunk_size` at once: the window is topped up as
requests finish, and each completion is recorded (cached) the moment it finishes, so a killed job
loses at most one chunk of work while the engine's batch stays full. vLLM validates each request
as it is added: one it refuses (a prompt longer than the model's context) is an error on that
request, not a failed batch. On SIGTERM (long_jobs) no new request enters, those in flight finish
and are recorded, and the job stops.

Each request samples with its own seed, derived from its cache key (and the configured seed, if
any): the same request gives the same text again, and the same prompt in another slot of the study
is sampled afresh. The engine's processes are stopped at exit (or by `close`). vllm is imported
only here, as it lives in its own environment.
"""

import atexit
import hashlib
import logging
from collections.abc import Sequence

from culturalign.backends.base import Backend, Completion, GenerationRequest, Record, backend
from culturalign.logs import LogProgress
from culturalign.long_jobs import Stopped, grace_seconds, stop_requested

log = logging.getLogger("culturalign")

# Requests in the engine at once: several times the batch vLLM runs on an A100 (256 sequences),
# so that the batch stays full, and a few minutes of work at most.
DEFAULT_CHUNK_SIZE = 1024


def request_seed(request: GenerationRequest) -> int:
    """A reproducible 31-bit seed of the request's own, mixed with its configured `seed` if it has one."""
    identity = request.key or repr((request.language, request.seed, request.prompt_id, request.messages))
    configured = request.parameters.get("seed")
    if configured is not None:
        identity = f"{configured}/{identity}"
    return int(hashlib.sha256(identity.encode()).hexdigest()[:8], 16) >> 1


def sampling_params(request: GenerationRequest):
    """vLLM's sampling parameters for a request's OpenAI-style ones; a `response_format` JSON
    schema becomes structured (guided) decoding, so that a judge's answer always parses."""
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    parameters = dict(request.parameters) | {"seed": request_seed(request)}
    response_format = parameters.pop("response_format", None)
    if response_format is not None:
        schema = response_format["json_schema"]["schema"]
        parameters["structured_outputs"] = StructuredOutputsParams(json=schema)
    return SamplingParams(**parameters)


def completion_of(output) -> Completion:
    """A finished vLLM request output as a Completion."""
    best = output.outputs[0]
    return Completion(
        text=best.text,
        finish_reason=best.finish_reason,
        prompt_tokens=len(output.prompt_token_ids or ()),
        completion_tokens=len(best.token_ids),
    )


@backend("vllm")
class VLLMBackend(Backend):
    one_job_per_model = True
    gpu = True
    # own GPUs: no price per token
    priced = False
    fixed_label_count = True

    def __init__(self, slug: str, settings: dict):
        self.slug = slug
        self.model = settings["model"]
        self.engine_options = dict(settings.get("engine", {}))
        # the job asks the scheduler for as many GPUs (rules/common.smk: gpus)
        self.tensor_parallel_size = settings.get("gpus", 1)
        self.chunk_size = settings.get("chunk_size", DEFAULT_CHUNK_SIZE)
        self.grace_seconds = grace_seconds(settings)
        self.engine_loads = 0
        self._engine = None

    def generate(
        self, requests: Sequence[GenerationRequest], record: Record | None = None
    ) -> list[Completion]:
        if not requests:
            return []
        from vllm.exceptions import VLLMClientError

        llm = self._llm()
        completions: list[Completion | None] = [None] * len(requests)
        in_flight: dict[str, int] = {}
        # a line at least once per chunk, and every 30 s
        progress = LogProgress(log, f"{self.slug}: ", len(requests), every=self.chunk_size)
        waiting = iter(range(len(requests)))

        def finish(index: int, completion: Completion) -> None:
            completions[index] = completion
            if record is not None:
                record(requests[index], completion)
            progress.advance(completion.completion_tokens)

        while True:
            while len(in_flight) < self.chunk_size and not stop_requested():
                index = next(waiting, None)
                if index is None:
                    break
                try:
                    in_flight[self._enqueue(llm, requests[index])] = index
                # what vLLM raises for a request it will not take (older versions: ValueError)
                except (VLLMClientError, ValueError) as refused:
                    finish(index, Completion(None, None, error=f"refused by vLLM: {refused}"))
            if not in_flight:
                break
            for output in llm.llm_engine.step():
                if output.finished:
                    index, completion = in_flight.pop(output.request_id), completion_of(output)
                    # cut short by an engine shutting down: not an answer, and never cached
                    if completion.finish_reason != "abort":
                        finish(index, completion)
            progress.tick()
        done = sum(completion is not None for completion in completions)
        if done < len(requests):
            why = "on SIGTERM" if stop_requested() else "as its engine aborted requests"
            raise Stopped(f"{self.slug}: stopped {why} with {done} of {len(requests)} requests recorded")
        failed = sum(completion.error is not None for completion in completions)
        log.info("%s: %d requests answered, %d refused", self.slug, len(requests) - failed, failed)
        return completions

    def _enqueue(self, llm, request: GenerationRequest) -> str:
        """Add one request to the engine; the id its output will carry."""
        conversation = [dict(message) for message in request.messages]
        (added,) = llm.enqueue_chat([conversation], [sampling_params(request)], use_tqdm=False)
        # vLLM adds a random suffix to the id it returns; outputs carry the id without it
        return added.rsplit("-", 1)[0]

    def _llm(self):
        if self._engine is None:
            from vllm import LLM

            log.info("%s: loading %s on %d GPU(s)", self.slug, self.model, self.tensor_parallel_size)
            options = {
                "enable_prefix_caching": True,
                "seed": 0,
                # Guided JSON without free whitespace: a weak model could otherwise pad it until
                # max_tokens cuts it off (vLLM reads this per engine, not per request).
                "structured_outputs_config": {"backend": "xgrammar", "disable_any_whitespace": True},
                # SLURM sends SIGTERM to the engine's process too: it lets the requests in flight
                # finish for as long as the job waits for them
                "shutdown_timeout": self.grace_seconds,
                **self.engine_options,
            }
            self._engine = LLM(model=self.model, tensor_parallel_size=self.tensor_parallel_size, **options)
            self.engine_loads += 1
            # Registered after vllm imported multiprocessing, so it runs before multiprocessing's own
            # exit handler, which would otherwise wait forever for the engine process to end.
            atexit.register(self.close)
        return self._engine

    def close(self) -> None:
        """Stop the engine and its worker processes; the next `generate` would load it again."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.llm_engine.engine_core.shutdown()
