# ruff: noqa: RUF001, RUF002 -- labels use Greek letters, minus signs and dashes on purpose
"""Figures of the study's result tables.

Each function takes the frames the workflow writes and returns a matplotlib Figure on the Agg canvas
(no pyplot state, no display needed). Nothing is re-estimated: a figure shows the tables' numbers,
averaged over seeds where it says so; the one statistic computed here is the heatmap's correlations
between survey populations.

Layouts put categories (models, populations, terms) on the y axis, where long names need no rotation,
and wrap per-language panels in rows of four, so that 20 models x 10 languages stay legible.
"""

import itertools
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import EngFormatter, MaxNLocator, PercentFormatter, StrMethodFormatter
from matplotlib.transforms import ScaledTranslation
from scipy import stats

# Okabe & Ito's colours, distinguishable under the common colour-vision deficiencies (their yellow is
# left out: too faint on white). Beyond seven categories the marker changes too.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
MARKERS = ("o", "s", "D", "^", "v", "P", "X")
NEUTRAL = "#7F7F7F"
PANEL_COLUMNS = 4
LEVELS = ("country", "language", "global")
SIMULATED_BANNER = "SIMULATED RESPONDENTS · SYNTHETIC SURVEY — not real models or real survey data"
SEED_CI = "point: mean over seeds; bar: seeds' mean 95% CI"
FILTERING_STATUSES = {
    "kept": ("kept", "#0072B2"),
    "wrong_language": ("wrong language", "#E69F00"),
    "malformed": ("malformed (no numbered list)", "#CC79A7"),
    "error": ("failed (backend error)", "#D55E00"),
    "unjudged": ("unjudged (no usable judge labels)", NEUTRAL),
}


