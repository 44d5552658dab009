# ruff: noqa: RUF001 -- labels use Greek letters, minus signs and dashes on purpose
"""Figures of alignment with the survey populations and of self-consistency, per model and
language (means over seeds of the tables' numbers; nothing is re-estimated)."""

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from culturalign.report.figures.drawing import (
    NEUTRAL,
    PALETTE,
    category_axis,
    category_height,
    category_positions,
    first_column_label,
    in_table_order,
    interval_marks,
    panel_grid,
    same_limits,
    series_style,
    unique_legend,
)
from culturalign.report.figures.survey import level_of, population_label, population_order

SEED_CI = "point: mean over seeds; bar: seeds' mean 95% CI"


def alignment_figure(
    alignment: pl.DataFrame,
    *,
    unit: str = "topic",
    native_countries: Mapping[str, Sequence[str]] | None = None,
    populations: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Each model's alignment with the survey populations, one panel per language (mean over seeds,
    seeds' mean bootstrap CI). The language's own population and, given `native_countries`
    (language -> countries), its native countries are shaded.

    `populations` picks and orders the rows by label (`US`, `lang:da`, `global`); by default all, which
    for many models makes a tall figure: pick the US, the native countries and the language-level and
    global populations there. `alignment`: model, language, seed, level, group, unit, spearman, ci_low,
    ci_high."""
    chosen = alignment.filter(pl.col("unit") == unit)
    if chosen.is_empty():
        units = sorted(alignment["unit"].unique().to_list())
        raise ValueError(f"alignment has no rows with unit {unit!r}; units present: {units}")
    chosen = chosen.with_columns(population_label())
    means = _seed_means(
        chosen, ["model", "language", "level", "population"], ["spearman", "ci_low", "ci_high"]
    )
    models, languages = in_table_order(chosen, "model"), in_table_order(chosen, "language")
    available = population_order(chosen)
    if populations is None:
        populations = available
    elif unknown := [population for population in populations if population not in available]:
        raise ValueError(f"alignment has no population {unknown}; populations present: {available}")
    means = means.filter(pl.col("population").is_in(list(populations)))
    levels = [level_of(population) for population in populations]
    spread = 0.75 * (len(models) - 1) / len(models)
    offsets = dict(zip(models, np.linspace(-spread / 2, spread / 2, len(models)), strict=True))
    row_height = max(0.3, 0.075 * len(models) + 0.15)

    # Each panel keeps its own population labels: which ones are native (bold) differs by language.
    figure, panels = panel_grid(len(languages), (3.8, row_height * len(populations) + 1.3))
    for axes, language in zip(panels, languages, strict=True):
        native = {f"lang:{language}", *(native_countries or {}).get(language, [])}
        for row, population in enumerate(populations):
            if population in native:
                axes.axhspan(row - 0.5, row + 0.5, color="#F0E442", alpha=0.3, linewidth=0)
        for boundary in (index for index in range(1, len(levels)) if levels[index] != levels[index - 1]):
            axes.axhline(boundary - 0.5, color=NEUTRAL, linewidth=0.8)
        axes.axvline(0, color=NEUTRAL, linestyle="--", linewidth=1)
        for index, model in enumerate(models):
            rows = means.filter((pl.col("language") == language) & (pl.col("model") == model))
            colour, marker = series_style(index)
            interval_marks(
                axes,
                category_positions(rows["population"], populations) + offsets[model],
                rows["spearman"],
                rows["ci_low"],
                rows["ci_high"],
                colour=colour,
                marker=marker,
                label=model,
            )
        category_axis(axes, list(populations), wrap=False)
        for tick, population in zip(axes.get_yticklabels(), populations, strict=True):
            tick.set_fontweight("bold" if population in native else "normal")
        axes.set_title(language)
        axes.set_xlabel(f"Spearman ρ with population ({unit} level)\n({SEED_CI})")
        axes.grid(axis="x", alpha=0.3)
    first_column_label(panels, "survey population")
    same_limits(panels, "x", include=(0.0,))
    handles = [
        Line2D([], [], color=series_style(index)[0], marker=series_style(index)[1], label=model)
        for index, model in enumerate(models)
    ]
    handles.append(Patch(color="#F0E442", alpha=0.3, label="native to the panel's language (bold)"))
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), fontsize=8)
    figure.suptitle(title or "Alignment of each model with country, language and global populations")
    return figure


def self_consistency_figure(
    consistency: pl.DataFrame, survey_consistency: pl.DataFrame, *, title: str | None = None
) -> Figure:
    """Each model's self-consistency per language (mean over seeds, seeds' mean CI), beside the range
    of the survey's country-level populations and the language's own survey population.

    `consistency`: model, language, seed, consistency, ci_low, ci_high[, consistency_corrected];
    `survey_consistency`: level, group, consistency."""
    corrected = "consistency_corrected" in consistency.columns and (
        consistency["consistency_corrected"].drop_nulls().drop_nans().len() > 0
    )
    measures = ["consistency", "ci_low", "ci_high", *(["consistency_corrected"] if corrected else [])]
    means = _seed_means(consistency, ["model", "language"], measures)
    models, languages = in_table_order(consistency, "model"), in_table_order(consistency, "language")
    countries = survey_consistency.filter(pl.col("level") == "country")["consistency"].drop_nulls()
    own = dict(survey_consistency.filter(pl.col("level") == "language").select("group", "consistency").rows())

    figure, panels = panel_grid(len(languages), (3.4, category_height(models)), sharey=True)
    band_label = "survey populations (country level, min–max)"
    own_label = "survey: respondents interviewed in the panel's language"
    for axes, language in zip(panels, languages, strict=True):
        if countries.len():
            axes.axvspan(countries.min(), countries.max(), color=NEUTRAL, alpha=0.25, label=band_label)
        if language in own:
            axes.axvline(own[language], color="#000000", linestyle="--", linewidth=1, label=own_label)
        rows = means.filter(pl.col("language") == language)
        positions = category_positions(rows["model"], models)
        interval_marks(
            axes,
            positions,
            rows["consistency"],
            rows["ci_low"],
            rows["ci_high"],
            colour=PALETTE[0],
            marker="o",
            label="measured",
        )
        if corrected:
            axes.plot(
                rows["consistency_corrected"],
                positions,
                linestyle="none",
                marker="D",
                markersize=6,
                color=PALETTE[3],
                markerfacecolor="white",
                label="corrected for judge reliability",
                zorder=4,
            )
        category_axis(axes, models)
        axes.set_title(language)
        axes.set_xlabel("self-consistency (Pearson r across items\nof two responses to different prompts)")
        axes.grid(axis="x", alpha=0.3)
    first_column_label(panels, "model")
    same_limits(panels, "x", include=(0.0, 1.0))
    if survey_consistency.is_empty():
        # An aggregated ground truth without survey.ceiling: no band to draw, and the legend says so.
        panels[0].plot([], [], linestyle="none", label="survey ceiling unavailable (aggregated ground truth)")
    handles, labels = unique_legend(panels)
    sampling = "mean over seeds; bar: 95% sampling interval"
    labels = [f"{label} ({sampling})" if label == "measured" else label for label in labels]
    figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8)
    figure.suptitle(title or "Self-consistency across prompt paraphrases, per language")
    return figure


def _seed_means(frame: pl.DataFrame, keys: list[str], columns: list[str]) -> pl.DataFrame:
    return frame.group_by(keys, maintain_order=True).agg(
        pl.col(column).cast(pl.Float64).fill_nan(None).mean() for column in columns
    )
