"""Regression stage: the two research questions.

RQ1 — does multilingual capability go with cultural alignment? A mixed model of native
language-level alignment on self-consistency and capability per family and language, with a
random intercept per model, fitted with R's lme4 (through pymer4) and cross-checked with
statsmodels MixedLM.

RQ2 — does a model speaking Danish, Dutch or Portuguese hold US values rather than local ones?
OLS of country-level alignment on `us * model:language` with the uniform respondent as the
reference model, and each model's total US-minus-native difference per language.
"""

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from culturalign.alignment import response_bootstrap
from culturalign.stats import random_stream

COEFFICIENT_COLUMNS = ["term", "estimate", "std_error", "ci_low", "ci_high", "p_value", "engine"]
RANDOM_INTERCEPT = re.compile(r"\+\s*\(\s*1\s*\|\s*(\w+)\s*\)")
FACTORS = ("language", "family", "model")


class RegressionError(ValueError):
    """Inputs the regressions cannot be fitted on; the message says which model, language or key."""


class Fit(NamedTuple):
    """A fitted model: its coefficient table, a summary row (engine, R²) and the fitted value of
    each observation, in the order of the data it was fitted on."""

    coefficients: pl.DataFrame
    summary: dict
    fitted: np.ndarray


def with_residuals(data: pl.DataFrame, fit: Fit) -> pl.DataFrame:
    """The observations with the fit's fitted values and residuals (alignment minus fitted)."""
    return data.with_columns(
        pl.Series("fitted", fit.fitted, dtype=pl.Float64),
        (pl.col("alignment") - pl.Series(fit.fitted, dtype=pl.Float64)).alias("residual"),
        pl.lit(fit.summary["engine"]).alias("engine"),
    )


def load_capabilities(path: str | Path) -> pl.DataFrame:
    """A benchmark table (model, language, benchmark, score in percent)."""
    path = Path(path)
    if not path.is_file():
        raise RegressionError(f"{path}: capability table not found (config key regression.capabilities)")
    table = pl.read_csv(path)
    missing = [
        column for column in ("model", "language", "benchmark", "score") if column not in table.columns
    ]
    if missing:
        raise RegressionError(f"{path}: capability table lacks columns {', '.join(missing)}")
    if not table["score"].cast(pl.Float64, strict=False).is_between(0, 100).all():
        raise RegressionError(f"{path}: scores must be percentages between 0 and 100")
    return table.with_columns(pl.col("score").cast(pl.Float64))


def model_capabilities(
    table: pl.DataFrame,
    names: dict[str, str],
    given: dict[str, dict[str, float]],
    pairs: list[tuple[str, str]],
) -> pl.DataFrame:
    """Capability per (model slug, language) pair that has runs: the mean of that language's
    benchmark scores / 100.

    `names` maps a slug to its name in the table; `given` holds capabilities configured directly
    (simulated models), which win. A model without a capability for a language is an error."""
    means = table.group_by("model", "language").agg((pl.col("score").mean() / 100).alias("capability"))
    lookup = {(model, language): value for model, language, value in means.iter_rows()}
    rows, missing = [], []
    for slug, language in sorted(set(pairs)):
        value = given.get(slug, {}).get(language, lookup.get((names.get(slug, slug), language)))
        if value is None:
            missing.append(f"{slug} ({names.get(slug, slug)!r}) in {language}")
        rows.append((slug, language, value))
    if missing:
        raise RegressionError(
            "no capability for " + "; ".join(missing) + ": add benchmark scores to the capability table "
            "(regression.capabilities), map the model to a row name (capability_name), or give "
            "`capability: {language: value}` in the model's config"
        )
    return pl.DataFrame(rows, schema=["model", "language", "capability"], orient="row")


def rq1_observations(
    alignment: pl.DataFrame, consistency: pl.DataFrame, capabilities: pl.DataFrame, unit: str = "topic"
) -> pl.DataFrame:
    """One row per (model, language, seed): alignment with the language's own population (all
    respondents interviewed in it), self-consistency and capability."""
    native = alignment.filter(
        (pl.col("level") == "language") & (pl.col("group") == pl.col("language")) & (pl.col("unit") == unit)
    ).select("model", "family", "language", "seed", pl.col("spearman").alias("alignment"))
    return (
        native.join(
            consistency.select("model", "language", "seed", "consistency"), on=["model", "language", "seed"]
        )
        .join(capabilities, on=["model", "language"])
        .drop_nulls(["alignment", "consistency", "capability"])
        .sort("model", "language", "seed")
    )


def without_single_level_factors(formula: str, data: pl.DataFrame) -> str:
    """Drop a factor with only one level from the interactions it appears in (for example
    `capability:family:language` with one family becomes `capability:language`): R refuses to
    build contrasts for it, and the term means the same without it."""
    for factor in FACTORS:
        if factor in data.columns and data[factor].n_unique() == 1:
            formula = re.sub(rf"(?<![\w(|]):{factor}\b|\b{factor}:", "", formula)
    return formula


