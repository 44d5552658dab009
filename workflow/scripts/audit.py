from pathlib import Path

from culturalign.audit import produced_results, write_bundle
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    results = produced_results(Path("results"), params.result_patterns)
    digest = write_bundle(
        Path(snakemake.output[0]),
        config=params.config,
        canary_date=params.canary_date,
        repo=Path(params.repo),
        results=results,
        cache_path=params.cache,
    )
    log.info("%d results bundled; %s/manifest.json: sha256 %s", len(results), snakemake.output[0], digest)
