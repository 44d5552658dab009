import polars as pl

from culturalign.language_resources import language_of
from culturalign.logs import script_log
from culturalign.safety.sets import load_refusal_rules
from culturalign.safety.validity import TRUSTED_KAPPA, labelled_answers, matcher_validity

with script_log(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    validity = matcher_validity(
        {language_of(path): labelled_answers(path) for path in inputs.answers},
        {language_of(path): load_refusal_rules(path) for path in inputs.safety_sets},
        resamples=params.bootstrap,
        seed=params.seed,
    )
    for language, kappa, low in (
        validity.filter(~pl.col("trusted")).select("language", "kappa", "kappa_low").iter_rows()
    ):
        log.warning(
            "the refusal matcher in %s: kappa %s (lower bound %s) < %s on its labelled answers",
            language,
            kappa,
            low,
            TRUSTED_KAPPA,
        )
    validity.write_csv(snakemake.output[0])
