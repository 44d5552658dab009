# ruff: noqa: RUF001, RUF002 -- labels use Greek letters, minus signs and dashes on purpose
"""Figures of what the filters and the judges did: responses kept and filtered out, language
fidelity, and the agreement between judges."""

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from culturalign.report.figures.drawing import (
    NEUTRAL,
    PALETTE,
    category_axis,
    category_height,
    category_positions,
    first_column_label,
    in_table_order,
    interval_marks,
    new_figure,
    panel_grid,
    same_limits,
    series_style,
    unique_legend,
)

FILTERING_STATUSES = {
    "kept": ("kept", "#0072B2"),
    "wrong_language": ("wrong language", "#E69F00"),
    "malformed": ("malformed (no numbered list)", "#CC79A7"),
    "error": ("failed (backend error)", "#D55E00"),
    "unjudged": ("unjudged (no usable judge labels)", NEUTRAL),
}


def filtering_figure(filtering: pl.DataFrame, *, title: str | None = None) -> Figure:
    """Shares of responses kept and filtered out per model and language (counts pooled over seeds).

    `filtering`: model, language, seed, responses and a count column per status (kept,
    wrong_language, malformed, error, unjudged) [, addresses_judge]. Responses that addressed their
    judge, a count across statuses, are written at the end of their bar where there are any."""
    statuses = [status for status in FILTERING_STATUSES if status in filtering.columns]
    flagged = ["addresses_judge"] if "addresses_judge" in filtering.columns else []
    pooled = filtering.group_by("model", "language", maintain_order=True).agg(
        pl.col("responses", *statuses, *flagged).sum()
    )
    models, languages = in_table_order(filtering, "model"), in_table_order(filtering, "language")
    figure, panels = panel_grid(len(languages), (3.4, category_height(models)), sharey=True)
    for axes, language in zip(panels, languages, strict=True):
        rows = pooled.filter((pl.col("language") == language) & (pl.col("responses") > 0))
        positions = category_positions(rows["model"], models)
        left = np.zeros(rows.height)
        for status in statuses:
            share = (rows[status] / rows["responses"]).to_numpy()
            label, colour = FILTERING_STATUSES[status]
            axes.barh(positions, share, left=left, height=0.7, color=colour, label=label, gid=status)
            left += share
        if "kept" in statuses:
            for position, share in zip(positions, (rows["kept"] / rows["responses"]).to_list(), strict=True):
                if share > 0.2:
                    axes.text(0.02, position, f"kept {share:.1%}", va="center", fontsize=7, color="white")
        counts = rows["addresses_judge"].to_list() if flagged else [0] * rows.height
        for position, count in zip(positions, counts, strict=True):
            if count:
                axes.text(
                    0.98,
                    position,
                    f"{count} address the judge",
                    ha="right",
                    va="center",
                    fontsize=7,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
                    gid="addresses_judge",
                )
        category_axis(axes, models)
        axes.set_xlim(0, 1)
        axes.xaxis.set_major_formatter(PercentFormatter(1.0))
        axes.set_title(language)
        axes.set_xlabel("share of responses (all seeds)")
    first_column_label(panels, "model")
    handles, labels = unique_legend(panels)
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), fontsize=8)
    figure.suptitle(title or "Responses kept and filtered out, per model and language")
    return figure