def rq1_bootstrap_observations(
    runs: list[tuple[str, str, int, pl.DataFrame]],
    ground_truth: pl.DataFrame,
    observations: pl.DataFrame,
    replicates: int,
    seed: int = 0,
) -> pl.DataFrame:
    """Bootstrap replicates as rows, as the original study did: per run, `replicates` topic-level
    alignments with the language's own population from responses resampled with replacement,
    each beside the run's consistency and capability (from `observations`, one row per run).
    Replicates are not independent observations; fits on them understate uncertainty."""
    rows = []
    runs_by_key = {(model, language, run_seed): polarity for model, language, run_seed, polarity in runs}
    for run in observations.iter_rows(named=True):
        polarity = runs_by_key[(run["model"], run["language"], run["seed"])]
        native = ground_truth.filter(
            (pl.col("level") == "language") & (pl.col("group") == run["language"])
        ).select("item", "pro_score")
        _, values = response_bootstrap(
            polarity,
            {"native": native},
            replicates,
            random_stream(seed, run["model"], run["language"], run["seed"], "rq1"),
        )["native"]
        rows += [run | {"alignment": float(value), "replicate": index} for index, value in enumerate(values)]
    return pl.DataFrame(rows).drop_nans("alignment")


def split_formula(formula: str) -> tuple[str, str]:
    """The fixed-effects part and the grouping variable of `y ~ fixed + (1 | group)`."""
    match = RANDOM_INTERCEPT.search(formula)
    if not match:
        raise RegressionError(
            f"regression.formula: expected one random intercept `+ (1 | group)`, got {formula!r}"
        )
    return RANDOM_INTERCEPT.sub("", formula).strip(), match.group(1)


def canonical_term(term: str, levels: dict[str, set[str]]) -> str:
    """One name for a term however an engine spells it: R's `languageda:capability:familya` and
    patsy's `capability:family[a]:language[da]` both become `capability:family=a:language=da`."""
    parts = []
    for part in term.split(":"):
        bracketed = re.fullmatch(r"(?:C\()?(\w+)\)?\[(?:T\.)?(.+)\]", part)
        if bracketed:
            parts.append(f"{bracketed.group(1)}={bracketed.group(2)}")
            continue
        factor = next(
            (name for name in levels if part.startswith(name) and part[len(name) :] in levels[name]), None
        )
        parts.append(f"{factor}={part[len(factor) :]}" if factor else part)
    return ":".join(sorted(parts))


def _levels(data: pl.DataFrame) -> dict[str, set[str]]:
    return {name: set(data[name].unique().to_list()) for name in FACTORS if name in data.columns}


def fit_lme4(data: pl.DataFrame, formula: str) -> Fit:
    """Fit with R's lme4 (REML, Satterthwaite p-values from lmerTest) through pymer4."""
    from pymer4.models import Lmer
    from rpy2.robjects.packages import importr
    from scipy.stats import t as student_t

    model = Lmer(formula, data=data.to_pandas())
    model.fit(summarize=False, verbose=False, REML=True)
    levels = _levels(data)
    coefs = model.coefs
    estimate, error = coefs["Estimate"].to_numpy(float), coefs["SE"].to_numpy(float)
    # CIs on the same Satterthwaite degrees of freedom as lmerTest's p-values (pymer4's own CIs are
    # Wald intervals, which can exclude 0 while the p-value is above 0.05).
    margin = student_t.ppf(0.975, coefs["DF"].to_numpy(float)) * error
    table = pl.DataFrame(
        {
            "term": [canonical_term(term, levels) for term in coefs.index],
            "estimate": estimate,
            "std_error": error,
            "ci_low": estimate - margin,
            "ci_high": estimate + margin,
            "p_value": coefs["P-val"].to_numpy(float),
            "engine": "lme4",
        }
    )
    r2 = importr("performance").r2_nakagawa(model.model_obj)
    summary = {
        "engine": "lme4",
        "r2_marginal": float(r2.rx2("R2_marginal")[0]),
        "r2_conditional": float(r2.rx2("R2_conditional")[0]),
    }
    return Fit(table, summary, np.asarray(model.fits, dtype=float))


def fit_statsmodels(data: pl.DataFrame, formula: str) -> Fit:
    """The same fixed effects and random intercept with statsmodels MixedLM (REML)."""
    import statsmodels.formula.api as smf

    fixed, group = split_formula(formula)
    frame = data.to_pandas()
    result = smf.mixedlm(fixed, frame, groups=frame[group]).fit(reml=True, method=["bfgs", "powell", "nm"])
    names = [name for name in result.fe_params.index]
    intervals = result.conf_int().loc[names]
    levels = _levels(data)
    table = pl.DataFrame(
        {
            "term": [canonical_term(name, levels) for name in names],
            "estimate": result.fe_params.to_numpy(float),
            "std_error": result.bse_fe.to_numpy(float),
            "ci_low": intervals[0].to_numpy(float),
            "ci_high": intervals[1].to_numpy(float),
            "p_value": result.pvalues.loc[names].to_numpy(float),
            "engine": "statsmodels",
        }
    )
    fixed_variance = float(np.var(result.model.exog @ result.fe_params.to_numpy(), ddof=0))
    group_variance = float(result.cov_re.iloc[0, 0])
    residual = float(result.scale)
    total = fixed_variance + group_variance + residual
    summary = {
        "engine": "statsmodels",
        "r2_marginal": fixed_variance / total,
        "r2_conditional": (fixed_variance + group_variance) / total,
    }
    return Fit(table, summary, result.fittedvalues.to_numpy(float))