def population_correlation_figure(ground_truth: pl.DataFrame, *, title: str | None = None) -> Figure:
    """Heatmap of Spearman correlations of item polarity between every two survey populations, over
    the items both have. `ground_truth`: level, group, item, pro_score."""
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
    figure = _figure(cell * count + 2.6, cell * count + 1.8)
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
    levels = [_level_of(label) for label in labels]
    for boundary in (index for index in range(1, count) if levels[index] != levels[index - 1]):
        axes.axhline(boundary - 0.5, color="white", linewidth=2.5)
        axes.axvline(boundary - 0.5, color="white", linewidth=2.5)
    colourbar = figure.colorbar(image, ax=axes, shrink=min(1.0, 4 / (cell * count)) if count else 1.0)
    colourbar.set_label("Spearman ρ of item polarity\n(over the items both populations have)")
    figure.suptitle(title or "Item polarity: agreement between survey populations")
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
    models, languages = _order(consistency, "model"), _order(consistency, "language")
    countries = survey_consistency.filter(pl.col("level") == "country")["consistency"].drop_nulls()
    own = dict(survey_consistency.filter(pl.col("level") == "language").select("group", "consistency").rows())

    figure, panels = _panel_grid(len(languages), (3.4, _category_height(models)), sharey=True)
    band_label = "survey populations (country level, min–max)"
    own_label = "survey: respondents interviewed in the panel's language"
    for axes, language in zip(panels, languages, strict=True):
        if countries.len():
            axes.axvspan(countries.min(), countries.max(), color=NEUTRAL, alpha=0.25, label=band_label)
        if language in own:
            axes.axvline(own[language], color="#000000", linestyle="--", linewidth=1, label=own_label)
        rows = means.filter(pl.col("language") == language)
        positions = _positions(rows["model"], models)
        _interval_marks(
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
        _category_axis(axes, models)
        axes.set_title(language)
        axes.set_xlabel("self-consistency (Pearson r across items\nof two responses to different prompts)")
        axes.grid(axis="x", alpha=0.3)
    _first_column_label(panels, "model")
    _same_limits(panels, "x", include=(0.0, 1.0))
    if survey_consistency.is_empty():
        # An aggregated ground truth without survey.ceiling: no band to draw, and the legend says so.
        panels[0].plot([], [], linestyle="none", label="survey ceiling unavailable (aggregated ground truth)")
    handles, labels = _unique_legend(panels)
    sampling = "mean over seeds; bar: 95% sampling interval"
    labels = [f"{label} ({sampling})" if label == "measured" else label for label in labels]
    figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8)
    figure.suptitle(title or "Self-consistency across prompt paraphrases, per language")
    return figure


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
    families, languages = _order(residuals, "family"), _order(residuals, "language")
    figure, panels = _panel_grid(len(languages), (3.6, 3.5 + 0.15 * len(families)))
    for axes, language in zip(panels, languages, strict=True):
        runs = residuals.filter(pl.col("language") == language)
        panel_lines = []
        for index, family in enumerate(families):
            points = runs.filter(pl.col("family") == family)
            if points.is_empty():
                continue
            colour, marker = _style(index)
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
    _first_column_label(panels, "alignment with the language's\nown population (Spearman ρ)")
    _same_limits(panels, "x")
    _same_limits(panels, "y")
    handles = [
        Line2D([], [], color=_style(index)[0], marker=_style(index)[1], linestyle="none", label=family)
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
    terms = _order(coefficients, "term")
    engines = _order(coefficients, "engine") if "engine" in coefficients.columns else [None]
    spread = 0.36 if len(engines) > 1 else 0.0
    offsets = np.linspace(-spread / 2, spread / 2, len(engines))
    figure = _figure(8.0, (0.3 if len(engines) == 1 else 0.42) * len(terms) + 1.8)
    axes = figure.add_subplot()
    axes.axvline(0, color=NEUTRAL, linestyle="--", linewidth=1)
    for index, (engine, offset) in enumerate(zip(engines, offsets, strict=True)):
        rows = coefficients if engine is None else coefficients.filter(pl.col("engine") == engine)
        colour, marker = _style(index)
        _interval_marks(
            axes,
            _positions(rows["term"], terms) + offset,
            rows["estimate"],
            rows["ci_low"],
            rows["ci_high"],
            colour=colour,
            marker=marker,
            label=engine or "estimate",
        )
    _category_axis(axes, terms, wrap=False)
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
    models = list(dict.fromkeys([*_order(totals, "model"), *_order(per_model, "model")]))
    languages = list(dict.fromkeys([*_order(totals, "language"), *_order(per_model, "language")]))
    references = [model for model in models if model not in set(per_model["model"])]

    # The reference panel follows the languages in the first row, or opens a row of its own: below a
    # language panel its long term labels would push that whole column away from its neighbours.
    reference_slot = (
        len(languages)
        if len(languages) < PANEL_COLUMNS
        else math.ceil(len(languages) / PANEL_COLUMNS) * PANEL_COLUMNS
    )
    height = max(_category_height(models), _category_height(reference_terms["term"], wrap=False))
    figure, panels = _panel_grid(
        reference_slot + 1 if reference_terms.height else len(languages), (3.4, height)
    )
    for unused in panels[len(languages) : reference_slot]:
        unused.remove()
    total_label = "total US − native (mean over seeds, 95% CI over resampled responses)"
    term_label = "OLS term us:model:language — US lean against the uniform null (95% CI over seeds)"
    for index, (axes, language) in enumerate(zip(panels[: len(languages)], languages, strict=True)):
        axes.axvline(0, color=NEUTRAL, linestyle="--", linewidth=1)
        rows = totals.filter((pl.col("language") == language) & pl.col("ci_low").is_not_null())
        _interval_marks(
            axes,
            _positions(rows["model"], models) - 0.15,
            rows["us_minus_native"],
            rows["ci_low"],
            rows["ci_high"],
            colour=PALETTE[0],
            marker="o",
            label=total_label,
        )
        terms = per_model.filter((pl.col("language") == language) & pl.col("ci_low").is_not_null())
        _interval_marks(
            axes,
            _positions(terms["model"], models) + 0.15,
            terms["estimate"],
            terms["ci_low"],
            terms["ci_high"],
            colour=PALETTE[3],
            marker="s",
            label=term_label,
        )
        _category_axis(axes, models)
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
        _interval_marks(
            axes,
            range(len(names)),
            reference_terms["estimate"],
            reference_terms["ci_low"],
            reference_terms["ci_high"],
            colour=PALETTE[2],
            marker="D",
            label="reference model's US terms",
        )
        _category_axis(axes, names, wrap=False)
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
    _same_limits(panels, "x", include=(0.0,))
    handles, labels = _unique_legend(panels[: len(languages)])
    figure.legend(handles, labels, loc="outside lower center", ncols=1, fontsize=8)
    figure.suptitle(title or "RQ2: do models hold US values when speaking another language?")
    return figure


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
    chosen = chosen.with_columns(_population_label())
    means = _seed_means(
        chosen, ["model", "language", "level", "population"], ["spearman", "ci_low", "ci_high"]
    )
    models, languages = _order(chosen, "model"), _order(chosen, "language")
    available = _population_order(chosen)
    if populations is None:
        populations = available
    elif unknown := [population for population in populations if population not in available]:
        raise ValueError(f"alignment has no population {unknown}; populations present: {available}")
    means = means.filter(pl.col("population").is_in(list(populations)))
    levels = [_level_of(population) for population in populations]
    spread = 0.75 * (len(models) - 1) / len(models)
    offsets = dict(zip(models, np.linspace(-spread / 2, spread / 2, len(models)), strict=True))
    row_height = max(0.3, 0.075 * len(models) + 0.15)

    # Each panel keeps its own population labels: which ones are native (bold) differs by language.
    figure, panels = _panel_grid(len(languages), (3.8, row_height * len(populations) + 1.3))
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
            colour, marker = _style(index)
            _interval_marks(
                axes,
                _positions(rows["population"], populations) + offsets[model],
                rows["spearman"],
                rows["ci_low"],
                rows["ci_high"],
                colour=colour,
                marker=marker,
                label=model,
            )
        _category_axis(axes, list(populations), wrap=False)
        for tick, population in zip(axes.get_yticklabels(), populations, strict=True):
            tick.set_fontweight("bold" if population in native else "normal")
        axes.set_title(language)
        axes.set_xlabel(f"Spearman ρ with population ({unit} level)\n({SEED_CI})")
        axes.grid(axis="x", alpha=0.3)
    _first_column_label(panels, "survey population")
    _same_limits(panels, "x", include=(0.0,))
    handles = [
        Line2D([], [], color=_style(index)[0], marker=_style(index)[1], label=model)
        for index, model in enumerate(models)
    ]
    handles.append(Patch(color="#F0E442", alpha=0.3, label="native to the panel's language (bold)"))
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), fontsize=8)
    figure.suptitle(title or "Alignment of each model with country, language and global populations")
    return figure


