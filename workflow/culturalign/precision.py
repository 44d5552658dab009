"""Precision before paying: the intervals a configured study would report, predicted by simulating
its design before anything is sent.

Every evaluated model is planned as one simulated respondent (culturalign.backends.simulated): the
language's own survey population mixed with coin flips, at the share that makes its
self-consistency `precision.consistency` (0.5 by default, what released LLM data show). Its
polarity is drawn for the study's own prompts (the items each one asks, every model, language and
seed), and the project's own statistics measure it: alignment's bootstrap
(culturalign.alignment.alignment), RQ2's totals (regression.rq2_alignment and us_minus_native), RQ1
(regression.fit_statsmodels: the statsmodels MixedLM cross-check, seconds where lme4's start alone
takes longer), and the safety rates and gaps (safety.rates) of answers drawn from each model's
safety propensities. A half-width is the mean over `precision.simulations` seeded simulations.

The survey is simulated a second time with every prompt asked twice: the ratio of the two
half-widths gives how a measure narrows with prompts (h ~ n^-beta; beta = 1/2 is the 1/sqrt(n) law),
and from it the prompts per seed a target half-width needs.
"""

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np
import polars as pl

from culturalign.alignment import alignment, model_consistency
from culturalign.backends.simulated import (
    NATIVE,
    NEUTRAL_RATE,
    STATEMENTS_PER_ANSWER,
    UNIFORM,
    SimulatedRespondent,
    safety_answer_kind,
    safety_propensities,
)
from culturalign.regression import (
    design_problem,
    fit_statsmodels,
    rq1_observations,
    rq2_alignment,
    us_minus_native,
    without_single_level_factors,
)
from culturalign.safety.rates import language_gaps, safety_rates, with_pooled_attacks
from culturalign.stats import random_stream

# what identifies a planned measure: a model, language, attack or RQ1 term where it has one
KEYS = ["measure", "model", "language", "attack", "term"]
US_MINUS_NATIVE = "us_minus_native"
RQ1_SLOPE = "rq1_capability_slope"


class SurveyStatistics(NamedTuple):
    """The settings of the statistics the planner runs, as the study's rules run them."""

    units: tuple[str, ...]
    resamples: int
    bootstrap_seed: int
    regression_unit: str
    formula: str
    consistency_repeats: int
    consistency_seed: int


def calibrated_share(scores: np.ndarray, consistency: float, neutral_rate: float = NEUTRAL_RATE) -> float:
    """The share w of a population in a mixture with coin flips (p = 1/2 + w (score - 1/2) per
    item) at which two of its answers agree across items with Pearson correlation `consistency`.

    An answer's polarity is pro / (pro + con) over m sided statements of STATEMENTS_PER_ANSWER, so
    across items its variance is w^2 V + E[p (1 - p)] E[1/m] and the covariance of two answers
    w^2 V (V: the population's variance over items). Solved for w; 1 where even the population
    itself is less consistent than asked."""
    scores = np.asarray(scores, dtype=float)
    sided = np.arange(1, STATEMENTS_PER_ANSWER + 1)
    chance = np.array([math.comb(STATEMENTS_PER_ANSWER, m) for m in sided]) * (1 - neutral_rate) ** sided
    chance *= neutral_rate ** (STATEMENTS_PER_ANSWER - sided)
    inverse_sided = float((chance / sided).sum() / chance.sum())
    spread = float(np.var(scores))
    distance = float(np.mean((scores - 0.5) ** 2))
    squared = (
        0.25
        * inverse_sided
        * consistency
        / (spread * (1 - consistency) + consistency * inverse_sided * distance)
    )
    return min(1.0, math.sqrt(squared))


def planned_respondents(
    ground_truth: pl.DataFrame, languages: Iterable[str], consistency: float
) -> dict[str, SimulatedRespondent]:
    """Per language, the simulated respondent every model is planned as: its own population mixed
    with coin flips at the calibrated share."""
    respondents = {}
    for language in languages:
        native = ground_truth.filter((pl.col("level") == "language") & (pl.col("group") == language))
        if native.is_empty():
            raise ValueError(f"the survey has no respondents interviewed in {language!r} to plan with")
        share = calibrated_share(native["pro_score"].to_numpy(), consistency)
        mixture = {NATIVE: share} | ({UNIFORM: 1 - share} if share < 1 else {})
        settings = {"respondent": "mixture", "mixture": mixture}
        respondents[language] = SimulatedRespondent("planned", settings, banks={}, ground_truth=native)
    return respondents