def rq2_observations(
    alignment: pl.DataFrame, native_countries: dict[str, list[str]], unit: str = "topic"
) -> pl.DataFrame:
    """Per (model, language, seed): country-level alignment with the US (us = 1) and with the
    language's native countries (us = 0; averaged when a language is native to several)."""
    rows = alignment.filter(
        (pl.col("level") == "country")
        & (pl.col("unit") == unit)
        & pl.col("language").is_in(list(native_countries))
    ).drop_nulls("spearman")
    native = pl.DataFrame(
        [(language, country) for language, countries in native_countries.items() for country in countries],
        schema=["language", "group"],
        orient="row",
    )
    keys = ["model", "language", "seed"]
    return (
        pl.concat(
            [
                rows.filter(pl.col("group") == "US").select(*keys, pl.lit(1).alias("us"), "spearman"),
                rows.join(native, on=["language", "group"])
                .group_by(keys)
                .agg(pl.lit(0).alias("us"), pl.col("spearman").mean()),
            ]
        )
        .rename({"spearman": "alignment"})
        .sort("model", "language", "seed", "us")
    )


def us_minus_native(
    runs: list[tuple[str, str, int, pl.DataFrame]],
    ground_truth: pl.DataFrame,
    native_countries: dict[str, list[str]],
    resamples: int,
    seed: int = 0,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Each model's total US-minus-native difference in topic-level alignment per language.

    The difference is taken within each run (same responses against both populations), averaged
    over the model's seeds; its percentile CI comes from bootstrap replicates over each run's
    responses, averaged replicate by replicate across seeds. It involves no other model, so it
    does not depend on the reference model's draw."""

    def population(group: str) -> pl.DataFrame:
        return ground_truth.filter((pl.col("level") == "country") & (pl.col("group") == group)).select(
            "item", "pro_score"
        )

    per_cell: dict[tuple[str, str], list[tuple[float, np.ndarray]]] = {}
    for model, language, run_seed, polarity in runs:
        natives = native_countries.get(language)
        if not natives:
            continue
        scores = response_bootstrap(
            polarity,
            {group: population(group) for group in ["US", *natives]},
            resamples,
            random_stream(seed, model, language, run_seed, "us_minus_native"),
        )
        point = scores["US"][0] - np.mean([scores[group][0] for group in natives])
        replicates = scores["US"][1] - np.mean([scores[group][1] for group in natives], axis=0)
        per_cell.setdefault((model, language), []).append((point, replicates))
    tail = 100 * (1 - confidence) / 2
    rows = []
    for (model, language), differences in sorted(per_cell.items()):
        replicates = np.mean([replicate for _, replicate in differences], axis=0)
        low, high = np.nanpercentile(replicates, [tail, 100 - tail])
        rows.append(
            (
                model,
                language,
                float(np.mean([p for p, _ in differences])),
                float(low),
                float(high),
                len(differences),
            )
        )
    return pl.DataFrame(
        rows, schema=["model", "language", "us_minus_native", "ci_low", "ci_high", "seeds"], orient="row"
    )


def fit_rq2(data: pl.DataFrame, reference: str) -> Fit:
    """`alignment ~ us * model:language` by OLS with `reference` (the uniform respondent) as the
    model's reference level: the `us:model=...:language=...` terms are each model's US lean
    beyond the reference's in that language."""
    import statsmodels.formula.api as smf

    if reference not in set(data["model"]):
        raise RegressionError(f"regression.rq2.reference: model {reference!r} has no RQ2 observations")
    result = smf.ols(f"alignment ~ us * C(model, Treatment({reference!r})):language", data.to_pandas()).fit()
    intervals = result.conf_int()
    coefficients = pl.DataFrame(
        {
            "term": [_rq2_term(name) for name in result.params.index],
            "estimate": result.params.to_numpy(float),
            "std_error": result.bse.to_numpy(float),
            "ci_low": intervals[0].to_numpy(float),
            "ci_high": intervals[1].to_numpy(float),
            "p_value": result.pvalues.to_numpy(float),
            "engine": "statsmodels-ols",
        }
    )
    summary = {"engine": "statsmodels-ols", "r2": float(result.rsquared)}
    return Fit(coefficients, summary, result.fittedvalues.to_numpy(float))


def _rq2_term(name: str) -> str:
    return (
        re.sub(r"C\(model, Treatment\('[^']*'\)\)\[T\.([^\]]+)\]", r"model=\1", name)
        .replace("language[", "language=")
        .replace("[T.", "=")
        .replace("]", "")
    )