def residual_diagnostics_figure(residuals: pl.DataFrame, title: str) -> Figure:
    """Residuals against fitted values and a normal Q–Q plot, from a frame with fitted and residual;
    one row of the two per engine where an `engine` column holds several."""
    engines = _order(residuals, "engine") if "engine" in residuals.columns else [None]
    figure = _figure(10.0, 3.8 * len(engines) + 0.6)
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


def filtering_figure(filtering: pl.DataFrame, *, title: str | None = None) -> Figure:
    """Shares of responses kept and filtered out per model and language (counts pooled over seeds).

    `filtering`: model, language, seed, responses and a count column per status (kept,
    wrong_language, malformed, error, unjudged)."""
    statuses = [status for status in FILTERING_STATUSES if status in filtering.columns]
    pooled = filtering.group_by("model", "language", maintain_order=True).agg(
        pl.col("responses", *statuses).sum()
    )
    models, languages = _order(filtering, "model"), _order(filtering, "language")
    figure, panels = _panel_grid(len(languages), (3.4, _category_height(models)), sharey=True)
    for axes, language in zip(panels, languages, strict=True):
        rows = pooled.filter((pl.col("language") == language) & (pl.col("responses") > 0))
        positions = _positions(rows["model"], models)
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
        _category_axis(axes, models)
        axes.set_xlim(0, 1)
        axes.xaxis.set_major_formatter(PercentFormatter(1.0))
        axes.set_title(language)
        axes.set_xlabel("share of responses (all seeds)")
    _first_column_label(panels, "model")
    handles, labels = _unique_legend(panels)
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
    models, languages = _order(fidelity, "model"), _order(fidelity, "language")
    offsets = np.linspace(-0.15, 0.15, len(measures)) if len(measures) > 1 else [0.0]
    figure, panels = _panel_grid(len(languages), (3.4, _category_height(models)), sharey=True)
    for axes, language in zip(panels, languages, strict=True):
        rows = fidelity.filter(pl.col("language") == language)
        for index, ((column, label), offset) in enumerate(zip(measures, offsets, strict=True)):
            colour, marker = _style(index)
            axes.plot(
                rows[column].cast(pl.Float64, strict=False),
                _positions(rows["model"], models) + offset,
                linestyle="none",
                marker=marker,
                color=colour,
                label=label,
            )
        _category_axis(axes, models)
        axes.xaxis.set_major_locator(MaxNLocator(5))
        axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.set_title(language)
        axes.set_xlabel("share of answered responses")
        axes.grid(axis="x", alpha=0.3)
    _first_column_label(panels, "model")
    # At least 80%..100%, so that a few percent of wrong-language answers do not fill the panel.
    _same_limits(panels, "x", include=(0.8, 1.0))
    handles, labels = _unique_legend(panels)
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
    figure = _figure(7.5, (0.55 if several_pairs else 0.4) * len(labels) + 2.0)
    axes = figure.add_subplot()
    positions = np.arange(len(labels), dtype=float)
    axes.axvline(0, color=NEUTRAL, linestyle="--", linewidth=1)
    _interval_marks(
        axes,
        positions - 0.15,
        rows["kappa"],
        rows["kappa_low"],
        rows["kappa_high"],
        colour=PALETTE[0],
        marker="o",
        label="Cohen's κ (bootstrap 95% CI)",
    )
    _interval_marks(
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
    _category_axis(axes, labels, wrap=False)
    axes.set_xlim(min(-0.05, *(value - 0.05 for value in rows["kappa_low"].drop_nulls())), 1.02)
    axes.set_xlabel("agreement between judges (κ, α: 0 = chance, 1 = perfect)")
    axes.set_ylabel("language (n = statements both judges labelled)")
    axes.grid(axis="x", alpha=0.3)
    figure.legend(loc="outside lower center", ncols=3, fontsize=8)
    pair = "" if several_pairs or not pairs else f": {pairs[0][0]} vs {pairs[0][1]}"
    figure.suptitle(title or f"Judge agreement per language{pair}")
    return figure


def cost_figure(
    ledger: pl.DataFrame, backends: Mapping[str, str] | None = None, *, title: str | None = None
) -> Figure:
    """The cost ledger per model, summed over stages, languages and seeds: prompt and completion
    tokens, dollars and seconds. Seconds of models whose backend (`backends`: model -> backend) is
    `vllm` are GPU-seconds and drawn apart."""
    backends = backends or {}
    totals = ledger.group_by("model", maintain_order=True).agg(
        pl.col("prompt_tokens", "completion_tokens").cast(pl.Int64, strict=False).fill_null(0).sum(),
        pl.col("cost_usd").cast(pl.Float64, strict=False).fill_null(0).sum(),
        pl.col("seconds").cast(pl.Float64, strict=False).fill_null(0).sum(),
    )
    models = totals["model"].to_list()
    positions = np.arange(len(models), dtype=float)
    figure = _figure(12.0, _category_height(models) + 0.6)
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
    simulated = np.array([backends.get(model) == "simulated" for model in models])
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

    gpu = np.array([backends.get(model) == "vllm" for model in models])
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

    _category_axis(tokens, models)
    tokens.set_ylabel("model")
    # Below the panels: inside, a legend would cover the last model's bars.
    handles, labels = _unique_legend([tokens, seconds] if gpu.any() else [tokens])
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8)
    figure.suptitle(title or "Cost ledger per model (all stages, languages and seeds)")
    return figure


