import json
import time

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.generate import run_requests, uncached
from culturalign.logs import script_log

if __name__ == "__main__":  # vLLM starts worker processes that re-import this script
    with script_log(snakemake.log[0]) as log:
        model, params = snakemake.wildcards.model, snakemake.params
        cache = CompletionCache(params.cache)
        runs = {}
        for name, path in snakemake.input.items():
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
