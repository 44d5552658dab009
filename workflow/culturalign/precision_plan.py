"""The precision plan's table: per measure, the half-width the simulated design reports
(culturalign.precision), the dollars its stages cost in the cost estimate, and the prompts per seed
(and seeds) that reach a target half-width."""

import math
from collections.abc import Mapping

import polars as pl

from culturalign.precision import KEYS, RQ1_SLOPE, US_MINUS_NATIVE, Design
from culturalign.safety.sets import POOLED_ATTACK

PLAN_SCHEMA = {
    "measure": pl.String,
    "model": pl.String,
    "language": pl.String,
    "half_width": pl.Float64,
    "usd": pl.Float64,
    "prompts_per_seed_needed": pl.Int64,
    "attack": pl.String,
    "term": pl.String,
    "target": pl.Float64,
    "prompts_per_seed": pl.Int64,
    "seeds": pl.Int64,
    "seeds_needed": pl.Int64,
    "usd_needed": pl.Float64,
    "doubled_prompts_ratio": pl.Float64,
    "interval": pl.String,
    "note": pl.String,
}
SURVEY_STAGES = ("generate", "judge:")
SAFETY_STAGES = ("safety:", "safety_judge:")
# measure -> (its key under precision.target_half_width, what its interval resamples)
SURVEY_MEASURES = {
    "alignment_topic": (
        "alignment",
        "percentile bootstrap over items, one seed's interval (the report's: mean over seeds)",
    ),
    "alignment_response": (
        "alignment",
        "percentile bootstrap over responses, one seed's interval (the report's: mean over seeds)",
    ),
    US_MINUS_NATIVE: (
        "us_minus_native",
        "percentile bootstrap over each run's responses, replicates averaged over seeds",
    ),
    RQ1_SLOPE: ("rq1_slope", "Wald interval of the statsmodels MixedLM fit (the lme4 cross-check)"),
}
SAFETY_INTERVALS = {
    "wilson": "Wilson score interval over prompts",
    "wilson_clustered_by_prompt": "Wilson score interval over prompts, Rao-Scott effective counts",
    "tango": "Tango score interval over prompts paired with the reference language",
    "tango_clustered_by_prompt": "Tango score interval over paired prompts, Rao-Scott effective counts",
}
# Measures whose report pools seeds: more seeds narrow them as more independent runs do.
POOLING_SEEDS = (US_MINUS_NATIVE, RQ1_SLOPE)


def scaled_count(count: int, half_width: float, target: float, exponent: float) -> int:
    """The count at which a half-width that falls as count^-exponent reaches `target`."""
    return max(1, math.ceil(count * (half_width / target) ** (1 / exponent)))


def stage_costs(estimate: pl.DataFrame, stages: tuple[str, ...]) -> pl.DataFrame:
    """The estimate's expected dollars of these stages (names or prefixes) per (model, language)."""
    return (
        estimate.filter(pl.any_horizontal(pl.col("stage").str.starts_with(stage) for stage in stages))
        .group_by("model", "language")
        .agg(pl.col("cost_usd").sum())
    )


def precision_plan(
    widths: pl.DataFrame,
    notes: Mapping[str, str],
    design: Design,
    estimate: pl.DataFrame,
    targets: Mapping[str, float],
    seeds: int,
) -> pl.DataFrame:
    """The plan's table (PLAN_SCHEMA): per measure, model, language (and attack, RQ1 term), the
    expected half-width of the configured design, the dollars its stages cost (the estimate's
    cost_usd: generation and judging for survey measures, the safety stages for safety measures,
    the whole survey for RQ1), and the prompts per seed (and, where the report pools seeds, the
    seeds) that reach the target half-width."""
    survey_costs = {
        (model, language): usd for model, language, usd in stage_costs(estimate, SURVEY_STAGES).iter_rows()
    }
    rows = []
    survey = widths.filter(pl.col("measure").is_in(list(SURVEY_MEASURES)))
    for row in _pooled_by_language(survey).iter_rows(named=True):
        target_key, interval = SURVEY_MEASURES[row["measure"]]
        if row["measure"] == RQ1_SLOPE:
            usd = sum(usd for (model, _), usd in survey_costs.items() if model in design.rq1_models)
        else:
            usd = survey_costs.get((row["model"], row["language"]), 0.0)
        rows.append(
            _survey_row(row, interval, targets[target_key], usd, design.prompts_per_seed, seeds)
            | {"note": _joined(notes.get(row["language"]), _survey_note(row))}
        )
    if RQ1_SLOPE in notes and not survey.filter(pl.col("measure") == RQ1_SLOPE).height:
        rows.append({"measure": RQ1_SLOPE, "note": notes[RQ1_SLOPE], "seeds": seeds})
    safety = widths.filter(~pl.col("measure").is_in(list(SURVEY_MEASURES)))
    if safety.height:
        costs = _safety_costs(estimate)
        for row in (
            safety.group_by([*KEYS, "interval"], maintain_order=True)
            .agg(pl.col("half_width").fill_nan(None).mean(), pl.col("n").mean())
            .iter_rows(named=True)
        ):
            gap = row["measure"].endswith("_gap")
            languages = {row["language"], design.safety_reference} if gap else {row["language"]}
            usd = sum(costs.get((row["model"], language, row["attack"]), 0.0) for language in languages)
            rows.append(_safety_row(row, targets["safety_gap" if gap else "safety_rate"], usd))
    return pl.DataFrame(rows, schema=PLAN_SCHEMA).sort(KEYS, nulls_last=True)


