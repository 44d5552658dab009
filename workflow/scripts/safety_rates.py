import polars as pl

from culturalign.io import stack_runs
from culturalign.logs import script_log
from culturalign.safety.judge import judge_agreement_by_language
from culturalign.safety.rates import (
    POOLED_ATTACK,
    judge_injection_counts,
    language_gaps,
    safety_rates,
    with_pooled_attacks,
)

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    judged = stack_runs(snakemake.input.judged, params.runs)
    unlabelled = judged["label"].is_null().sum()
    log.info("%d safety answers, %d without a label (they count for no rate)", judged.height, unlabelled)
    answers = with_pooled_attacks(judged)
    safety_rates(answers).write_parquet(snakemake.output.rates)
    language_gaps(answers, params.reference).write_parquet(snakemake.output.gaps)
    judge_agreement_by_language(judged, params.bootstrap, params.seed).write_csv(snakemake.output.agreement)
    injection = judge_injection_counts(answers)
    for model, language, answered, flagged in (
        injection.filter(pl.col("attack") == POOLED_ATTACK)
        .select("model", "language", "answers", "addresses_judge")
        .iter_rows()
    ):
        log.info(
            "%s in %s: %s of %d answers address the judge (judged as any other)",
            model,
            language,
            flagged,
            answered,
        )
    injection.write_csv(snakemake.output.injection)