SAFETY_MEASURE_LABELS = {
    "attack_success": "attack success (harmful prompts answered)",
    "over_refusal": "over-refusal (benign prompts refused)",
}


def safety_rates_figure(rates: pl.DataFrame, *, title: str | None = None) -> Figure:
    """Attack success and over-refusal per model (rows) and language (panels), one mark per attack
    and over all attacks, each with its interval (rates.parquet)."""
    measures = [measure for measure in SAFETY_MEASURE_LABELS if measure in set(rates["measure"])]
    languages, models = _order(rates, "language"), _order(rates, "model")
    attacks = _order(rates, "attack")
    offsets = np.linspace(-0.3, 0.3, len(attacks)) if len(attacks) > 1 else [0.0]
    figure, panels = _panel_grid(len(measures) * len(languages), (3.0, _category_height(models)), sharey=True)
    for position, (axes, (measure, language)) in enumerate(
        zip(panels, [(m, lang) for m in measures for lang in languages], strict=True)
    ):
        for index, (attack, offset) in enumerate(zip(attacks, offsets, strict=True)):
            rows = rates.filter(
                (pl.col("measure") == measure)
                & (pl.col("language") == language)
                & (pl.col("attack") == attack)
            )
            colour, marker = ("black", "D") if attack == "all" else _style(index)
            _interval_marks(
                axes,
                _positions(rows["model"], models) + offset,
                rows["rate"],
                rows["ci_low"],
                rows["ci_high"],
                colour=colour,
                marker=marker,
                label="all attacks" if attack == "all" else attack.replace("_", " "),
            )
        _category_axis(axes, models)
        axes.set_xlim(-0.02, 1.02)
        axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.set_title(f"{language}: {measure.replace('_', ' ')}", fontsize=9)
        axes.grid(axis="x", alpha=0.3)
        if position % PANEL_COLUMNS == 0:
            axes.set_ylabel("model")
    handles, labels = _unique_legend(panels)
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6), fontsize=8)
    figure.suptitle(title or "Safety: attack success and over-refusal per language, with 95% intervals")
    return figure


