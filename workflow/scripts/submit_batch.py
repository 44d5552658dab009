import json

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.calls import replayable, uncached
from culturalign.generate import run_requests
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    wildcards, params = snakemake.wildcards, snakemake.params
    backend = create_backend(wildcards.model, params.settings, batch_state=params.state)
    requests = run_requests(
        snakemake.input.prompts,
        language=wildcards.language,
        seed=int(wildcards.seed),
        settings=params.settings,
        study_sampling=params.sampling,
    )
    cache = CompletionCache(params.cache)
    missing = replayable(uncached(requests, cache), cache)
    submitted = backend.submit(missing)
    log.info(
        "%d requests: %d cached, %d submitted now, %d already in batches (state: %s)",
        len(requests),
        len(requests) - len(missing),
        submitted,
        len(missing) - submitted,
        params.state,
    )
    receipt = [
        {"batch_id": batch["batch_id"], "requests": len(batch["keys"]), "status": batch["status"]}
        for batch in backend.state["batches"]
    ]
    with open(snakemake.output[0], "w") as out:
        json.dump({"state": params.state, "batches": receipt}, out, indent=1)
