import polars as pl

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.calls import StoredOnly
from culturalign.items import load_items
from culturalign.ledger import model_price
from culturalign.llm_judge import judge_run, load_judge_template, manifest_ledger
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    wildcards, params, inputs = snakemake.wildcards, snakemake.params, snakemake.input
    run = {"model": wildcards.model, "language": wildcards.language, "seed": int(wildcards.seed)}
    # a GPU judge's one job already judged this run into the cache (its manifest)
    manifest = inputs.get("manifest")
    backend = (
        StoredOnly(manifest)
        if manifest
        else create_backend(wildcards.judge, params.settings, batch_state=params.state)
    )
    labels, ledger = judge_run(
        pl.read_parquet(inputs.responses),
        load_items(inputs.item_bank),
        load_judge_template(inputs.template),
        backend,
        CompletionCache(params.cache),
        judge=wildcards.judge,
        settings=params.settings,
        **run,
        min_statements=params.min_statements,
        language_from=params.language_from,
        price=model_price(params.settings, inputs.prices),
        log=log,
    )
    labels.write_parquet(snakemake.output.labels)
    (manifest_ledger(manifest, **run) if manifest else ledger).write_csv(snakemake.output.ledger)