def safety_alignment_figure(
    pairs: pl.DataFrame, correlation: pl.DataFrame, *, reference: str = "en", title: str | None = None
) -> Figure:
    """Per (model, language): cultural alignment against attack success and against over-refusal,
    with the correlation across pairs (safety_alignment.csv); and each language's attack-success gap
    from the reference language with its CI."""
    models = _order(pairs, "model")
    languages = [language for language in _order(pairs, "language") if language != reference]
    figure = _figure(13.5, max(4.2, 0.28 * len(models) * max(len(languages), 1) + 1.8))
    scatter_success, scatter_over, gaps = figure.subplots(1, 3)
    rho = dict(
        zip(correlation["measure"], correlation.select("spearman", "ci_low", "ci_high").rows(), strict=True)
    )
    for axes, measure in ((scatter_success, "attack_success"), (scatter_over, "over_refusal")):
        for index, model in enumerate(models):
            rows = pairs.filter(pl.col("model") == model)
            colour, marker = _style(index)
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
            f"Spearman ρ = {value:.2f} [{low:.2f}, {high:.2f}] over {pairs.height} pairs", fontsize=9
        )
        axes.set_xlabel("alignment with the language's population (Spearman)")
        axes.set_ylabel(SAFETY_MEASURE_LABELS[measure])
        axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.grid(alpha=0.3)
    labels = [f"{model} · {language}" for model in models for language in languages]
    rows = pairs.filter(pl.col("language") != reference).with_columns(
        pl.format("{} · {}", pl.col("model"), pl.col("language")).alias("pair")
    )
    _interval_marks(
        gaps,
        _positions(rows["pair"], labels),
        rows["attack_success_gap"],
        rows["attack_success_gap_ci_low"],
        rows["attack_success_gap_ci_high"],
        colour=PALETTE[0],
        marker="o",
        label="attack-success gap",
    )
    _category_axis(gaps, labels, wrap=False)
    gaps.axvline(0, color=NEUTRAL, linewidth=1)
    gaps.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    gaps.set_xlabel(f"attack success minus {reference} (same prompts, paired)")
    gaps.grid(axis="x", alpha=0.3)
    handles, names = _unique_legend([scatter_success])
    figure.legend(handles, names, loc="outside lower center", ncols=min(len(names), 6), fontsize=8)
    figure.suptitle(
        title or "Is cultural fluency bought with safety? Alignment and safety per (model, language)"
    )
    return figure


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


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    # Side-by-side panels need a gap wider than the default, or "100%" runs into the next "0%".
    figure.get_layout_engine().set(wspace=0.06)
    FigureCanvasAgg(figure)
    return figure


