"""What every figure is drawn with: colours and markers, figures and panel grids on the Agg canvas
(no pyplot state, no display needed), category axes, interval marks, legends, and the banner and
PNG output every figure ends with.

Layouts put categories (models, populations, terms) on the y axis, where long names need no rotation,
and wrap per-language panels in rows of four, so that 20 models x 10 languages stay legible."""

import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from culturalign.regression import RQ2_NOT_FITTED_REASON
from culturalign.report.notes import figure_banner

# Okabe & Ito's colours, distinguishable under the common colour-vision deficiencies (their yellow is
# left out: too faint on white). Beyond seven categories the marker changes too.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
MARKERS = ("o", "s", "D", "^", "v", "P", "X")
NEUTRAL = "#7F7F7F"
PANEL_COLUMNS = 4
SIMULATED_BANNER = "SIMULATED RESPONDENTS · SYNTHETIC SURVEY — not real models or real survey data"


def unavailable_figure(title: str, reason: str) -> Figure:
    """A figure that says in words why there is nothing to draw (an analysis the study's design
    could not fit), so that the report keeps its place and its reason."""
    figure = Figure(figsize=(8, 2.4), layout="constrained")
    FigureCanvasAgg(figure)
    figure.text(0.5, 0.45, textwrap.fill(reason, 90), ha="center", va="center", fontsize=10)
    figure.suptitle(title)
    return figure


def stamp_banner(figure: Figure, text: str = SIMULATED_BANNER, *, colour: str = "#C62828") -> Figure:
    """Add a band with `text` across the top of `figure`, above everything already drawn.

    The figure grows by the band's height. Its layout is settled first and then frozen, so stamp a
    figure when it is otherwise finished."""
    figure.draw_without_rendering()
    figure.set_layout_engine("none")
    banner = figure.text(
        0.5,
        1,
        text,
        ha="center",
        va="center",
        color="white",
        fontsize=11,
        fontweight="bold",
        zorder=11,
        gid="banner-text",
    )
    # Measured rather than estimated: wrap until the text fits the figure's width.
    for per_line in range(len(text), 10, -4):
        banner.set_text("\n".join(textwrap.wrap(text, per_line)))
        if banner.get_window_extent().width <= 0.95 * figure.bbox.width:
            break
    band = banner.get_window_extent().height / figure.dpi + 0.25
    # Anchors in inches from the bottom-left corner do not move when the figure grows upwards.
    anchors = [
        (legend, legend.get_bbox_to_anchor().transformed(figure.dpi_scale_trans.inverted()))
        for legend in figure.legends
    ]
    width, height = figure.get_size_inches()
    figure.set_size_inches(width, height + band)
    kept = height / (height + band)
    for axes in figure.axes:
        box = axes.get_position()
        axes.set_position([box.x0, box.y0 * kept, box.width, box.height * kept])
    for label in figure.texts:
        if label is not banner and label.get_transform() == figure.transFigure:
            x, y = label.get_position()
            label.set_position((x, y * kept))
    for legend, anchor in anchors:
        legend.set_bbox_to_anchor(anchor, transform=figure.dpi_scale_trans)
    banner.set_position((0.5, (1 + kept) / 2))
    figure.add_artist(
        Rectangle(
            (0, kept),
            1,
            1 - kept,
            transform=figure.transFigure,
            facecolor=colour,
            edgecolor="none",
            zorder=10,
            gid="banner-band",
        )
    )
    return figure


def save_figure(figure: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Write `figure` as a PNG (tight bounding box) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=dpi, bbox_inches="tight")
    # Only a figure made through pyplot is registered there; closing any other one is a no-op.
    from matplotlib import pyplot

    pyplot.close(figure)
    return path


def new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    # Side-by-side panels need a gap wider than the default, or "100%" runs into the next "0%".
    figure.get_layout_engine().set(wspace=0.06)
    FigureCanvasAgg(figure)
    return figure


def panel_grid(
    count: int, panel_size: tuple[float, float], *, sharey: bool = False
) -> tuple[Figure, list[Axes]]:
    """`count` panels in rows of PANEL_COLUMNS; room below for a figure legend."""
    columns = max(1, min(PANEL_COLUMNS, count))
    rows = max(1, math.ceil(count / columns))
    width, height = panel_size
    figure = new_figure(width * columns + 1.2, height * rows + 1.4)
    grid = figure.subplots(rows, columns, squeeze=False, sharey=sharey)
    panels = list(grid.ravel())
    for unused in panels[count:]:
        unused.remove()
    return figure, panels[:count]


