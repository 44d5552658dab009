# ruff: noqa: RUF001, RUF002 -- labels use Greek letters, minus signs and dashes on purpose
"""Figures of RQ1 (capability and alignment, its coefficients) and RQ2 (US minus native
alignment), and the residual diagnostics of both fits."""

import math

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import ScaledTranslation

from culturalign.report.figures.drawing import (
    NEUTRAL,
    PALETTE,
    PANEL_COLUMNS,
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


def capability_alignment_figure(
    residuals: pl.DataFrame, coefficients: pl.DataFrame, *, engine: str = "lme4", title: str | None = None
) -> Figure:
    """RQ1: capability against alignment per language, one colour per family, with the fitted
    capability slope of each family drawn through the family's mean point.

    `residuals`: model, family, language, seed, capability, alignment (rq1_residuals.csv);
    `coefficients`: rq1.csv, whose `capability[:family=F]:language=L` terms give the slopes."""
    slopes = _capability_slopes(coefficients, engine)
    # rq1_residuals.csv repeats every observation once per engine.
    if "engine" in residuals.columns and engine in set(residuals["engine"]):
        residuals = residuals.filter(pl.col("engine") == engine)
    families, languages = in_table_order(residuals, "family"), in_table_order(residuals, "language")
    figure, panels = panel_grid(len(languages), (3.6, 3.5 + 0.15 * len(families)))
    for axes, language in zip(panels, languages, strict=True):
        runs = residuals.filter(pl.col("language") == language)
        panel_lines = []
        for index, family in enumerate(families):
            points = runs.filter(pl.col("family") == family)
            if points.is_empty():
                continue
            colour, marker = series_style(index)
            axes.scatter(
                points["capability"],
                points["alignment"],
                color=colour,
                marker=marker,
                s=22,
                alpha=0.75,
                label=family,
                zorder=3,
            )
            slope = _slope_for(slopes, family, language)
            if slope is None:
                continue
            centre_x, centre_y = points["capability"].mean(), points["alignment"].mean()
            low, high = points["capability"].min(), points["capability"].max()
            if high - low < 1e-9:
                low, high = centre_x - 0.05, centre_x + 0.05
            estimate, ci_low, ci_high = slope
            (line,) = axes.plot(
                [low, high],
                [centre_y + estimate * (low - centre_x), centre_y + estimate * (high - centre_x)],
                color=colour,
                linewidth=2,
                gid=f"slope: {family}",
            )
            panel_lines.append((line, f"{estimate:+.2f} [{ci_low:+.2f}, {ci_high:+.2f}]"))
        if panel_lines:
            # Under the axis label: inside the panel, a legend of several families covers points.
            axes.legend(
                *zip(*panel_lines, strict=True),
                title=f"{engine} slope [95% CI]",
                fontsize=7,
                title_fontsize=7,
                loc="upper center",
                bbox_to_anchor=(0.5, 0),
                bbox_transform=axes.transAxes + ScaledTranslation(0, -0.5, figure.dpi_scale_trans),
            )
        axes.set_title(language)
        axes.set_xlabel("capability (mean benchmark score, 0–1)")
        axes.grid(alpha=0.3)
    first_column_label(panels, "alignment with the language's\nown population (Spearman ρ)")
    same_limits(panels, "x")
    same_limits(panels, "y")
    handles = [
        Line2D(
            [],
            [],
            color=series_style(index)[0],
            marker=series_style(index)[1],
            linestyle="none",
            label=family,
        )
        for index, family in enumerate(families)
    ]
    handles.append(Line2D([], [], color=NEUTRAL, linewidth=2, label="fitted slope through the family's mean"))
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), title="family")
    figure.suptitle(
        title
        or "RQ1: multilingual capability and cultural alignment\n"
        "(one point per model and seed; slopes are partial effects, holding self-consistency fixed)"
    )
    return figure