def language_fidelity_figure(fidelity: pl.DataFrame, *, title: str | None = None) -> Figure:
    """Share of answered responses in the prompted language and in the list format per model and
    language (language_fidelity.csv), and the judge/identifier disagreement where it was measured."""
    measures = [
        ("in_prompted_language", "written in the prompted language"),
        ("list_format", "in the numbered-list format"),
        ("judge_identifier_disagreement", "judge and language identifier disagree"),
    ]
    measures = [
        (column, label)
        for column, label in measures
        if column in fidelity.columns
        and fidelity[column].cast(pl.Float64, strict=False).drop_nulls().drop_nans().len()
    ]
    models, languages = in_table_order(fidelity, "model"), in_table_order(fidelity, "language")
    offsets = np.linspace(-0.15, 0.15, len(measures)) if len(measures) > 1 else [0.0]
    figure, panels = panel_grid(len(languages), (3.4, category_height(models)), sharey=True)
    for axes, language in zip(panels, languages, strict=True):
        rows = fidelity.filter(pl.col("language") == language)
        for index, ((column, label), offset) in enumerate(zip(measures, offsets, strict=True)):
            colour, marker = series_style(index)
            axes.plot(
                rows[column].cast(pl.Float64, strict=False),
                category_positions(rows["model"], models) + offset,
                linestyle="none",
                marker=marker,
                color=colour,
                label=label,
            )
        category_axis(axes, models)
        axes.xaxis.set_major_locator(MaxNLocator(5))
        axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.set_title(language)
        axes.set_xlabel("share of answered responses")
        axes.grid(axis="x", alpha=0.3)
    first_column_label(panels, "model")
    # At least 80%..100%, so that a few percent of wrong-language answers do not fill the panel.
    same_limits(panels, "x", include=(0.8, 1.0))
    handles, labels = unique_legend(panels)
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), fontsize=8)
    figure.suptitle(title or "Language fidelity: answers in the prompted language and format")
    return figure


def judge_agreement_figure(agreement: pl.DataFrame, *, title: str | None = None) -> Figure:
    """Cohen's κ and Krippendorff's α with bootstrap CIs, and raw agreement, per language and judge
    pair (judge_agreement.csv: language, judge_a, judge_b, n, agreement, kappa, kappa_low, kappa_high,
    alpha, alpha_low, alpha_high)."""
    rows = agreement.sort("language", "judge_a", "judge_b")
    pairs = rows.select("judge_a", "judge_b").unique(maintain_order=True).rows()
    several_pairs = len(pairs) > 1
    labels = [
        f"{row['language']}: {row['judge_a']} vs {row['judge_b']}\n(n = {row['n']})"
        if several_pairs
        else f"{row['language']} (n = {row['n']})"
        for row in rows.iter_rows(named=True)
    ]
    figure = new_figure(7.5, (0.55 if several_pairs else 0.4) * len(labels) + 2.0)
    axes = figure.add_subplot()
    positions = np.arange(len(labels), dtype=float)
    axes.axvline(0, color=NEUTRAL, linestyle="--", linewidth=1)
    interval_marks(
        axes,
        positions - 0.15,
        rows["kappa"],
        rows["kappa_low"],
        rows["kappa_high"],
        colour=PALETTE[0],
        marker="o",
        label="Cohen's κ (bootstrap 95% CI)",
    )
    interval_marks(
        axes,
        positions + 0.15,
        rows["alpha"],
        rows["alpha_low"],
        rows["alpha_high"],
        colour=PALETTE[1],
        marker="s",
        label="Krippendorff's α (bootstrap 95% CI)",
    )
    axes.plot(
        rows["agreement"],
        positions,
        linestyle="none",
        marker="|",
        markersize=12,
        color=PALETTE[2],
        label="raw agreement (share of statements)",
    )
    for position, kappa, alpha in zip(positions, rows["kappa"], rows["alpha"], strict=True):
        if kappa is None and alpha is None:
            axes.text(
                0.02, position, "κ, α undefined (a single label, or no statements)", va="center", fontsize=7
            )
    category_axis(axes, labels, wrap=False)
    axes.set_xlim(min(-0.05, *(value - 0.05 for value in rows["kappa_low"].drop_nulls())), 1.02)
    axes.set_xlabel("agreement between judges (κ, α: 0 = chance, 1 = perfect)")
    axes.set_ylabel("language (n = statements both judges labelled)")
    axes.grid(axis="x", alpha=0.3)
    figure.legend(loc="outside lower center", ncols=3, fontsize=8)
    pair = "" if several_pairs or not pairs else f": {pairs[0][0]} vs {pairs[0][1]}"
    figure.suptitle(title or f"Judge agreement per language{pair}")
    return figure