def simulated_polarity(
    prompts: pl.DataFrame,
    respondent: SimulatedRespondent,
    language: str,
    rng: np.random.Generator,
    copies: int = 1,
) -> pl.DataFrame:
    """The polarity table (culturalign.polarity) of the respondent's answers to `prompts`
    (prompt_id, item), each prompt asked `copies` times: per answer, STATEMENTS_PER_ANSWER
    statements, each neutral at the respondent's neutral rate and otherwise for the item with its
    affirmative probability. An item the population does not score is a coin flip: alignment
    leaves it out."""
    asked = pl.concat(
        [
            prompts.select(pl.format("{}/{}", "prompt_id", pl.lit(copy)).alias("prompt_id"), "item")
            for copy in range(copies)
        ]
    )
    scored = {item for level, group, item in respondent.scores}
    probability = {
        item: respondent.affirmative_probability(item, language) if item in scored else 0.5
        for item in asked["item"].unique()
    }
    neutral = rng.binomial(STATEMENTS_PER_ANSWER, respondent.neutral_rate, asked.height)
    pro = rng.binomial(STATEMENTS_PER_ANSWER - neutral, asked["item"].replace_strict(probability).to_numpy())
    con = STATEMENTS_PER_ANSWER - neutral - pro
    sided = pro + con
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(sided > 0, pro / sided, np.nan)
    return asked.with_columns(
        pro=pl.Series(pro, dtype=pl.Int64),
        con=pl.Series(con, dtype=pl.Int64),
        null=pl.Series(neutral, dtype=pl.Int64),
        pro_score=pl.Series(score).fill_nan(None),
    )


def survey_half_widths(
    polarities: list[tuple[str, str, int, pl.DataFrame]],
    ground_truth: pl.DataFrame,
    *,
    statistics: SurveyStatistics,
    families: Mapping[str, str],
    native_countries: Mapping[str, list[str]],
    rq2_languages: Iterable[str],
    rq1_models: Iterable[str],
    capabilities: pl.DataFrame,
) -> tuple[pl.DataFrame, str | None]:
    """The half-widths (ci_high - ci_low) / 2 the study's survey measures would have on these runs'
    polarity, long (KEYS, seed, half_width): alignment with each run's own language population per
    unit and seed, each (model, language)'s US-minus-native total, RQ1's capability slopes; and
    why RQ1 cannot be fitted, if it cannot."""
    rows, scores, consistency = [], [], []
    rq1_models = set(rq1_models)
    for model, language, seed, polarity in polarities:
        own = ground_truth.filter((pl.col("level") == "language") & (pl.col("group") == language))
        run = {"model": model, "language": language, "seed": seed}
        scored = alignment(
            polarity,
            own,
            family=families[model],
            resamples=statistics.resamples,
            bootstrap_seed=statistics.bootstrap_seed,
            units=statistics.units,
            **run,
        )
        scores.append(scored)
        if model in rq1_models:
            consistency.append(
                model_consistency(
                    polarity,
                    repeats=statistics.consistency_repeats,
                    resamples=20,  # the planner needs the mean only, not its interval
                    resample_repeats=2,
                    consistency_seed=statistics.consistency_seed,
                    **run,
                )
            )
    scores = pl.concat(scores)
    rows.append(
        scores.select(
            pl.concat_str(pl.lit("alignment_"), "unit").alias("measure"),
            "model",
            "language",
            pl.lit(None, pl.String).alias("attack"),
            pl.lit(None, pl.String).alias("term"),
            "seed",
            ((pl.col("ci_high") - pl.col("ci_low")) / 2).alias("half_width"),
        )
    )
    rq2_languages = set(rq2_languages)
    rq2_runs = [run for run in polarities if run[1] in rq2_languages]
    if rq2_runs:
        rq2 = rq2_alignment(
            rq2_runs,
            ground_truth,
            native_countries,
            statistics.regression_unit,
            statistics.resamples,
            statistics.bootstrap_seed,
        )
        rows.append(
            us_minus_native(rq2).select(
                pl.lit(US_MINUS_NATIVE).alias("measure"),
                "model",
                "language",
                pl.lit(None, pl.String).alias("attack"),
                pl.lit(None, pl.String).alias("term"),
                pl.lit(None, pl.Int64).alias("seed"),
                ((pl.col("ci_high") - pl.col("ci_low")) / 2).alias("half_width"),
            )
        )
    slopes, problem = rq1_half_widths(scores, consistency, capabilities, statistics)
    rows.append(slopes)
    return pl.concat(rows, how="vertical_relaxed"), problem


def rq1_half_widths(
    scores: pl.DataFrame,
    consistency: list[pl.DataFrame],
    capabilities: pl.DataFrame,
    statistics: SurveyStatistics,
) -> tuple[pl.DataFrame, str | None]:
    """The half-widths of RQ1's capability slopes fitted on these runs (one row per term), and why
    RQ1 cannot be fitted, if it cannot."""
    empty = pl.DataFrame(
        schema={key: pl.String for key in KEYS} | {"seed": pl.Int64, "half_width": pl.Float64}
    )
    if not consistency:
        return empty, "RQ1 not fitted: no model with a capability"
    data = rq1_observations(scores, pl.concat(consistency), capabilities, statistics.regression_unit)
    formula = without_single_level_factors(statistics.formula, data)
    problem = design_problem(data, formula)
    if problem:
        return empty, problem
    with warnings.catch_warnings():
        # planned respondents are alike: no variance between models, a fit on the boundary
        warnings.simplefilter("ignore")
        fit = fit_statsmodels(data, formula)
    return (
        fit.coefficients.filter(pl.col("term").str.contains("capability")).select(
            pl.lit(RQ1_SLOPE).alias("measure"),
            pl.lit(None, pl.String).alias("model"),
            pl.col("term").str.extract(r"language=([^:]+)").alias("language"),
            pl.lit(None, pl.String).alias("attack"),
            "term",
            pl.lit(None, pl.Int64).alias("seed"),
            ((pl.col("ci_high") - pl.col("ci_low")) / 2).alias("half_width"),
        ),
        None,
    )


