from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.calls import write_manifest
from culturalign.io import read_runs
from culturalign.items import load_items
from culturalign.llm_judge import judge_run, load_judge_template, run_key
from culturalign.logs import script_log
from culturalign.long_jobs import grace_seconds, stop_on_sigterm

if __name__ == "__main__":  # vLLM starts worker processes that re-import this script
    params, inputs = snakemake.params, snakemake.input
    with script_log(snakemake.log[0]) as log, stop_on_sigterm(grace_seconds(params.settings), log):
        judge = snakemake.wildcards.judge
        # One engine, loaded on the first run that needs it, judges every run into the cache; each
        # run's llm_judge job reads its labels back and takes its ledger row from this manifest.
        backend = create_backend(judge, params.settings)
        items, template = load_items(inputs.item_bank), load_judge_template(inputs.template)
        cache = CompletionCache(params.cache, job=f"llm_judge_vllm/{judge}")
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
        write_manifest(snakemake.output[0], manifest, cache)
        cache.finish_job()