def coefficient_figure(coefficients: pl.DataFrame, *, title: str | None = None) -> Figure:
    """Forest plot of a regression table (rq1.csv, rq2.csv): each term's estimate with its 95% CI, the
    engines side by side."""
    terms = in_table_order(coefficients, "term")
    engines = in_table_order(coefficients, "engine") if "engine" in coefficients.columns else [None]
    spread = 0.36 if len(engines) > 1 else 0.0
    offsets = np.linspace(-spread / 2, spread / 2, len(engines))
    figure = new_figure(8.0, (0.3 if len(engines) == 1 else 0.42) * len(terms) + 1.8)
    axes = figure.add_subplot()
    axes.axvline(0, color=NEUTRAL, linestyle="--", linewidth=1)
    for index, (engine, offset) in enumerate(zip(engines, offsets, strict=True)):
        rows = coefficients if engine is None else coefficients.filter(pl.col("engine") == engine)
        colour, marker = series_style(index)
        interval_marks(
            axes,
            category_positions(rows["term"], terms) + offset,
            rows["estimate"],
            rows["ci_low"],
            rows["ci_high"],
            colour=colour,
            marker=marker,
            label=engine or "estimate",
        )
    category_axis(axes, terms, wrap=False)
    axes.set_xlabel("estimate (95% CI)")
    axes.set_ylabel("term")
    axes.grid(axis="x", alpha=0.3)
    if engines != [None]:
        axes.legend(title="engine", loc="best", fontsize=8)
    figure.suptitle(title or "Regression coefficients")
    return figure


def us_bias_figure(coefficients: pl.DataFrame, totals: pl.DataFrame, *, title: str | None = None) -> Figure:
    """RQ2 per language: each model's total US-minus-native alignment (rq2_totals.csv) beside its
    `us:model=M:language=L` term (its US lean against the analytic null of a uniform respondent,
    drawn only where the design gave it an interval), and a panel with a reference model's own US
    terms (`us`, `us:language=...`) where a table carries them."""
    us_terms = coefficients.filter((pl.col("term") == "us") | pl.col("term").str.starts_with("us:"))
    parsed = us_terms.with_columns(
        model=pl.col("term").str.extract(r"^us:model=(.+):language=.+$"),
        language=pl.col("term").str.extract(r"^us:model=.+:language=(.+)$"),
    )
    per_model, reference_terms = (
        parsed.filter(pl.col("model").is_not_null()),
        parsed.filter(pl.col("model").is_null()),
    )
    models = list(dict.fromkeys([*in_table_order(totals, "model"), *in_table_order(per_model, "model")]))
    languages = list(
        dict.fromkeys([*in_table_order(totals, "language"), *in_table_order(per_model, "language")])
    )
    references = [model for model in models if model not in set(per_model["model"])]

    # The reference panel follows the languages in the first row, or opens a row of its own: below a
    # language panel its long term labels would push that whole column away from its neighbours.
    reference_slot = (
        len(languages)
        if len(languages) < PANEL_COLUMNS
        else math.ceil(len(languages) / PANEL_COLUMNS) * PANEL_COLUMNS
    )
    height = max(category_height(models), category_height(reference_terms["term"], wrap=False))
    figure, panels = panel_grid(
        reference_slot + 1 if reference_terms.height else len(languages), (3.4, height)
    )
    for unused in panels[len(languages) : reference_slot]:
        unused.remove()
    total_label = "total US − native (mean over seeds, 95% CI over resampled responses)"
    term_label = "OLS term us:model:language — US lean against the uniform null (95% CI over seeds)"
    for index, (axes, language) in enumerate(zip(panels[: len(languages)], languages, strict=True)):
        axes.axvline(0, color=NEUTRAL, linestyle="--", linewidth=1)
        rows = totals.filter((pl.col("language") == language) & pl.col("ci_low").is_not_null())
        interval_marks(
            axes,
            category_positions(rows["model"], models) - 0.15,
            rows["us_minus_native"],
            rows["ci_low"],
            rows["ci_high"],
            colour=PALETTE[0],
            marker="o",
            label=total_label,
        )
        terms = per_model.filter((pl.col("language") == language) & pl.col("ci_low").is_not_null())
        interval_marks(
            axes,
            category_positions(terms["model"], models) + 0.15,
            terms["estimate"],
            terms["ci_low"],
            terms["ci_high"],
            colour=PALETTE[3],
            marker="s",
            label=term_label,
        )
        category_axis(axes, models)
        if index % PANEL_COLUMNS:
            axes.tick_params(labelleft=False)
        else:
            axes.set_ylabel("model")
        axes.set_title(language)
        axes.set_xlabel("US − native alignment\n(Δ Spearman ρ)")
        axes.grid(axis="x", alpha=0.3)
    if reference_terms.height:
        axes = panels[-1]
        axes.axvline(0, color=NEUTRAL, linestyle="--", linewidth=1)
        names = reference_terms["term"].to_list()
        interval_marks(
            axes,
            range(len(names)),
            reference_terms["estimate"],
            reference_terms["ci_low"],
            reference_terms["ci_high"],
            colour=PALETTE[2],
            marker="D",
            label="reference model's US terms",
        )
        category_axis(axes, names, wrap=False)
        axes.set_ylabel("term")
        shifted = set(reference_terms["term"].str.extract(r"^us:language=(?:T\.)?(.+)$").drop_nulls())
        baseline = [language for language in languages if language not in shifted]
        axes.set_title(
            f"reference model{'' if len(references) != 1 else ': ' + references[0]}, US terms"
            + (
                f"\n(us: in {baseline[0]}; us:language=…: difference from {baseline[0]})"
                if len(baseline) == 1
                else ""
            ),
            fontsize=9,
        )
        axes.set_xlabel("estimate (Δ Spearman ρ, 95% CI)")
        axes.grid(axis="x", alpha=0.3)
    panels = [*panels[: len(languages)], *panels[reference_slot:]]
    same_limits(panels, "x", include=(0.0,))
    handles, labels = unique_legend(panels[: len(languages)])
    figure.legend(handles, labels, loc="outside lower center", ncols=1, fontsize=8)
    figure.suptitle(title or "RQ2: do models hold US values when speaking another language?")
    return figure