def _pooled_by_language(survey: pl.DataFrame) -> pl.DataFrame:
    """Per measure (and model where it has one), the mean half-width of the simulated runs as
    configured and with every prompt asked twice (`doubled`). Every model is planned alike in a
    language, so a per-model measure pools the language's runs of all models: the same
    prediction for each, with less Monte Carlo error."""
    widths = pl.col("half_width").fill_nan(None)
    means = {
        "half_width": widths.filter(pl.col("copies") == 1).mean(),
        "doubled": widths.filter(pl.col("copies") == 2).mean(),
    }
    per_model = survey.filter(pl.col("model").is_not_null())
    pooled = per_model.group_by("measure", "language").agg(**means)
    return pl.concat(
        [
            per_model.select(KEYS).unique(maintain_order=True).join(pooled, on=["measure", "language"]),
            survey.filter(pl.col("model").is_null()).group_by(KEYS, maintain_order=True).agg(**means),
        ]
    )


def _survey_row(row: dict, interval: str, target: float, usd: float, prompts: int, seeds: int) -> dict:
    half_width, doubled = row["half_width"], row["doubled"]
    ratio = doubled / half_width if half_width and doubled is not None else None
    needed = seeds_needed = usd_needed = None
    if ratio is not None and ratio < 1:
        needed = scaled_count(prompts, half_width, target, -math.log2(ratio))
        usd_needed = usd * needed / prompts
    if half_width and row["measure"] in POOLING_SEEDS:
        seeds_needed = scaled_count(seeds, half_width, target, 0.5)
    return {key: row[key] for key in KEYS} | {
        "half_width": half_width,
        "usd": usd,
        "prompts_per_seed_needed": needed,
        "target": target,
        "prompts_per_seed": prompts,
        "seeds": seeds,
        "seeds_needed": seeds_needed,
        "usd_needed": usd_needed,
        "doubled_prompts_ratio": ratio,
        "interval": interval,
    }


def _survey_note(row: dict) -> str | None:
    if row["half_width"] is None:
        return "no interval in the simulation: too few items or responses to rank"
    parts = []
    if row["doubled"] is None or row["doubled"] >= row["half_width"]:
        parts.append(
            "asking every prompt twice did not narrow it in the simulation: no prompt count is given"
        )
    if row["measure"].startswith("alignment_"):
        parts.append("the report's interval is one seed's: more seeds do not narrow it (no seeds_needed)")
    if row["model"] is not None:
        parts.append("every model is planned alike: the language's runs of all models pooled")
    if row["measure"] == RQ1_SLOPE:
        parts.append(
            "planned models differ by chance only; a real study's differences between models widen it"
        )
    return _joined(*parts)


def _safety_row(row: dict, target: float, usd: float) -> dict:
    half_width, answers = row["half_width"], row["n"]
    note = "the safety set fixes it, not prompts_per_seed or seeds"
    if half_width:
        # a score interval narrows as 1/sqrt(n)
        note += (
            f": about {scaled_count(round(answers), half_width, target, 0.5)} answers would reach the target"
        )
    else:
        note = "no interval in the simulation: no answer it is taken over; " + note
    return {key: row[key] for key in KEYS} | {
        "half_width": half_width,
        "usd": usd,
        "target": target,
        "interval": SAFETY_INTERVALS[row["interval"]],
        "note": f"{note} ({round(answers)} answers in the plan)",
    }


def _safety_costs(estimate: pl.DataFrame) -> dict[tuple[str, str, str], float]:
    """The safety stages' expected dollars per (model, language, attack), `all` included."""
    per_attack = (
        estimate.filter(pl.any_horizontal(pl.col("stage").str.starts_with(stage) for stage in SAFETY_STAGES))
        .with_columns(attack=pl.col("stage").str.split(":").list.last())
        .group_by("model", "language", "attack")
        .agg(pl.col("cost_usd").sum())
    )
    costs = {(model, language, attack): usd for model, language, attack, usd in per_attack.iter_rows()}
    for (model, language, _), usd in list(costs.items()):
        costs[model, language, POOLED_ATTACK] = costs.get((model, language, POOLED_ATTACK), 0.0) + usd
    return costs


def _joined(*parts: str | None) -> str | None:
    return "; ".join(part for part in parts if part) or None