def _panel_grid(
    count: int, panel_size: tuple[float, float], *, sharey: bool = False
) -> tuple[Figure, list[Axes]]:
    """`count` panels in rows of PANEL_COLUMNS; room below for a figure legend."""
    columns = max(1, min(PANEL_COLUMNS, count))
    rows = max(1, math.ceil(count / columns))
    width, height = panel_size
    figure = _figure(width * columns + 1.2, height * rows + 1.4)
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


def _category_height(labels: Sequence[str], *, wrap: bool = True) -> float:
    """Panel height for categories on the y axis, with room for the lines of wrapped names."""
    lines = max((_wrapped(label).count("\n") + 1 if wrap else 1 for label in labels), default=1)
    return (0.18 + 0.15 * lines) * len(labels) + 1.3


def _category_axis(axes: Axes, labels: Sequence[str], *, wrap: bool = True) -> None:
    """Categories top to bottom on the y axis; long names wrapped."""
    axes.set_yticks(range(len(labels)), [_wrapped(label) if wrap else label for label in labels])
    axes.set_ylim(len(labels) - 0.5, -0.5)


def _first_column_label(panels: Sequence[Axes], label: str) -> None:
    for index, axes in enumerate(panels):
        if index % PANEL_COLUMNS == 0:
            axes.set_ylabel(label)


def _interval_marks(
    axes: Axes, positions, centre, low, high, *, colour: str, marker: str, label: str
) -> None:
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


def _same_limits(panels: Sequence[Axes], axis: str, include: Sequence[float] = ()) -> None:
    limits = [getattr(axes, f"get_{axis}lim")() for axes in panels]
    low = min([low for low, _ in limits] + list(include), default=0)
    high = max([high for _, high in limits] + list(include), default=1)
    for axes in panels:
        getattr(axes, f"set_{axis}lim")(low, high)


def _unique_legend(panels: Sequence[Axes]) -> tuple[list, list[str]]:
    entries = {}
    for axes in panels:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    return list(entries.values()), list(entries)


def _style(index: int) -> tuple[str, str]:
    return PALETTE[index % len(PALETTE)], MARKERS[(index // len(PALETTE)) % len(MARKERS)]


def _order(frame: pl.DataFrame, column: str) -> list:
    return frame[column].drop_nulls().unique(maintain_order=True).to_list()


def _positions(values: pl.Series, categories: Sequence[str]) -> np.ndarray:
    index = {category: position for position, category in enumerate(categories)}
    return np.array([index[value] for value in values], dtype=float)


def _seed_means(frame: pl.DataFrame, keys: list[str], columns: list[str]) -> pl.DataFrame:
    return frame.group_by(keys, maintain_order=True).agg(
        pl.col(column).cast(pl.Float64).fill_nan(None).mean() for column in columns
    )


def _population_label() -> pl.Expr:
    """How a survey population is named in figures: `US`, `lang:da`, `global`."""
    return (
        pl.when(pl.col("level") == "language")
        .then(pl.lit("lang:") + pl.col("group"))
        .when(pl.col("level") == "global")
        .then(pl.lit("global"))
        .otherwise(pl.col("group"))
        .alias("population")
    )


def _level_of(label: str) -> str:
    return "global" if label == "global" else "language" if label.startswith("lang:") else "country"


def _population_order(frame: pl.DataFrame) -> list[str]:
    """Populations as labelled in figures: countries, then languages, then global, each in table order."""
    labels = frame["population"].unique(maintain_order=True).to_list()
    return sorted(labels, key=lambda label: LEVELS.index(_level_of(label)))


def _population_vectors(ground_truth: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """Population labels in display order and an items x populations matrix of pro scores (NaN where
    a population lacks an item)."""
    labelled = ground_truth.with_columns(_population_label())
    labels = _population_order(labelled)
    wide = labelled.pivot(on="population", index="item", values="pro_score")
    return labels, wide.select(labels).cast(pl.Float64).to_numpy()


def _capability_slopes(coefficients: pl.DataFrame, engine: str) -> dict:
    """(family or None, language or None) -> (estimate, ci_low, ci_high) of the capability terms. A
    factor with one level is dropped from the fitted formula, hence the None keys."""
    if "engine" in coefficients.columns:
        engines = _order(coefficients, "engine")
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
