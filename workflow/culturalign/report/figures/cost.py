"""The figure of the cost ledger: tokens, dollars and seconds per model."""

from collections.abc import Collection

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, MaxNLocator, StrMethodFormatter

from culturalign.report.figures.drawing import (
    NEUTRAL,
    PALETTE,
    category_axis,
    category_height,
    new_figure,
    unique_legend,
)


def cost_figure(
    ledger: pl.DataFrame,
    simulated_models: Collection[str] = (),
    gpu_models: Collection[str] = (),
    *,
    title: str | None = None,
) -> Figure:
    """The cost ledger per model, summed over stages, languages and seeds: prompt and completion
    tokens, dollars and seconds. Seconds of `gpu_models` (vLLM) are GPU-seconds and drawn apart;
    `simulated_models` send no tokens, and say so."""
    totals = ledger.group_by("model", maintain_order=True).agg(
        pl.col("prompt_tokens", "completion_tokens").cast(pl.Int64, strict=False).fill_null(0).sum(),
        pl.col("cost_usd").cast(pl.Float64, strict=False).fill_null(0).sum(),
        pl.col("seconds").cast(pl.Float64, strict=False).fill_null(0).sum(),
    )
    models = totals["model"].to_list()
    positions = np.arange(len(models), dtype=float)
    figure = new_figure(12.0, category_height(models) + 0.6)
    tokens, dollars, seconds = figure.subplots(1, 3, sharey=True)
    for axes in (tokens, dollars, seconds):
        axes.xaxis.set_major_locator(MaxNLocator(5))
        axes.grid(axis="x", alpha=0.3)

    prompt, completion = totals["prompt_tokens"].to_numpy(), totals["completion_tokens"].to_numpy()
    tokens.barh(positions, prompt, height=0.7, color=PALETTE[0], label="prompt", gid="prompt_tokens")
    tokens.barh(
        positions,
        completion,
        left=prompt,
        height=0.7,
        color=PALETTE[1],
        label="completion",
        gid="completion_tokens",
    )
    simulated = np.array([model in simulated_models for model in models])
    _note_zero(
        tokens, positions, prompt + completion, np.where(simulated, "no tokens (simulated)", "no tokens")
    )
    tokens.xaxis.set_major_formatter(EngFormatter(sep=""))
    tokens.set_xlabel("tokens (prompt + completion)")

    cost = totals["cost_usd"].to_numpy()
    dollars.barh(positions, cost, height=0.7, color=PALETTE[2], gid="cost_usd")
    _note_zero(dollars, positions, cost, "no paid calls")
    dollars.xaxis.set_major_formatter(
        StrMethodFormatter("${x:,.0f}" if cost.max(initial=0) >= 10 else "${x:,.2f}")
    )
    dollars.set_xlabel("cost (US dollars)")

    gpu = np.array([model in gpu_models for model in models])
    spent = totals["seconds"].to_numpy()
    seconds.barh(
        positions[~gpu],
        spent[~gpu],
        height=0.7,
        color=PALETTE[5],
        label="wall-clock seconds",
        gid="wall_clock",
    )
    if gpu.any():
        seconds.barh(
            positions[gpu],
            spent[gpu],
            height=0.7,
            color=PALETTE[3],
            hatch="//",
            label="GPU-seconds (vLLM)",
            gid="gpu",
        )
    # Engineering prefixes would print 50 ms as "50m", easily read as minutes.
    seconds.xaxis.set_major_formatter(
        StrMethodFormatter("{x:,.0f}" if spent.max(initial=0) >= 1000 else "{x:,.3g}")
    )
    seconds.set_xlabel("GPU-seconds (vLLM) / wall-clock seconds" if gpu.any() else "seconds (wall clock)")

    category_axis(tokens, models)
    tokens.set_ylabel("model")
    # Below the panels: inside, a legend would cover the last model's bars.
    handles, labels = unique_legend([tokens, seconds] if gpu.any() else [tokens])
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8)
    figure.suptitle(title or "Cost ledger per model (all stages, languages and seeds)")
    return figure


def _note_zero(axes: Axes, positions: np.ndarray, values: np.ndarray, notes: str | np.ndarray) -> None:
    """Say in words what a zero-length bar means; an all-zero panel keeps a sensible scale."""
    if not np.any(values > 0):
        axes.set_xlim(0, 1)
        axes.set_xticks([0])
    notes = np.broadcast_to(np.asarray(notes), values.shape)
    for position, note in zip(positions[values <= 0], notes[values <= 0], strict=True):
        axes.text(
            0.01,
            position,
            note,
            transform=axes.get_yaxis_transform(),
            va="center",
            fontsize=8,
            color=NEUTRAL,
            style="italic",
        )
