from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.io import read_runs
from culturalign.items import load_items
from culturalign.llm_judge import judge_run, load_judge_template
from culturalign.logs import script_log

if __name__ == "__main__":  # vLLM starts worker processes that re-import this script
    with script_log(snakemake.log[0]) as log:
        judge, params, inputs, outputs = (
            snakemake.wildcards.judge,
            snakemake.params,
            snakemake.input,
            snakemake.output,
        )
        # One engine, loaded on the first run that needs it, judges every run.
        backend = create_backend(judge, params.settings)
        items, template = load_items(inputs.item_bank), load_judge_template(inputs.template)
        cache = CompletionCache(params.cache)
        for (run, responses), labels_path, ledger_path in zip(
            read_runs(inputs.responses, params.runs), outputs.labels, outputs.ledger, strict=True
        ):
            labels, ledger = judge_run(
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
            labels.write_parquet(labels_path)
            ledger.write_csv(ledger_path)
