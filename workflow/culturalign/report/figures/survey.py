# ruff: noqa: RUF001 -- labels use Greek letters, minus signs and dashes on purpose
"""Figures of the survey itself, and how a survey population is named in every figure (`US`,
`lang:da`, `global`). The heatmap's correlations between populations are the one statistic
computed in a figure."""

import itertools

import matplotlib
import numpy as np
import polars as pl
from matplotlib.figure import Figure

from culturalign.report.figures.drawing import new_figure

LEVELS = ("country", "language", "global")


def population_correlation_figure(ground_truth: pl.DataFrame, *, title: str | None = None) -> Figure:
    """Heatmap of Spearman correlations of item polarity between every two survey populations, over
    the items both have. `ground_truth`: level, group, item, pro_score."""
    # Imported here, not at the top: the figure registry, and with it this module, is imported each
    # time Snakemake parses the workflow, and scipy.stats alone takes longer to import than the rest.
    from scipy import stats

    labels, values = _population_vectors(ground_truth)
    count = len(labels)
    matrix = np.full((count, count), np.nan)
    for i, j in itertools.combinations_with_replacement(range(count), 2):
        shared = np.isfinite(values[:, i]) & np.isfinite(values[:, j])
        a, b = values[shared, i], values[shared, j]
        # Undefined with fewer than three shared items or a population that rates every item alike.
        if shared.sum() >= 3 and np.ptp(a) > 0 and np.ptp(b) > 0:
            matrix[i, j] = matrix[j, i] = stats.spearmanr(a, b).statistic

    cell = 0.55 if count <= 20 else max(0.2, 11 / count)
    figure = new_figure(cell * count + 2.6, cell * count + 1.8)
    # Compressed: the square heatmap would otherwise float in white space below the title.
    figure.set_layout_engine("compressed")
    axes = figure.add_subplot()
    colours = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#D9D9D9")
    image = axes.imshow(matrix, cmap=colours, vmin=-1, vmax=1)
    axes.set_xticks(range(count), labels, rotation=45, ha="right", rotation_mode="anchor")
    axes.set_yticks(range(count), labels)
    axes.set_xlabel("survey population")
    axes.set_ylabel("survey population")
    if cell >= 0.4:
        for (row, column), value in np.ndenumerate(matrix):
            axes.text(
                column,
                row,
                "–" if np.isnan(value) else f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if abs(value) > 0.6 else "black",
            )
    levels = [level_of(label) for label in labels]
    for boundary in (index for index in range(1, count) if levels[index] != levels[index - 1]):
        axes.axhline(boundary - 0.5, color="white", linewidth=2.5)
        axes.axvline(boundary - 0.5, color="white", linewidth=2.5)
    colourbar = figure.colorbar(image, ax=axes, shrink=min(1.0, 4 / (cell * count)) if count else 1.0)
    colourbar.set_label("Spearman ρ of item polarity\n(over the items both populations have)")
    figure.suptitle(title or "Item polarity: agreement between survey populations")
    return figure


def population_label() -> pl.Expr:
    """How a survey population is named in figures: `US`, `lang:da`, `global`."""
    return (
        pl.when(pl.col("level") == "language")
        .then(pl.lit("lang:") + pl.col("group"))
        .when(pl.col("level") == "global")
        .then(pl.lit("global"))
        .otherwise(pl.col("group"))
        .alias("population")
    )


def level_of(label: str) -> str:
    return "global" if label == "global" else "language" if label.startswith("lang:") else "country"


def population_order(frame: pl.DataFrame) -> list[str]:
    """Populations as labelled in figures: countries, then languages, then global, each in table order."""
    labels = frame["population"].unique(maintain_order=True).to_list()
    return sorted(labels, key=lambda label: LEVELS.index(level_of(label)))


def _population_vectors(ground_truth: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """Population labels in display order and an items x populations matrix of pro scores (NaN where
    a population lacks an item)."""
    labelled = ground_truth.with_columns(population_label())
    labels = population_order(labelled)
    wide = labelled.pivot(on="population", index="item", values="pro_score")
    return labels, wide.select(labels).cast(pl.Float64).to_numpy()
