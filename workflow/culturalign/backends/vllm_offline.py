"""Local open-weight models through vLLM's offline engine, without a server.

The engine is built on the first `generate` call and kept, so one weight load serves every
language and seed a job asks for. `LLM.chat` applies the model's own chat template. Each request
samples with its own seed, derived from its cache key (and the configured seed, if any): the same
request gives the same text again, and the same prompt in another slot of the study is sampled
afresh. The engine's processes are stopped at exit (or by `close`). vllm is imported only here, as
it lives in its own environment.
"""

import atexit
import hashlib
import logging
from collections.abc import Sequence

from culturalign.backends.base import Backend, Completion, GenerationRequest, Record, backend

log = logging.getLogger("culturalign")


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
        self.engine_loads = 0
        self._engine = None

    def generate(
        self, requests: Sequence[GenerationRequest], record: Record | None = None
    ) -> list[Completion]:
        if not requests:
            return []
        sampling = [sampling_params(request) for request in requests]
        conversations = [[dict(message) for message in request.messages] for request in requests]
        outputs = self._llm().chat(conversations, sampling_params=sampling, use_tqdm=False)
        completions = []
        for request, output in zip(requests, outputs, strict=True):
            best = output.outputs[0]
            completion = Completion(
                text=best.text,
                finish_reason=best.finish_reason,
                prompt_tokens=len(output.prompt_token_ids or ()),
                completion_tokens=len(best.token_ids),
            )
            if record is not None:
                record(request, completion)
            completions.append(completion)
        log.info("%s: %d requests answered", self.slug, len(requests))
        return completions

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
