import json
import time

import polars as pl

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.generate import run_requests, sampling_parameters, uncached
from culturalign.logs import script_log
from culturalign.safety.prompts import safety_requests

if __name__ == "__main__":  # vLLM starts worker processes that re-import this script
    with script_log(snakemake.log[0]) as log:
        model, params = snakemake.wildcards.model, snakemake.params
        cache = CompletionCache(params.cache)
        runs = {}
        for name, path in snakemake.input.items():
            if name.startswith("safety_"):
                language, prompts = name.removeprefix("safety_"), pl.read_parquet(path)
                parameters = sampling_parameters(params.safety_sampling, params.settings)
                for attack in params.attacks:
                    requests = safety_requests(
                        prompts, attack=attack, settings=params.settings, parameters=parameters
                    )
                    runs[f"safety/{language}/{attack}"] = uncached(requests, cache)
                continue
            language, seed = name.rsplit("_", 1)
            requests = run_requests(
                path,
                language=language,
                seed=int(seed),
                settings=params.settings,
                study_sampling=params.sampling,
            )
            runs[f"{language}/{seed}"] = uncached(requests, cache)
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