def _wrapped(label: str, width: int = 30) -> str:
    """A long name broken after separators (- _ / . space) into as few lines of at most about `width`
    characters as greedy filling gives, balanced in length."""
    chunks = [chunk for chunk in re.findall(r"[^-_/. ]*[-_/. ]?", label) if chunk]

    def fill(limit: int) -> list[str]:
        lines = [""]
        for chunk in chunks:
            if lines[-1] and len(lines[-1]) + len(chunk) > limit:
                lines.append("")
            lines[-1] += chunk
        return [line.rstrip(" ") for line in lines]

    lines = fill(width)
    balanced = next(
        (
            fill(limit)
            for limit in range(math.ceil(len(label) / len(lines)), width)
            if len(fill(limit)) <= len(lines)
        ),
        lines,
    )
    return "\n".join(balanced)


def category_height(labels: Sequence[str], *, wrap: bool = True) -> float:
    """Panel height for categories on the y axis, with room for the lines of wrapped names."""
    lines = max((_wrapped(label).count("\n") + 1 if wrap else 1 for label in labels), default=1)
    return (0.18 + 0.15 * lines) * len(labels) + 1.3


def category_axis(axes: Axes, labels: Sequence[str], *, wrap: bool = True) -> None:
    """Categories top to bottom on the y axis; long names wrapped."""
    axes.set_yticks(range(len(labels)), [_wrapped(label) if wrap else label for label in labels])
    axes.set_ylim(len(labels) - 0.5, -0.5)


def first_column_label(panels: Sequence[Axes], label: str) -> None:
    for index, axes in enumerate(panels):
        if index % PANEL_COLUMNS == 0:
            axes.set_ylabel(label)


def interval_marks(axes: Axes, positions, centre, low, high, *, colour: str, marker: str, label: str) -> None:
    """Points at `centre` with horizontal interval bars from `low` to `high`, one per position.

    Bars and points are drawn apart, so a point outside its interval (a percentile bootstrap CI need
    not contain the estimate) is shown as it is rather than refused."""
    positions, centre, low, high = (
        np.asarray(values, dtype=float) for values in (positions, centre, low, high)
    )
    bounded = np.isfinite(low) & np.isfinite(high)
    bars = axes.hlines(
        positions[bounded], low[bounded], high[bounded], colors=colour, linewidth=1.5, zorder=2
    )
    bars.set_gid(f"ci: {label}")
    axes.plot(
        centre,
        positions,
        linestyle="none",
        marker=marker,
        markersize=6,
        color=colour,
        label=label,
        zorder=3,
    )


def same_limits(panels: Sequence[Axes], axis: str, include: Sequence[float] = ()) -> None:
    limits = [getattr(axes, f"get_{axis}lim")() for axes in panels]
    low = min([low for low, _ in limits] + list(include), default=0)
    high = max([high for _, high in limits] + list(include), default=1)
    for axes in panels:
        getattr(axes, f"set_{axis}lim")(low, high)


def unique_legend(panels: Sequence[Axes]) -> tuple[list, list[str]]:
    entries = {}
    for axes in panels:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    return list(entries.values()), list(entries)


def series_style(index: int) -> tuple[str, str]:
    return PALETTE[index % len(PALETTE)], MARKERS[(index // len(PALETTE)) % len(MARKERS)]


def in_table_order(frame: pl.DataFrame, column: str) -> list:
    return frame[column].drop_nulls().unique(maintain_order=True).to_list()


def category_positions(values: pl.Series, categories: Sequence[str]) -> np.ndarray:
    index = {category: position for position, category in enumerate(categories)}
    return np.array([index[value] for value in values], dtype=float)


def drawn_figure(entry, tables: Mapping[str, pl.DataFrame], params) -> Figure:
    """The entry's figure with the honesty notes' banner across the top; a figure of a regression
    that was not fitted says why instead."""
    reason = _not_fitted(entry.fitted_by, tables) if entry.fitted_by else None
    figure = (
        unavailable_figure(entry.name.replace("_", " "), reason) if reason else entry.draw(tables, params)
    )
    banner = figure_banner(params.notes)
    if banner:
        stamp_banner(figure, banner)
    return figure


def _not_fitted(regression: str, tables: Mapping[str, pl.DataFrame]) -> str | None:
    """Why a regression was not fitted, or None when it was: RQ1's fit table says why; RQ2 is not
    fitted only when no model kept answers in a language with a native population."""
    if not tables[regression].is_empty():
        return None
    if regression == "rq2":
        return RQ2_NOT_FITTED_REASON
    return next(iter(tables["rq1_fit"]["note"].drop_nulls()), None)
