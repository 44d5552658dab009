import json
import time

import polars as pl

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.calls import sampling_parameters, uncached
from culturalign.generate import run_requests
from culturalign.logs import script_log
from culturalign.safety.prompts import safety_requests

if __name__ == "__main__":  # vLLM starts worker processes that re-import this script
    with script_log(snakemake.log[0]) as log:
        model, params = snakemake.wildcards.model, snakemake.params
        cache = CompletionCache(params.cache)
        runs = {}
        for run, path in zip(params.runs, snakemake.input.prompts, strict=True):
            requests = run_requests(
                path,
                language=run["language"],
                seed=run["seed"],
                settings=params.settings,
                study_sampling=params.sampling,
            )
            runs[f"{run['language']}/{run['seed']}"] = uncached(requests, cache)
        parameters = sampling_parameters(params.safety_sampling, params.settings)
        for language, path in zip(params.safety_languages, snakemake.input.safety_prompts, strict=True):
            prompts = pl.read_parquet(path)
            for attack in params.attacks:
                requests = safety_requests(
                    prompts, attack=attack, settings=params.settings, parameters=parameters
                )
                runs[f"safety/{language}/{attack}"] = uncached(requests, cache)
        missing = [request for requests in runs.values() for request in requests]
        log.info("%s: %d requests to generate over %d runs", model, len(missing), len(runs))
        backend = create_backend(model, params.settings)
        started = time.perf_counter()
        completions = backend.generate(missing, cache.record)
        seconds = time.perf_counter() - started
        failed = sum(completion.error is not None for completion in completions)
        log.info("%s: generated in %.1f s, %d failed", model, seconds, failed)
        share = seconds / len(missing) if missing else 0.0
        manifest = {
            run: {"fresh": [request.key for request in requests], "seconds": share * len(requests)}
            for run, requests in runs.items()
        }
        with open(snakemake.output[0], "w") as out:
            json.dump(manifest, out)
