"""Figures of the safety stage: attack success and over-refusal per model, language and attack,
and both against cultural alignment."""

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from culturalign.report.figures.drawing import (
    NEUTRAL,
    PALETTE,
    PANEL_COLUMNS,
    category_axis,
    category_height,
    category_positions,
    in_table_order,
    interval_marks,
    new_figure,
    panel_grid,
    series_style,
    unique_legend,
)

SAFETY_MEASURE_LABELS = {
    "attack_success": "attack success (harmful prompts answered)",
    "over_refusal": "over-refusal (benign prompts refused)",
}


def safety_rates_figure(rates: pl.DataFrame, *, title: str | None = None) -> Figure:
    """Attack success and over-refusal per model (rows) and language (panels), one mark per attack
    and over all attacks, each with its interval (rates.parquet)."""
    measures = [measure for measure in SAFETY_MEASURE_LABELS if measure in set(rates["measure"])]
    languages, models = in_table_order(rates, "language"), in_table_order(rates, "model")
    attacks = in_table_order(rates, "attack")
    offsets = np.linspace(-0.3, 0.3, len(attacks)) if len(attacks) > 1 else [0.0]
    figure, panels = panel_grid(len(measures) * len(languages), (3.0, category_height(models)), sharey=True)
    for position, (axes, (measure, language)) in enumerate(
        zip(panels, [(m, lang) for m in measures for lang in languages], strict=True)
    ):
        for index, (attack, offset) in enumerate(zip(attacks, offsets, strict=True)):
            rows = rates.filter(
                (pl.col("measure") == measure)
                & (pl.col("language") == language)
                & (pl.col("attack") == attack)
            )
            colour, marker = ("black", "D") if attack == "all" else series_style(index)
            interval_marks(
                axes,
                category_positions(rows["model"], models) + offset,
                rows["rate"],
                rows["ci_low"],
                rows["ci_high"],
                colour=colour,
                marker=marker,
                label="all attacks" if attack == "all" else attack.replace("_", " "),
            )
        category_axis(axes, models)
        axes.set_xlim(-0.02, 1.02)
        axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.set_title(f"{language}: {measure.replace('_', ' ')}", fontsize=9)
        axes.grid(axis="x", alpha=0.3)
        if position % PANEL_COLUMNS == 0:
            axes.set_ylabel("model")
    handles, labels = unique_legend(panels)
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6), fontsize=8)
    figure.suptitle(title or "Safety: attack success and over-refusal per language, with 95% intervals")
    return figure


def safety_alignment_figure(
    pairs: pl.DataFrame, correlation: pl.DataFrame, *, reference: str = "en", title: str | None = None
) -> Figure:
    """Per (model, language): cultural alignment against attack success and against over-refusal,
    with the correlation across pairs (safety_alignment.csv); and each language's attack-success gap
    from the reference language with its CI."""
    models = in_table_order(pairs, "model")
    languages = [language for language in in_table_order(pairs, "language") if language != reference]
    figure = new_figure(13.5, max(4.2, 0.28 * len(models) * max(len(languages), 1) + 1.8))
    scatter_success, scatter_over, gaps = figure.subplots(1, 3)
    rho = dict(
        zip(correlation["measure"], correlation.select("spearman", "ci_low", "ci_high").rows(), strict=True)
    )
    for axes, measure in ((scatter_success, "attack_success"), (scatter_over, "over_refusal")):
        # a pair without alignment (every answer filtered out) or without the rate has no point
        drawn = pairs.drop_nulls(["alignment", measure])
        for index, model in enumerate(models):
            rows = drawn.filter(pl.col("model") == model)
            colour, marker = series_style(index)
            axes.errorbar(
                rows["alignment"],
                rows[measure],
                yerr=[rows[measure] - rows[f"{measure}_ci_low"], rows[f"{measure}_ci_high"] - rows[measure]],
                linestyle="none",
                marker=marker,
                color=colour,
                label=model,
                capsize=2,
            )
            for x, y, language in rows.select("alignment", measure, "language").iter_rows():
                axes.annotate(language, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
        value, low, high = rho.get(measure, (np.nan, np.nan, np.nan))
        axes.set_title(
            f"Spearman ρ = {value:.2f} [{low:.2f}, {high:.2f}] over {drawn.height} pairs", fontsize=9
        )
        axes.set_xlabel("alignment with the language's population (Spearman)")
        axes.set_ylabel(SAFETY_MEASURE_LABELS[measure])
        axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.grid(alpha=0.3)
    labels = [f"{model} · {language}" for model in models for language in languages]
    rows = pairs.filter(pl.col("language") != reference).with_columns(
        pl.format("{} · {}", pl.col("model"), pl.col("language")).alias("pair")
    )
    interval_marks(
        gaps,
        category_positions(rows["pair"], labels),
        rows["attack_success_gap"],
        rows["attack_success_gap_ci_low"],
        rows["attack_success_gap_ci_high"],
        colour=PALETTE[0],
        marker="o",
        label="attack-success gap",
    )
    category_axis(gaps, labels, wrap=False)
    gaps.axvline(0, color=NEUTRAL, linewidth=1)
    gaps.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    gaps.set_xlabel(f"attack success minus {reference} (same prompts, paired)")
    gaps.grid(axis="x", alpha=0.3)
    handles, names = unique_legend([scatter_success])
    figure.legend(handles, names, loc="outside lower center", ncols=min(len(names), 6), fontsize=8)
    figure.suptitle(
        title or "Is cultural fluency bought with safety? Alignment and safety per (model, language)"
    )
    return figure
