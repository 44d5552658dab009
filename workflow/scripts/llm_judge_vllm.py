import json

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.io import read_runs
from culturalign.items import load_items
from culturalign.llm_judge import judge_run, load_judge_template, run_key
from culturalign.logs import script_log

if __name__ == "__main__":  # vLLM starts worker processes that re-import this script
    with script_log(snakemake.log[0]) as log:
        judge, params, inputs = snakemake.wildcards.judge, snakemake.params, snakemake.input
        # One engine, loaded on the first run that needs it, judges every run into the cache; each
        # run's llm_judge job reads its labels back and takes its ledger row from this manifest.
        backend = create_backend(judge, params.settings)
        items, template = load_items(inputs.item_bank), load_judge_template(inputs.template)
        cache = CompletionCache(params.cache)
        manifest = {}
        for run, responses in read_runs(inputs.responses, params.runs):
            _, ledger = judge_run(
                responses,
                items,
                template,
                backend,
                cache,
                judge=judge,
                settings=params.settings,
                **run,
                min_statements=params.min_statements,
                language_from=params.language_from,
                price=None,
                log=log,
            )
            manifest[run_key(**run)] = ledger.row(0, named=True)
        with open(snakemake.output[0], "w") as out:
            json.dump(manifest, out)
