from pathlib import Path

import polars as pl

from culturalign.backends import backend_class
from culturalign.cache import CompletionCache
from culturalign.calls import sampling_parameters, uncached
from culturalign.generate import run_requests
from culturalign.ledger import estimate_run, model_price, observed_completion_tokens
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    cache = CompletionCache(params.cache)
    rows = []
    for slug, settings in params.models.items():
        if backend_class(settings["backend"]).simulated:
            continue
        history = [pl.read_csv(path) for path in Path("results/ledger/generate", slug).glob("*/*.csv")]
        typical = observed_completion_tokens(history)
        max_tokens = sampling_parameters(params.sampling, settings)["max_tokens"]
        for path, sample in zip(snakemake.input.prompts, params.samples, strict=True):
            language, seed = sample["language"], sample["seed"]
            requests = run_requests(
                path, language=language, seed=seed, settings=settings, study_sampling=params.sampling
            )
            rows.append(
                estimate_run(
                    uncached(requests, cache),
                    model=slug,
                    language=language,
                    seed=seed,
                    max_tokens=max_tokens,
                    typical_completion=typical,
                    price=model_price(settings, snakemake.input.prices),
                    batch=settings.get("batch", False),
                )
            )
    estimate = pl.concat(rows) if rows else pl.DataFrame()
    estimate.write_csv(snakemake.output[0])
    if rows:
        totals = estimate.group_by("model", maintain_order=True).agg(
            pl.col("requests", "prompt_tokens", "completion_tokens").sum(),
            pl.col("completion_basis").first(),
            pl.col("batch").first(),
            # no price (own GPUs, a model missing from the price table): no cost, not $0
            pl.when(pl.col("cost_usd").is_not_null().any()).then(pl.col("cost_usd").sum().round(2)),
        )
        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True):
            summary = (
                f"Expected generation work (nothing sent):\n{totals}\nTotal: ${totals['cost_usd'].sum():.2f}"
            )
    else:
        summary = "No real models configured: nothing to send, nothing to pay."
    log.info("%s", summary)
    print(summary)
