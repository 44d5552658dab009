"""Generation stage: one model answers every prompt of one (language, seed)."""

import polars as pl

from culturalign.backends import Backend, GenerationRequest

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


def generation_requests(prompts: pl.DataFrame, language: str, seed: int) -> list[GenerationRequest]:
    """Each prompt as a single user message."""
    return [
        GenerationRequest(
            prompt_id=prompt_id,
            item=item,
            language=language,
            seed=seed,
            messages=({"role": "user", "content": text},),
        )
        for prompt_id, item, text in prompts.select("prompt_id", "item", "text").iter_rows()
    ]


def generate_responses(prompts: pl.DataFrame, backend: Backend, *, language: str, seed: int) -> pl.DataFrame:
    """The responses table of one (model, language, seed): one row per prompt, in prompt order."""
    requests = generation_requests(prompts, language, seed)
    completions = backend.generate(requests)
    return pl.DataFrame(
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