def simulated_safety_answers(
    safety_runs: Iterable[tuple[str, str, str]],
    prompts: Mapping[str, pl.DataFrame],
    models: Mapping[str, dict],
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Judged safety answers (model, language, attack, prompt_id, kind, label) drawn from each
    model's safety propensities (its `safety` settings, else a simulated respondent's defaults)
    for every prompt of every safety run."""
    frames = []
    for model, language, attack in safety_runs:
        asked = prompts[language].filter(pl.col("attack") == attack).select("prompt_id", "kind")
        propensities = safety_propensities(models[model], language, attack)
        labels = [safety_answer_kind(propensities, kind == "harmful", rng) for kind in asked["kind"]]
        frames.append(
            asked.with_columns(
                model=pl.lit(model), language=pl.lit(language), attack=pl.lit(attack), label=pl.Series(labels)
            )
        )
    return pl.concat(frames)


def safety_half_widths(judged: pl.DataFrame, reference: str) -> pl.DataFrame:
    """The half-widths of the safety rates and of their gaps from the reference language, long
    (KEYS, seed, half_width, interval), measures named `<measure>` and `<measure>_gap`."""
    answers = with_pooled_attacks(judged)
    frames = []
    for table, suffix in ((safety_rates(answers), ""), (language_gaps(answers, reference), "_gap")):
        frames.append(
            table.select(
                (pl.col("measure") + suffix).alias("measure"),
                "model",
                "language",
                "attack",
                pl.lit(None, pl.String).alias("term"),
                pl.lit(None, pl.Int64).alias("seed"),
                ((pl.col("ci_high") - pl.col("ci_low")) / 2).alias("half_width"),
                "interval",
                pl.col("n"),
            )
        )
    return pl.concat(frames)


class Design(NamedTuple):
    """What the configured study asks, as the planner simulates it."""

    runs: tuple[tuple[str, str, int], ...]  # (model, language, seed)
    prompts: Mapping[int, pl.DataFrame]  # per seed: prompt_id, item (the same in every language)
    models: Mapping[str, dict]
    families: Mapping[str, str]
    native_countries: Mapping[str, list[str]]
    rq2_languages: tuple[str, ...]
    rq1_models: tuple[str, ...]
    capabilities: pl.DataFrame  # model, language, capability
    safety_runs: tuple[tuple[str, str, str], ...]  # (model, language, attack)
    safety_prompts: Mapping[str, pl.DataFrame]  # per language: prompt_id, kind, attack
    safety_reference: str
    prompts_per_seed: int


def simulated_half_widths(
    design: Design,
    ground_truth: pl.DataFrame,
    statistics: SurveyStatistics,
    *,
    consistency: float,
    simulations: int,
    seed: int,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Every measure's half-width in each simulation, long (KEYS, seed, half_width, copies,
    simulation, interval, n), the survey simulated as configured (copies 1) and with every prompt
    asked twice (copies 2), the safety stage once; and notes: each language's calibrated share,
    why RQ1 cannot be fitted if it cannot."""
    languages = sorted({language for _, language, _ in design.runs})
    respondents = planned_respondents(ground_truth, languages, consistency)
    notes = {
        language: f"planned as its population mixed with coin flips (share "
        f"{respondent.weights[NATIVE]:.2f}): self-consistency {consistency}"
        for language, respondent in respondents.items()
    }
    frames = []
    for simulation in range(simulations):
        for copies in (1, 2):
            polarities = [
                (
                    model,
                    language,
                    run_seed,
                    simulated_polarity(
                        design.prompts[run_seed],
                        respondents[language],
                        language,
                        random_stream(seed, "precision", simulation, copies, model, language, run_seed),
                        copies,
                    ),
                )
                for model, language, run_seed in design.runs
            ]
            widths, problem = survey_half_widths(
                polarities,
                ground_truth,
                statistics=statistics,
                families=design.families,
                native_countries=design.native_countries,
                rq2_languages=design.rq2_languages,
                rq1_models=design.rq1_models,
                capabilities=design.capabilities,
            )
            if problem:
                notes[RQ1_SLOPE] = problem
            frames.append(widths.with_columns(copies=pl.lit(copies), simulation=pl.lit(simulation)))
        if design.safety_runs:
            answers = simulated_safety_answers(
                design.safety_runs,
                design.safety_prompts,
                design.models,
                random_stream(seed, "precision", simulation, "safety"),
            )
            safety = safety_half_widths(answers, design.safety_reference)
            frames.append(safety.with_columns(copies=pl.lit(1), simulation=pl.lit(simulation)))
    return pl.concat(frames, how="diagonal_relaxed"), notes