def residual_diagnostics_figure(residuals: pl.DataFrame, title: str) -> Figure:
    """Residuals against fitted values and a normal Q–Q plot, from a frame with fitted and residual;
    one row of the two per engine where an `engine` column holds several."""
    # Imported here for the reason given in survey.py: the workflow imports this module at parse time.
    from scipy import stats

    engines = in_table_order(residuals, "engine") if "engine" in residuals.columns else [None]
    figure = new_figure(10.0, 3.8 * len(engines) + 0.6)
    for (spread, quantiles), engine in zip(
        figure.subplots(len(engines), 2, squeeze=False), engines, strict=True
    ):
        rows = residuals if engine is None else residuals.filter(pl.col("engine") == engine)
        kept = rows.select("fitted", "residual").drop_nulls()
        fitted, residual = kept["fitted"].to_numpy(), kept["residual"].to_numpy()
        count = len(residual)
        named = "" if engine is None else f"{engine}: "
        spread.scatter(fitted, residual, s=20, alpha=0.7, color=PALETTE[0])
        spread.axhline(0, color=NEUTRAL, linestyle="--", linewidth=1)
        spread.set_xlabel("fitted alignment (Spearman ρ)")
        spread.set_ylabel("residual (observed − fitted)")
        spread.set_title(f"{named}residuals against fitted values (n = {count})")

        # Hazen plotting positions: the i-th smallest of n residuals against the (i - 0.5) / n quantile.
        theoretical = stats.norm.ppf((np.arange(1, count + 1) - 0.5) / count)
        quantiles.scatter(theoretical, np.sort(residual), s=20, alpha=0.7, color=PALETTE[0])
        if count > 1:
            centre, scale = residual.mean(), residual.std(ddof=1)
            ends = np.array([theoretical[0], theoretical[-1]])
            quantiles.plot(
                ends,
                centre + scale * ends,
                color=PALETTE[3],
                linewidth=1.5,
                label="normal with the residuals' mean and SD",
            )
            quantiles.legend(loc="upper left", fontsize=8)
        quantiles.set_xlabel("theoretical normal quantile")
        quantiles.set_ylabel("ordered residual")
        quantiles.set_title(f"{named}normal Q–Q plot")
        for axes in (spread, quantiles):
            axes.grid(alpha=0.3)
    figure.suptitle(title)
    return figure


def _capability_slopes(coefficients: pl.DataFrame, engine: str) -> dict:
    """(family or None, language or None) -> (estimate, ci_low, ci_high) of the capability terms. A
    factor with one level is dropped from the fitted formula, hence the None keys."""
    if "engine" in coefficients.columns:
        engines = in_table_order(coefficients, "engine")
        if engine not in engines:
            raise ValueError(f"regression table has no {engine!r} coefficients; engines present: {engines}")
        coefficients = coefficients.filter(pl.col("engine") == engine)
    slopes = {}
    for term, estimate, low, high in coefficients.select("term", "estimate", "ci_low", "ci_high").rows():
        parts = term.split(":")
        factors = dict(part.split("=", 1) for part in parts if "=" in part)
        bare = [part for part in parts if "=" not in part]
        if bare == ["capability"] and set(factors) <= {"family", "language"}:
            slopes[(factors.get("family"), factors.get("language"))] = (estimate, low, high)
    return slopes


def _slope_for(slopes: dict, family: str, language: str) -> tuple[float, float, float] | None:
    for key in ((family, language), (None, language), (family, None), (None, None)):
        if key in slopes:
            return slopes[key]
    return None
