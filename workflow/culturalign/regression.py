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
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from culturalign.alignment import alignment_replicates, response_resamples, stance_responses
from culturalign.stats import percentile_ci, random_stream

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
    names: dict[str, str | list[str]],
    given: dict[str, dict[str, float]],
    pairs: list[tuple[str, str]],
) -> tuple[pl.DataFrame, list[str]]:
    """Capability per (model slug, language) pair that has runs: the mean of that language's
    benchmark scores / 100, and the pairs that have none, described for the user.

    `names` maps a slug to its name in the table, or to several (published tables spell one model
    differently across languages); `given` holds capabilities configured directly (simulated
    models), which win. Pairs without a capability are left out of RQ1, not an error."""
    means = table.group_by("model", "language").agg(pl.col("score").sum(), pl.len())
    lookup = {(model, language): (total, count) for model, language, total, count in means.iter_rows()}
    rows, missing = [], []
    for slug, language in sorted(set(pairs)):
        spellings = names.get(slug, slug)
        spellings = [spellings] if isinstance(spellings, str) else list(spellings)
        value = given.get(slug, {}).get(language)
        if value is None:
            found = [lookup[(name, language)] for name in spellings if (name, language) in lookup]
            if found:
                value = sum(total for total, _ in found) / sum(count for _, count in found) / 100
        if value is None:
            missing.append(f"{slug} ({' or '.join(map(repr, spellings))}) in {language}")
        else:
            rows.append((slug, language, value))
    # typed, so that a study where no model has a capability still joins (and RQ1 has no rows)
    schema = {"model": pl.String, "language": pl.String, "capability": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row"), missing


def rq1_observations(
    alignment: pl.DataFrame, consistency: pl.DataFrame, capabilities: pl.DataFrame, unit: str = "topic"
) -> pl.DataFrame:
    """One row per (model, language): alignment with the language's own population (all
    respondents interviewed in it) and self-consistency, each averaged over the cell's seeds,
    and capability. Seeds replicate a cell whose capability is one number; as separate rows they
    would count as independent evidence about the capability slope."""
    native = alignment.filter(
        (pl.col("level") == "language") & (pl.col("group") == pl.col("language")) & (pl.col("unit") == unit)
    ).select("model", "family", "language", "seed", pl.col("spearman").alias("alignment"))
    return (
        native.join(
            consistency.select("model", "language", "seed", "consistency"), on=["model", "language", "seed"]
        )
        .drop_nulls(["alignment", "consistency"])
        .group_by("model", "family", "language")
        .agg(pl.col("alignment", "consistency").mean(), pl.len().alias("seeds"))
        .join(capabilities, on=["model", "language"])
        .sort("model", "language")
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
    unit: str = "topic",
) -> pl.DataFrame:
    """Bootstrap replicates as rows, as the original study did: per (model, language) cell,
    `replicates` alignments with the language's own population from each run's responses
    resampled with replacement (averaged over the cell's seeds replicate by replicate), each
    beside the cell's consistency and capability (from `observations`, one row per cell).
    Replicates are not independent observations; fits on them understate uncertainty."""
    per_cell: dict[tuple[str, str], list[np.ndarray]] = {}
    for model, language, run_seed, polarity in runs:
        native = ground_truth.filter((pl.col("level") == "language") & (pl.col("group") == language))
        responses = stance_responses(polarity)
        counts = response_resamples(
            responses, replicates, random_stream(seed, model, language, run_seed, "rq1")
        )
        _, values, _ = alignment_replicates(responses, counts, {"native": native}, unit)["native"]
        per_cell.setdefault((model, language), []).append(values)
    rows = []
    for cell in observations.iter_rows(named=True):
        values = np.mean(per_cell[(cell["model"], cell["language"])], axis=0)
        rows += [cell | {"alignment": float(value), "replicate": index} for index, value in enumerate(values)]
    return pl.DataFrame(rows).drop_nans("alignment")


def split_formula(formula: str) -> tuple[str, str]:
    """The fixed-effects part and the grouping variable of `y ~ fixed + (1 | group)`."""
    match = RANDOM_INTERCEPT.search(formula)
    if not match:
        raise RegressionError(
            f"regression.formula: expected one random intercept `+ (1 | group)`, got {formula!r}"
        )
    return RANDOM_INTERCEPT.sub("", formula).strip(), match.group(1)


def design_problem(data: pl.DataFrame, formula: str) -> str | None:
    """Why `formula` cannot be fitted on `data`, or None: fewer than two models (no random
    intercept to estimate), fixed effects that the data do not identify, or no observations left
    for the random intercept's and the residual's variances."""
    from patsy import dmatrix

    models = data["model"].n_unique() if data.height else 0
    if models < 2:
        return f"RQ1 not fitted: {models} model(s) with a capability in the study's languages; it needs two"
    fixed, _ = split_formula(formula)
    design = np.asarray(dmatrix(fixed.split("~", 1)[1], data.to_pandas()))
    rank = int(np.linalg.matrix_rank(design))
    if rank < design.shape[1]:
        return (
            f"RQ1 not fitted: the data identify {rank} of the formula's {design.shape[1]} fixed effects "
            "(regression.rq1.formula asks more than these models and languages can tell)"
        )
    if data.height < design.shape[1] + 2:
        return (
            f"RQ1 not fitted: {data.height} observations (one per model and language) for "
            f"{design.shape[1]} fixed effects and two variances; use a smaller regression.rq1.formula "
            "(e.g. alignment ~ 1 + capability + (1 | model)) or add models"
        )
    return None


def canonical_term(term: str, levels: dict[str, set[str]]) -> str:
    """One name for a term however an engine spells it: R's `languageda:capability:familya` and
    patsy's `capability:family[a]:language[da]` both become `capability:family=a:language=da`."""
    if term in ("(Intercept)", "Intercept"):
        return "Intercept"
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


RQ2_OBSERVATION_SCHEMA = {
    "model": pl.String,
    "language": pl.String,
    "seed": pl.Int64,
    "us": pl.Int64,
    "alignment": pl.Float64,
    "items": pl.Int64,
}
RQ2_ANALYTIC_NULL = (
    "reference: a uniform-random respondent, whose expected alignment with every population is 0 "
    "(analytic null), so each us term is the model's own US-minus-native difference"
)


class RQ2Alignment(NamedTuple):
    """RQ2's own alignment: per run, with the US (us = 1) and with the language's native countries
    (us = 0, averaged), over the items the US and every native country share; and per run the
    bootstrap replicates of the US-minus-native difference."""

    observations: pl.DataFrame
    differences: dict[tuple[str, str, int], np.ndarray]
    items: dict[str, list[str]]


def rq2_items(ground_truth: pl.DataFrame, native_countries: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per language, the items that the US and every native country of that language hold."""
    held = {
        group: set(items)
        for group, items in ground_truth.filter(pl.col("level") == "country")
        .group_by("group")
        .agg("item")
        .iter_rows()
    }
    return {
        language: sorted(set.intersection(*(held.get(group, set()) for group in ["US", *natives])))
        for language, natives in native_countries.items()
    }


def rq2_alignment(
    runs: list[tuple[str, str, int, pl.DataFrame]],
    ground_truth: pl.DataFrame,
    native_countries: dict[str, list[str]],
    unit: str = "topic",
    resamples: int = 1000,
    seed: int = 0,
) -> RQ2Alignment:
    """RQ2's observations and the bootstrap replicates of each run's US-minus-native difference.

    US and native alignments of a run are computed on one item set and one set of response
    resamples, so the difference's interval reflects the responses alone."""
    items = rq2_items(ground_truth, native_countries)
    rows, differences = [], {}
    for model, language, run_seed, polarity in runs:
        natives = native_countries.get(language)
        if not natives:
            continue
        populations = {
            group: ground_truth.filter(
                (pl.col("level") == "country")
                & (pl.col("group") == group)
                & pl.col("item").is_in(items[language])
            )
            for group in ["US", *natives]
        }
        responses = stance_responses(polarity)
        counts = response_resamples(
            responses, resamples, random_stream(seed, model, language, run_seed, "rq2")
        )
        scores = alignment_replicates(responses, counts, populations, unit)
        native = np.mean([scores[group][0] for group in natives])
        native_replicates = np.mean([scores[group][1] for group in natives], axis=0)
        n = scores["US"][2]
        rows += [
            (model, language, run_seed, 1, scores["US"][0], n),
            (model, language, run_seed, 0, float(native), n),
        ]
        differences[(model, language, run_seed)] = scores["US"][1] - native_replicates
    observations = pl.DataFrame(rows, schema=RQ2_OBSERVATION_SCHEMA, orient="row")
    return RQ2Alignment(observations.fill_nan(None), differences, items)


def us_minus_native(rq2: RQ2Alignment, confidence: float = 0.95) -> pl.DataFrame:
    """Each model's total US-minus-native difference per language: the difference of RQ2's own
    observations, averaged over the model's seeds, with the percentile interval of the bootstrap
    over each run's responses (replicates averaged across seeds replicate by replicate). It
    involves no other model and no random baseline."""
    wide = rq2.observations.pivot(
        on="us", index=["model", "language", "seed", "items"], values="alignment"
    ).with_columns((pl.col("1") - pl.col("0")).alias("difference"))
    rows = []
    for (model, language), cell in wide.group_by("model", "language", maintain_order=True):
        cell = cell.drop_nulls("difference")
        if cell.is_empty():
            note = "no alignment: fewer than 3 shared items, or a population that ranks them all alike"
            rows.append((model, language, None, None, None, 0, None, note))
            continue
        replicates = np.mean([rq2.differences[(model, language, s)] for s in cell["seed"]], axis=0)
        low, high = percentile_ci(replicates, confidence)
        defined = bool(np.isfinite(low))
        rows.append(
            (
                model,
                language,
                float(cell["difference"].mean()),
                low if defined else None,
                high if defined else None,
                cell.height,
                int(cell["items"].min()),
                None if defined else "no interval: no resample kept 3 items to rank",
            )
        )
    return pl.DataFrame(
        rows,
        schema=["model", "language", "us_minus_native", "ci_low", "ci_high", "seeds", "items", "note"],
        orient="row",
    ).sort("model", "language")


def rq2_item_notes(
    ground_truth: pl.DataFrame, native_countries: dict[str, list[str]], items: dict[str, list[str]]
) -> dict[str, str]:
    """Per language whose populations hold different item sets, what RQ2 leaves out that the
    alignment table (each population over its own items) keeps."""
    notes = {}
    for language, natives in native_countries.items():
        lacking = []
        for group in ["US", *natives]:
            own = set(
                ground_truth.filter((pl.col("level") == "country") & (pl.col("group") == group))["item"]
            )
            extra = sorted(own - set(items[language]))
            if extra:
                lacking.append(f"{group} {', '.join(extra)}")
        if lacking:
            notes[language] = (
                f"RQ2 compares over the {len(items[language])} items that the US and "
                f"{', '.join(natives)} all hold; left out here but kept in the alignment table: "
                + "; ".join(lacking)
            )
    return notes


RQ2_COEFFICIENTS_SCHEMA = {
    "term": pl.String,
    "estimate": pl.Float64,
    "std_error": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "p_value": pl.Float64,
    "engine": pl.String,
    "note": pl.String,
}
RQ2_NOT_FITTED = {"engine": "statsmodels-ols", "r2": None, "residual_df": 0.0}
RQ2_NOT_FITTED_REASON = (
    "RQ2 not fitted: no model kept answers in a language with a native population other than the US"
)


def fit_rq2(data: pl.DataFrame) -> Fit:
    """`alignment ~ 0 + cell + us:cell` by OLS, cell = (model, language): the `us:model=...:
    language=...` terms are each model's US lean in that language against the analytic null of
    a uniform respondent (0), with standard errors from the variation between seeds.

    With one seed per cell the design has no residual degrees of freedom: the estimates are the
    cells' differences, and their uncertainty cannot be estimated from it; the table says so
    (standard errors, CIs and p-values empty, `note`) instead of printing inf and NaN."""
    import statsmodels.formula.api as smf

    data = data.drop_nulls("alignment").with_columns(
        pl.concat_str(pl.lit("model="), "model", pl.lit(":language="), "language").alias("cell")
    )
    if data.is_empty():  # no model kept answers in a language with a native population
        return Fit(pl.DataFrame(schema=RQ2_COEFFICIENTS_SCHEMA), RQ2_NOT_FITTED, np.empty(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no residual df: handled below
        result = smf.ols("alignment ~ 0 + C(cell) + us:C(cell)", data.to_pandas()).fit()
    names = [re.sub(r"C\(cell\)\[([^\]]+)\]", r"\1", name) for name in result.params.index]
    estimable = result.df_resid > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        intervals = result.conf_int()
    coefficients = pl.DataFrame(
        {
            "term": names,
            "estimate": result.params.to_numpy(float),
            "std_error": result.bse.to_numpy(float),
            "ci_low": intervals[0].to_numpy(float),
            "ci_high": intervals[1].to_numpy(float),
            "p_value": result.pvalues.to_numpy(float),
            "engine": "statsmodels-ols",
        }
    ).with_columns(note=pl.lit(None, pl.String))
    if not estimable:
        coefficients = coefficients.with_columns(
            pl.lit(None, pl.Float64).alias(column) for column in ("std_error", "ci_low", "ci_high", "p_value")
        ).with_columns(
            note=pl.lit(
                "no residual degrees of freedom (one seed per model and language): the coefficients are "
                "the cells' differences; their uncertainty cannot be estimated from this design, see "
                "rq2_totals.csv for intervals over responses"
            )
        )
    summary = {
        "engine": "statsmodels-ols",
        "r2": float(result.rsquared) if estimable else None,
        "residual_df": float(result.df_resid),
    }
    return Fit(coefficients, summary, result.fittedvalues.to_numpy(float))
