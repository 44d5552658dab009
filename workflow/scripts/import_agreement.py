import polars as pl

from culturalign.language_resources import language_of
from culturalign.logs import script_log
from culturalign.safety.imported import (
    MATCHER,
    human_agreement,
    labelled_completions,
    labeller_rates,
    matcher_labels,
)
from culturalign.safety.sets import load_refusal_rules

with script_log(snakemake.log[0]) as log:
    inputs, params, outputs = snakemake.input, snakemake.params, snakemake.output
    completions = pl.read_parquet(inputs.completions)
    rules = {language_of(path): load_refusal_rules(path) for path in inputs.safety_sets}
    without = sorted(set(completions["language"]) - set(rules))
    if without:
        log.warning(
            "no refusal phrases in %s: the matcher labels none of their completions", ", ".join(without)
        )
    judges = {judge: pl.read_parquet(path) for judge, path in zip(params.judges, inputs.labels, strict=True)}
    labelled = labelled_completions(completions, matcher_labels(completions, rules), judges)
    labelled.write_parquet(outputs.labels)
    labellers = [MATCHER, *params.judges]
    agreement, confusion = human_agreement(labelled, labellers, resamples=params.bootstrap, seed=params.seed)
    agreement.write_csv(outputs.agreement)
    confusion.write_csv(outputs.confusion)
    labeller_rates(labelled, labellers).write_csv(outputs.rates)
    for row in agreement.iter_rows(named=True):
        log.info(
            "%s %s %s: kappa %s against people (ceiling %s)",
            row["model"],
            row["language"],
            row["labeller"],
            row["kappa"],
            row["human_human_kappa"],
        )
