# ruff: noqa: RUF001 -- the figures' labels use Greek letters, minus signs and dashes
import itertools
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from PIL import Image
from scipy import stats

from culturalign.report.figures.alignment import alignment_figure, self_consistency_figure
from culturalign.report.figures.cost import cost_figure
from culturalign.report.figures.drawing import drawn_figure, save_figure, stamp_banner, unavailable_figure
from culturalign.report.figures.quality import (
    filtering_figure,
    judge_agreement_figure,
    language_fidelity_figure,
)
from culturalign.report.figures.regression import (
    capability_alignment_figure,
    coefficient_figure,
    residual_diagnostics_figure,
    us_bias_figure,
)
from culturalign.report.figures.safety import safety_alignment_figure, safety_rates_figure
from culturalign.report.figures.survey import population_correlation_figure
from culturalign.report.notes import honesty_notes
from culturalign.report.registry import STUDY_FIGURES, entry_named


def marks(axes, label):
    """(positions, centres) of the points labelled `label` and their (low, high) bars, by position."""
    (points,) = [line for line in axes.get_lines() if line.get_label() == label]
    (bars,) = [c for c in axes.collections if isinstance(c, LineCollection) and c.get_gid() == f"ci: {label}"]
    intervals = {round(float(s[0][1]), 6): (float(s[0][0]), float(s[1][0])) for s in bars.get_segments()}
    return np.asarray(points.get_ydata(), float), np.asarray(points.get_xdata(), float), intervals


def panel(figure, title):
    (axes,) = [axes for axes in figure.axes if axes.get_title() == title]
    return axes


def tick_texts(labels):
    return [label.get_text() for label in labels]


def overlapping_labels(figure):
    """Pairs of drawn tick labels, over all panels of the figure, closer than two pixels."""
    figure.draw_without_rendering()
    boxes = []
    for axes in figure.axes:
        frame = axes.get_window_extent()
        for label in axes.get_xticklabels():
            box = label.get_window_extent()
            # a locator's ticks beyond the axis limits exist but are not drawn
            if label.get_text() and frame.x0 - 1 <= (box.x0 + box.x1) / 2 <= frame.x1 + 1:
                boxes.append((label.get_text(), box))
        for label in axes.get_yticklabels():
            box = label.get_window_extent()
            if label.get_text() and frame.y0 - 1 <= (box.y0 + box.y1) / 2 <= frame.y1 + 1:
                boxes.append((label.get_text(), box))
    return [
        (a, b)
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
        if box_a.padded(1).overlaps(box_b.padded(1))
    ]


def ground_truth_rows(populations):
    return pl.DataFrame(
        [
            (level, group, item, score, 100, 100.0)
            for (level, group), scores in populations.items()
            for item, score in scores.items()
        ],
        schema=["level", "group", "item", "pro_score", "n", "weight_sum"],
        orient="row",
    )


def test_heatmap_cells_are_spearman_correlations_over_the_items_both_populations_have():
    populations = {
        ("country", "US"): {"a": 0.1, "b": 0.5, "c": 0.3, "d": 0.9, "e": 0.7, "f": 0.2},
        ("country", "DK"): {"a": 0.2, "b": 0.4, "c": 0.1, "d": 0.8, "e": 0.95},  # no f
        ("country", "PT"): {"a": 0.3, "b": 0.6},  # too few items to correlate with anyone
        ("language", "da"): {"a": 0.9, "b": 0.1, "c": 0.5, "d": 0.3, "e": 0.2, "f": 0.6},
        ("global", "global"): {"a": 0.4, "b": 0.45, "c": 0.2, "d": 0.6, "e": 0.9, "f": 0.1},
    }
    figure = population_correlation_figure(ground_truth_rows(populations))
    axes = figure.axes[0]
    labels = ["US", "DK", "PT", "lang:da", "global"]
    assert tick_texts(axes.get_xticklabels()) == labels
    assert tick_texts(axes.get_yticklabels()) == labels
    cells = np.ma.filled(np.ma.asarray(axes.images[0].get_array(), dtype=float), np.nan)
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in axes.texts}
    vectors = list(populations.values())
    for i, j in itertools.product(range(len(labels)), repeat=2):
        shared = sorted(set(vectors[i]) & set(vectors[j]))
        if len(shared) < 3:
            assert np.isnan(cells[i, j]) and texts[(i, j)] == "–"
            continue
        expected = stats.spearmanr([vectors[i][k] for k in shared], [vectors[j][k] for k in shared]).statistic
        assert cells[i, j] == pytest.approx(expected)
        assert texts[(i, j)] == f"{expected:.2f}"
    assert cells[0, 3] < 0 < cells[0, 1]  # both signs occur, so the colour scale is tested on both sides
    image = axes.images[0]
    assert (image.norm.vmin, image.norm.vmax) == (-1, 1)
    assert np.allclose(image.cmap(0.5)[:3], (1, 1, 1), atol=0.05)  # white at rho = 0
    assert "Spearman ρ" in figure.axes[1].get_ylabel()


def consistency_frames():
    consistency = pl.DataFrame(
        {
            "model": ["a", "a", "b", "b"] * 2,
            "language": ["da"] * 4 + ["nl"] * 4,
            "seed": [0, 1] * 4,
            "consistency": [0.2, 0.4, 0.6, 0.7, 0.1, 0.3, 0.5, 0.9],
            "ci_low": [0.1, 0.2, 0.5, 0.6, 0.0, 0.2, 0.4, 0.8],
            "ci_high": [0.3, 0.5, 0.7, 0.8, 0.2, 0.4, 0.6, 1.0],
        }
    )
    survey = pl.DataFrame(
        {
            "level": ["country", "country", "country", "language", "global"],
            "group": ["US", "DK", "NL", "da", "global"],
            "consistency": [0.72, 0.81, 0.78, 0.95, 0.5],
        }
    )
    return consistency, survey


def test_self_consistency_shows_seed_means_with_mean_bounds_beside_the_survey_range():
    consistency, survey = consistency_frames()
    figure = self_consistency_figure(consistency, survey)
    da = panel(figure, "da")
    positions, centres, intervals = marks(da, "measured")
    assert positions.tolist() == [0, 1]
    assert centres == pytest.approx([0.3, 0.65])
    assert intervals[0] == pytest.approx((0.15, 0.4))
    assert intervals[1] == pytest.approx((0.55, 0.75))
    assert marks(panel(figure, "nl"), "measured")[1] == pytest.approx([0.2, 0.7])
    assert tick_texts(da.get_yticklabels()) == ["a", "b"]
    # the band spans the country-level populations only: not the language level (0.95) or global (0.5)
    (band,) = [patch for patch in da.patches if patch.get_label().startswith("survey populations")]
    assert (band.get_x(), band.get_x() + band.get_width()) == pytest.approx((0.72, 0.81))
    (own,) = [line for line in da.get_lines() if line.get_label().startswith("survey: respondents")]
    assert own.get_xdata()[0] == pytest.approx(0.95)
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert any("mean over seeds" in text and "95% sampling interval" in text for text in legend)
    assert "survey populations (country level, min–max)" in legend


def test_self_consistency_without_a_survey_ceiling_says_so():
    consistency, survey = consistency_frames()
    figure = self_consistency_figure(consistency, survey.clear())
    assert not panel(figure, "da").patches  # no band
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "survey ceiling unavailable (aggregated ground truth)" in legend


def test_self_consistency_adds_the_corrected_value_when_there_is_one():
    consistency, survey = consistency_frames()
    corrected = consistency.with_columns(consistency_corrected=pl.col("consistency") + 0.1)
    figure = self_consistency_figure(corrected, survey)
    (points,) = [line for line in panel(figure, "da").get_lines() if "corrected" in line.get_label()]
    assert list(points.get_xdata()) == pytest.approx([0.4, 0.75])
    plain = self_consistency_figure(consistency.with_columns(consistency_corrected=None), survey)
    assert not [line for line in plain.axes[0].get_lines() if "corrected" in line.get_label()]


def rq1_frames(term_family=True):
    rows = []
    for language, shift in (("da", 0.0), ("nl", 0.1)):
        for model, family, capability in (
            ("m1", "f1", 0.4),
            ("m2", "f1", 0.6),
            ("m3", "f2", 0.5),
            ("m4", "f2", 0.9),
        ):
            for seed in (0, 1):
                alignment = 0.3 + capability / 2 + shift + 0.02 * seed
                rows.append((model, family, language, seed, capability, 0.7, alignment, alignment, 0.0))
    residuals = pl.DataFrame(
        rows,
        schema=[
            "model",
            "family",
            "language",
            "seed",
            "capability",
            "consistency",
            "alignment",
            "fitted",
            "residual",
        ],
        orient="row",
    )
    terms = (
        [
            f"capability:family={family}:language={language}"
            for family in ("f1", "f2")
            for language in ("da", "nl")
        ]
        if term_family
        else ["capability:language=da", "capability:language=nl"]
    )
    estimates = {term: 0.2 + 0.3 * index for index, term in enumerate(terms)}
    estimates["consistency:language=da"] = 5.0  # not a capability slope: must not be drawn
    # statsmodels' estimates differ in sign, so a slope taken from the wrong engine shows
    coefficients = pl.DataFrame(
        [
            (term, value * sign, 0.1, value * sign - 0.2, value * sign + 0.2, 0.01, engine)
            for engine, sign in (("lme4", 1.0), ("statsmodels", -1.0))
            for term, value in estimates.items()
        ],
        schema=["term", "estimate", "std_error", "ci_low", "ci_high", "p_value", "engine"],
        orient="row",
    )
    return residuals, coefficients, estimates


def test_capability_panels_draw_the_lme4_slope_of_each_family_through_its_mean():
    residuals, coefficients, estimates = rq1_frames()
    figure = capability_alignment_figure(residuals, coefficients)
    assert [axes.get_title() for axes in figure.axes] == ["da", "nl"]
    for language in ("da", "nl"):
        axes = panel(figure, language)
        for family in ("f1", "f2"):
            (line,) = [line for line in axes.get_lines() if line.get_gid() == f"slope: {family}"]
            (x0, x1), (y0, y1) = line.get_xdata(), line.get_ydata()
            assert (y1 - y0) / (x1 - x0) == pytest.approx(
                estimates[f"capability:family={family}:language={language}"]
            )
            points = residuals.filter((pl.col("language") == language) & (pl.col("family") == family))
            centre = points["capability"].mean()
            assert y0 + (centre - x0) * (y1 - y0) / (x1 - x0) == pytest.approx(points["alignment"].mean())
        scattered = sum(len(collection.get_offsets()) for collection in axes.collections)
        assert scattered == 8
    assert {"f1", "f2"} <= {text.get_text() for text in figure.legends[0].get_texts()}


def test_capability_slopes_of_a_one_family_fit_and_a_missing_engine():
    residuals, coefficients, estimates = rq1_frames(term_family=False)
    figure = capability_alignment_figure(residuals, coefficients)
    (line,) = [line for line in panel(figure, "nl").get_lines() if line.get_gid() == "slope: f2"]
    (x0, x1), (y0, y1) = line.get_xdata(), line.get_ydata()
    assert (y1 - y0) / (x1 - x0) == pytest.approx(estimates["capability:language=nl"])
    one_language = capability_alignment_figure(residuals.filter(pl.col("language") == "da"), coefficients)
    assert [axes.get_title() for axes in one_language.axes] == ["da"]
    with pytest.raises(ValueError, match="no 'R' coefficients; engines present: \\['lme4', 'statsmodels'\\]"):
        capability_alignment_figure(residuals, coefficients, engine="R")


def coefficient_table():
    return pl.DataFrame(
        {
            "term": ["consistency:language=da", "capability:language=da"] * 2,
            "estimate": [0.5, -0.2, 0.45, -0.25],
            "std_error": [0.1] * 4,
            "ci_low": [0.3, -0.4, 0.2, -0.5],
            "ci_high": [0.7, 0.1, 0.7, 0.05],
            "p_value": [0.01] * 4,
            "engine": ["lme4", "lme4", "statsmodels", "statsmodels"],
        }
    )


def test_forest_plot_has_one_bar_per_term_and_engine_with_its_centre_and_bounds():
    table = coefficient_table()
    figure = coefficient_figure(table, title="RQ1")
    axes = figure.axes[0]
    assert tick_texts(axes.get_yticklabels()) == ["consistency:language=da", "capability:language=da"]
    rows = {}
    for engine in ("lme4", "statsmodels"):
        positions, centres, intervals = marks(axes, engine)
        assert len(intervals) == 2
        rows[engine] = positions
        expected = table.filter(pl.col("engine") == engine)
        assert centres == pytest.approx(expected["estimate"].to_list())
        assert [intervals[round(p, 6)] for p in positions] == pytest.approx(
            list(zip(expected["ci_low"], expected["ci_high"], strict=True))
        )
        assert np.abs(positions - [0, 1]).max() < 0.5  # each engine's mark stays in its term's row
    assert not np.allclose(rows["lme4"], rows["statsmodels"])
    assert any(list(line.get_xdata()) == [0, 0] for line in axes.get_lines())
    assert figure.get_suptitle() == "RQ1"
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["lme4", "statsmodels"]


def test_us_bias_figure_shows_totals_and_us_terms_per_language_and_the_reference_terms_apart():
    coefficients = pl.DataFrame(
        {
            "term": [
                "Intercept",
                "us",
                "us:language=T.nl",
                "model=m:language=da",
                "us:model=m:language=da",
                "us:model=m:language=nl",
            ],
            "estimate": [0.91, -0.1, 0.15, 0.77, 0.3, -0.2],
            "std_error": [0.05] * 6,
            "ci_low": [0.1, -0.2, 0.0, 0.6, 0.1, -0.35],
            "ci_high": [0.3, 0.0, 0.3, 0.8, 0.5, -0.05],
            "p_value": [0.01] * 6,
            "engine": ["statsmodels-ols"] * 6,
        }
    )
    totals = pl.DataFrame(
        {
            "model": ["ref", "ref", "m", "m"],
            "language": ["da", "nl", "da", "nl"],
            "us_minus_native": [-0.1, 0.05, 0.2, -0.15],
            "ci_low": [-0.2, -0.05, 0.1, -0.25],
            "ci_high": [0.0, 0.15, 0.3, -0.05],
            "seeds": [3] * 4,
        }
    )
    figure = us_bias_figure(coefficients, totals)
    total_label = "total US − native (mean over seeds, 95% CI over resampled responses)"
    term_label = "OLS term us:model:language — US lean against the uniform null (95% CI over seeds)"
    da = panel(figure, "da")
    assert da.yaxis.get_major_formatter().format_ticks(da.get_yticks()) == ["ref", "m"]  # shown in column 1
    positions, centres, intervals = marks(da, total_label)
    assert centres == pytest.approx([-0.1, 0.2])
    assert [intervals[round(p, 6)] for p in positions] == pytest.approx([(-0.2, 0.0), (0.1, 0.3)])
    positions, centres, intervals = marks(panel(figure, "nl"), term_label)
    assert centres == pytest.approx([-0.2]) and abs(positions[0] - 1) < 0.5  # m's row
    assert intervals[round(positions[0], 6)] == pytest.approx((-0.35, -0.05))
    (reference,) = [axes for axes in figure.axes if axes.get_title().startswith("reference model: ref")]
    assert tick_texts(reference.get_yticklabels()) == ["us", "us:language=T.nl"]
    assert "us: in da" in reference.get_title()
    assert marks(reference, "reference model's US terms")[1] == pytest.approx([-0.1, 0.15])
    plotted = {
        round(float(x), 6) for axes in figure.axes for line in axes.get_lines() for x in line.get_xdata()
    }
    assert not {0.91, 0.77} & plotted  # neither the intercept nor a term without `us`


def test_us_bias_reference_panel_opens_its_own_row_below_many_languages():
    languages = ["da", "nl", "pt", "de", "fr"]
    coefficients = pl.DataFrame(
        {
            "term": ["us", *(f"us:language=T.{language}" for language in languages[1:])],
            "estimate": [0.1] * 5,
            "std_error": [0.05] * 5,
            "ci_low": [0.0] * 5,
            "ci_high": [0.2] * 5,
            "p_value": [0.1] * 5,
        }
    )
    totals = pl.DataFrame(
        {"model": ["ref"] * 5, "language": languages, "us_minus_native": [0.1] * 5, "ci_low": [0.0] * 5}
    ).with_columns(ci_high=pl.lit(0.2))
    figure = us_bias_figure(coefficients, totals)
    assert len(figure.axes) == 6
    figure.draw_without_rendering()
    boxes = {axes.get_title().split("\n")[0]: axes.get_position() for axes in figure.axes}
    reference = boxes.pop("reference model: ref, US terms")
    assert reference.x0 == pytest.approx(boxes["da"].x0)  # first column
    assert reference.y1 < min(box.y0 for box in boxes.values())  # below every language
    assert [axes.get_ylabel() for axes in figure.axes[:5]] == ["model", "", "", "", "model"]


def alignment_table():
    rows = []
    for model, offset in (("a", 0.0), ("b", 0.3)):
        for language in ("da", "nl"):
            for seed in (0, 1):
                for level, group in (
                    ("country", "US"),
                    ("country", "DK"),
                    ("country", "NL"),
                    ("language", "da"),
                    ("language", "nl"),
                    ("global", "global"),
                ):
                    value = offset + 0.1 * seed + (0.2 if group.lower() == language else 0.0)
                    for unit, shift in (("topic", 0.0), ("response", -0.5)):
                        rho = value + shift
                        rows.append(
                            ("m", model, language, seed, level, group, unit, rho, rho - 0.1, rho + 0.2, 32)
                        )
    return pl.DataFrame(
        rows,
        schema=[
            "family",
            "model",
            "language",
            "seed",
            "level",
            "group",
            "unit",
            "spearman",
            "ci_low",
            "ci_high",
            "n",
        ],
        orient="row",
    ).select("model", "family", pl.exclude("model", "family"))


def test_alignment_panels_per_language_average_seeds_for_the_chosen_unit_and_mark_natives():
    figure = alignment_figure(alignment_table(), native_countries={"da": ["DK"]})
    assert [axes.get_title() for axes in figure.axes] == ["da", "nl"]
    da, nl = panel(figure, "da"), panel(figure, "nl")
    populations = ["US", "DK", "NL", "lang:da", "lang:nl", "global"]
    assert tick_texts(da.get_yticklabels()) == populations
    positions, centres, intervals = marks(da, "b")
    assert np.round(positions).tolist() == list(range(6))
    # topic unit, mean over seeds 0 and 1 (+0.05), +0.2 for the populations named like the language
    assert centres == pytest.approx([0.35, 0.35, 0.35, 0.55, 0.35, 0.35])
    assert intervals[round(positions[0], 6)] == pytest.approx((0.25, 0.55))
    assert marks(nl, "a")[1] == pytest.approx([0.05, 0.05, 0.25, 0.05, 0.25, 0.05])
    bold = {label.get_text() for label in da.get_yticklabels() if label.get_fontweight() == "bold"}
    assert bold == {"DK", "lang:da"}
    assert {label.get_text() for label in nl.get_yticklabels() if label.get_fontweight() == "bold"} == {
        "lang:nl"
    }
    assert "mean over seeds" in da.get_xlabel() and "seeds' mean 95% CI" in da.get_xlabel()

    responses = alignment_figure(alignment_table(), unit="response")
    assert marks(panel(responses, "da"), "a")[1][0] == pytest.approx(-0.45)
    # without a language -> countries map only the language's own population is native
    bold = {
        label.get_text()
        for label in panel(responses, "da").get_yticklabels()
        if label.get_fontweight() == "bold"
    }
    assert bold == {"lang:da"}
    with pytest.raises(
        ValueError, match="no rows with unit 'item'; units present: \\['response', 'topic'\\]"
    ):
        alignment_figure(alignment_table(), unit="item")


def test_alignment_shows_the_chosen_populations_in_the_chosen_order():
    figure = alignment_figure(alignment_table(), populations=["global", "NL", "US"])
    axes = panel(figure, "nl")
    assert tick_texts(axes.get_yticklabels()) == ["global", "NL", "US"]
    positions, centres, _ = marks(axes, "b")
    by_row = dict(zip(np.round(positions).astype(int).tolist(), centres.tolist(), strict=True))
    assert by_row == {0: pytest.approx(0.35), 1: pytest.approx(0.55), 2: pytest.approx(0.35)}
    with pytest.raises(ValueError, match=r"no population \['SE'\]; populations present: \['US', 'DK'"):
        alignment_figure(alignment_table(), populations=["US", "SE"])


def test_residual_diagnostics_plot_residuals_against_fitted_and_normal_quantiles():
    residuals = pl.DataFrame({"fitted": [0.1, 0.4, 0.3, 0.8, 0.5], "residual": [0.05, -0.1, 0.2, 0.0, -0.02]})
    figure = residual_diagnostics_figure(residuals, "RQ2 residuals")
    spread, quantiles = figure.axes
    assert figure.get_suptitle() == "RQ2 residuals"
    assert np.asarray(spread.collections[0].get_offsets()) == pytest.approx(
        residuals.select("fitted", "residual").to_numpy()
    )
    points = np.asarray(quantiles.collections[0].get_offsets())
    expected_x = stats.norm.ppf((np.arange(1, 6) - 0.5) / 5)
    assert points[:, 0] == pytest.approx(expected_x)
    assert points[:, 1] == pytest.approx([-0.1, -0.02, 0.0, 0.05, 0.2])
    (reference,) = [line for line in quantiles.get_lines() if "normal with" in line.get_label()]
    (x0, x1), (y0, y1) = reference.get_xdata(), reference.get_ydata()
    residual = residuals["residual"].to_numpy()
    assert (y1 - y0) / (x1 - x0) == pytest.approx(residual.std(ddof=1))
    assert y0 - x0 * (y1 - y0) / (x1 - x0) == pytest.approx(residual.mean())
    for axes in figure.axes:
        assert axes.get_xlabel() and axes.get_ylabel()

    both = residual_diagnostics_figure(
        pl.concat([residuals.with_columns(engine=pl.lit(name)) for name in ("lme4", "statsmodels")]), "RQ1"
    )
    assert [axes.get_title() for axes in both.axes] == [
        "lme4: residuals against fitted values (n = 5)",
        "lme4: normal Q–Q plot",
        "statsmodels: residuals against fitted values (n = 5)",
        "statsmodels: normal Q–Q plot",
    ]


def test_filtering_bars_stack_the_shares_pooled_over_seeds():
    filtering = pl.DataFrame(
        {
            "model": ["a", "a", "b"],
            "language": ["da", "da", "da"],
            "seed": [0, 1, 0],
            "responses": [10, 30, 20],
            "kept": [8, 30, 10],
            "wrong_language": [1, 0, 5],
            "malformed": [1, 0, 4],
            "error": [0, 0, 1],
            "unjudged": [0, 0, 0],
        }
    )
    figure = filtering_figure(filtering)
    axes = panel(figure, "da")
    bars = {
        status: sorted(
            (patch.get_y(), patch.get_x(), patch.get_width())
            for patch in axes.patches
            if patch.get_gid() == status
        )
        for status in ("kept", "wrong_language", "malformed", "error", "unjudged")
    }
    assert [width for _, _, width in bars["kept"]] == pytest.approx([38 / 40, 10 / 20])
    assert [width for _, _, width in bars["wrong_language"]] == pytest.approx([1 / 40, 5 / 20])
    assert [left for _, left, _ in bars["wrong_language"]] == pytest.approx([38 / 40, 10 / 20])
    assert [left + width for _, left, width in bars["unjudged"]] == pytest.approx([1.0, 1.0])
    assert [width for _, _, width in bars["error"]] == pytest.approx([0.0, 1 / 20])
    assert "share of responses" in axes.get_xlabel()
    assert [text.get_text() for text in figure.legends[0].get_texts()][:2] == ["kept", "wrong language"]


def test_language_fidelity_points_are_the_table_shares():
    fidelity = pl.DataFrame(
        {
            "model": ["a", "b"],
            "language": ["pt", "pt"],
            "responses": [900, 900],
            "in_prompted_language": [0.9, 1.0],
            "list_format": [0.95, 0.5],
            "judge_identifier_disagreement": [None, None],
        }
    )
    figure = language_fidelity_figure(fidelity)
    axes = panel(figure, "pt")
    labels = [line.get_label() for line in axes.get_lines()]
    assert labels == ["written in the prompted language", "in the numbered-list format"]  # no empty measure
    assert list(axes.get_lines()[1].get_xdata()) == pytest.approx([0.95, 0.5])
    assert axes.get_xlim()[0] <= 0.5 and axes.get_xlim()[1] >= 1.0


def test_judge_agreement_shows_kappa_and_alpha_with_their_intervals_per_language():
    agreement = pl.DataFrame(
        {
            "language": ["nl", "da"],
            "judge_a": ["j1", "j1"],
            "judge_b": ["j2", "j2"],
            "n": [120, 80],
            "missing": [0, 2],
            "agreement": [0.9, 0.95],
            "kappa": [0.7, None],
            "kappa_low": [0.6, None],
            "kappa_high": [0.8, None],
            "alpha": [0.69, None],
            "alpha_low": [0.58, None],
            "alpha_high": [0.79, None],
        }
    )
    figure = judge_agreement_figure(agreement)
    axes = figure.axes[0]
    assert tick_texts(axes.get_yticklabels()) == ["da (n = 80)", "nl (n = 120)"]
    positions, centres, intervals = marks(axes, "Cohen's κ (bootstrap 95% CI)")
    assert np.isnan(centres[0]) and centres[1] == pytest.approx(0.7)
    assert list(intervals.values()) == [pytest.approx((0.6, 0.8))] and abs(positions[1] - 1) < 0.5
    assert marks(axes, "Krippendorff's α (bootstrap 95% CI)")[2] == {
        round(positions[1] + 0.3, 6): pytest.approx((0.58, 0.79))
    }
    assert any("undefined" in text.get_text() for text in axes.texts)
    assert figure.get_suptitle() == "Judge agreement per language: j1 vs j2"


def ledger_table():
    return pl.DataFrame(
        {
            "stage": ["generate", "generate", "judge", "generate", "generate"],
            "model": ["gpt", "gpt", "gpt", "sim", "gemma"],
            "language": ["da", "nl", "da", "da", "da"],
            "seed": [0, 0, 0, 0, 0],
            "requests": [10, 10, 5, 10, 10],
            "cached": [0, 0, 0, 0, 0],
            "prompt_tokens": [1000, 500, 200, 0, 3000],
            "completion_tokens": [4000, 2000, 100, 0, 9000],
            "cost_usd": ["0.5", "0.25", "0.01", None, None],
            "seconds": [10.0, 5.0, 1.0, 0.02, 600.0],
        }
    )


def test_cost_ledger_sums_per_model_and_says_what_zero_means():
    figure = cost_figure(ledger_table(), simulated_models={"sim"}, gpu_models={"gemma"})
    tokens, dollars, seconds = figure.axes
    assert tick_texts(tokens.get_yticklabels()) == ["gpt", "sim", "gemma"]

    def widths(axes, gid=None):
        return {
            round(p.get_y() + p.get_height() / 2): p
            for p in axes.patches
            if gid is None or p.get_gid() == gid
        }

    prompt, completion = widths(tokens, "prompt_tokens"), widths(tokens, "completion_tokens")
    assert [prompt[row].get_width() for row in range(3)] == [1700, 0, 3000]
    assert [completion[row].get_x() for row in range(3)] == [1700, 0, 3000]
    assert [completion[row].get_width() for row in range(3)] == [6100, 0, 9000]
    assert widths(dollars)[0].get_width() == pytest.approx(0.76)
    notes = {round(text.get_position()[1]): text.get_text() for text in dollars.texts}
    assert notes == {1: "no paid calls", 2: "no paid calls"}
    assert {round(text.get_position()[1]): text.get_text() for text in tokens.texts} == {
        1: "no tokens (simulated)"
    }
    gpu = [
        (round(p.get_y() + p.get_height() / 2), p.get_width())
        for p in seconds.patches
        if p.get_gid() == "gpu"
    ]
    assert gpu == [(2, 600.0)]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["prompt", "completion", "wall-clock seconds", "GPU-seconds (vLLM)"]
    assert "GPU-seconds" in seconds.get_xlabel()
    for axes in figure.axes:
        assert axes.get_xlabel()

    simulated_only = cost_figure(ledger_table().filter(pl.col("model") == "sim"))
    assert simulated_only.axes[2].get_xlabel() == "seconds (wall clock)"
    assert [text.get_text() for text in simulated_only.axes[1].texts] == ["no paid calls"]
    assert simulated_only.axes[1].get_xlim() == (0, 1)


def test_banner_sits_above_the_title_and_every_panel_and_keeps_the_legend_in_view():
    figure = self_consistency_figure(*consistency_frames())
    width, height = figure.get_size_inches()
    figure.draw_without_rendering()
    panel_sizes = [axes.get_window_extent().size / figure.dpi for axes in figure.axes]
    stamp_banner(figure, "SIMULATED — not real data")
    figure.draw_without_rendering()
    (banner,) = [text for text in figure.texts if text.get_gid() == "banner-text"]
    (band,) = [artist for artist in figure.artists if artist.get_gid() == "banner-band"]
    assert banner.get_text() == "SIMULATED — not real data"
    assert figure.get_size_inches()[0] == width and figure.get_size_inches()[1] > height
    band_box = band.get_window_extent()
    assert band_box.x0 == pytest.approx(0) and band_box.x1 == pytest.approx(figure.bbox.x1)
    red, green, blue = to_rgb(band.get_facecolor())
    assert red > 0.6 and green < 0.35 and blue < 0.35
    (title,) = [text for text in figure.texts if text.get_text() == figure.get_suptitle()]
    title_box = title.get_window_extent()
    assert band_box.y0 >= title_box.y1
    for axes, size in zip(figure.axes, panel_sizes, strict=True):
        assert axes.get_tightbbox().y1 <= band_box.y0
        assert axes.get_window_extent().size / figure.dpi == pytest.approx(size, abs=0.02)
    legend_box = figure.legends[0].get_window_extent()
    assert figure.bbox.x0 <= legend_box.x0 and legend_box.x1 <= figure.bbox.x1 and legend_box.y0 >= 0


def test_banner_keeps_a_legend_anchored_at_the_top_of_the_figure_below_the_band():
    figure = Figure(layout="constrained")
    figure.add_subplot().plot([0, 1], label="a line")
    figure.legend(loc="outside right upper")
    stamp_banner(figure)
    figure.draw_without_rendering()
    (band,) = figure.artists
    legend_box = figure.legends[0].get_window_extent()
    assert legend_box.y1 <= band.get_window_extent().y0
    assert legend_box.y1 == pytest.approx(figure.axes[0].get_window_extent().y1, abs=10)


def test_banner_wraps_to_the_width_of_a_narrow_figure():
    figure = coefficient_figure(coefficient_table())
    figure.set_size_inches(3, 3)
    stamp_banner(figure)
    (banner,) = [text for text in figure.texts if text.get_gid() == "banner-text"]
    assert "\n" in banner.get_text()
    assert banner.get_window_extent().width <= figure.bbox.width


def test_save_writes_a_png_at_the_requested_resolution_and_closes_the_figure(tmp_path):
    from matplotlib import pyplot

    made_by_pyplot = pyplot.figure()
    made_by_pyplot.add_subplot().plot([0, 1])
    path = save_figure(made_by_pyplot, tmp_path / "nested" / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(path).info["dpi"] == pytest.approx((110, 110), abs=0.1)
    assert made_by_pyplot.number not in pyplot.get_fignums()


def study(models, languages):
    """Frames of a study of `models` x `languages` with two seeds."""
    consistency = pl.DataFrame(
        [
            (model, language, seed, 0.5, 0.4, 0.6)
            for model in models
            for language in languages
            for seed in (0, 1)
        ],
        schema=["model", "language", "seed", "consistency", "ci_low", "ci_high"],
        orient="row",
    )
    filtering = pl.DataFrame(
        [
            (model, language, seed, 100, 90, 5, 3, 1, 1)
            for model in models
            for language in languages
            for seed in (0, 1)
        ],
        schema=[
            "model",
            "language",
            "seed",
            "responses",
            "kept",
            "wrong_language",
            "malformed",
            "error",
            "unjudged",
        ],
        orient="row",
    )
    ledger = pl.DataFrame(
        [("generate", model, "da", 0, 10, 0, 10**6, 3 * 10**6, "12.5", 3600.0) for model in models],
        schema=[
            "stage",
            "model",
            "language",
            "seed",
            "requests",
            "cached",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "seconds",
        ],
        orient="row",
    )
    return consistency, filtering, ledger


def test_a_large_study_wraps_panels_in_rows_of_four_and_no_tick_labels_overlap():
    models = [f"meta-llama-3.1-{size}b-instruct-quantised-awq" for size in range(20)]
    languages = ["en", "da", "nl", "pt", "de", "fr", "es", "it", "sv", "fi"]
    consistency, filtering, ledger = study(models, languages)
    survey = consistency_frames()[1]
    small = self_consistency_figure(study(models[:4], languages[:4])[0], survey)
    for figure in (
        self_consistency_figure(consistency, survey),
        filtering_figure(filtering),
        cost_figure(ledger, gpu_models=models),
    ):
        assert overlapping_labels(figure) == []
    large = self_consistency_figure(consistency, survey)
    assert len(large.axes) == 10
    assert len({round(axes.get_position().x0, 3) for axes in large.axes}) == 4
    assert len({round(axes.get_position().y0, 3) for axes in large.axes}) == 3
    assert large.get_size_inches()[1] > 2 * small.get_size_inches()[1]


def safety_tables():
    rows = []
    for model, language, attack in itertools.product(
        ("m1", "m2"), ("en", "da"), ("none", "role_play", "all")
    ):
        base = 0.2 if model == "m1" else 0.6
        rate = base + (0.1 if language == "da" else 0.0) + (0.2 if attack == "role_play" else 0.0)
        rows.append((model, language, attack, "attack_success", rate, rate - 0.1, rate + 0.1, 45))
        rows.append((model, language, attack, "over_refusal", rate / 4, 0.0, rate / 2, 45))
    rates = pl.DataFrame(
        rows,
        schema=["model", "language", "attack", "measure", "rate", "ci_low", "ci_high", "n"],
        orient="row",
    )
    pairs = pl.DataFrame(
        {
            "model": ["m1", "m1", "m2", "m2"],
            "language": ["da", "en", "da", "en"],
            "alignment": [0.9, 0.8, 0.1, 0.2],
            **{
                f"{m}{suffix}": [0.3, 0.2, 0.7, 0.6]
                for m in ("attack_success", "over_refusal")
                for suffix in ("", "_ci_low", "_ci_high")
            },
            "attack_success_gap": [0.1, None, 0.1, None],
            "attack_success_gap_ci_low": [0.02, None, -0.05, None],
            "attack_success_gap_ci_high": [0.18, None, 0.25, None],
        }
    )
    correlation = pl.DataFrame(
        {
            "measure": ["attack_success", "over_refusal"],
            "spearman": [-0.8, -0.4],
            "ci_low": [-1.0, -0.9],
            "ci_high": [-0.2, 0.5],
            "n": [4, 4],
        }
    )
    return rates, pairs, correlation


def test_safety_rates_show_each_attack_and_all_attacks_with_their_intervals():
    rates, _, _ = safety_tables()
    figure = safety_rates_figure(rates)
    axes = panel(figure, "da: attack success")
    positions, centres, intervals = marks(axes, "role play")
    # models top to bottom: m1 then m2, each shifted by the attack's offset
    assert centres.tolist() == pytest.approx([0.5, 0.9])
    assert [intervals[round(y, 6)] for y in positions] == [
        pytest.approx((0.4, 0.6)),
        pytest.approx((0.8, 1.0)),
    ]
    _, pooled, _ = marks(axes, "all attacks")
    assert pooled.tolist() == pytest.approx([0.3, 0.7])
    assert {a.get_title() for a in figure.axes} >= {
        "en: over refusal",
        "da: over refusal",
        "en: attack success",
    }


def test_safety_alignment_plots_pairs_the_correlation_and_the_gaps_from_english():
    _, pairs, correlation = safety_tables()
    figure = safety_alignment_figure(pairs, correlation)
    success, over, gaps = figure.axes[:3]
    assert success.get_title() == "Spearman ρ = -0.80 [-1.00, -0.20] over 4 pairs"
    assert over.get_title() == "Spearman ρ = -0.40 [-0.90, 0.50] over 4 pairs"
    assert [label.get_text() for label in gaps.get_yticklabels()] == ["m1 · da", "m2 · da"]
    positions, centres, intervals = marks(gaps, "attack-success gap")
    assert centres.tolist() == pytest.approx([0.1, 0.1])
    assert intervals[round(positions[1], 6)] == pytest.approx((-0.05, 0.25))


def test_a_pair_whose_answers_were_all_filtered_out_has_no_point_but_keeps_its_gap():
    _, pairs, correlation = safety_tables()
    # m2 answered no Danish survey prompt in Danish: no alignment, but safety rates and a gap
    filtered = pairs.with_columns(
        alignment=pl.when((pl.col("model") == "m2") & (pl.col("language") == "da"))
        .then(None)
        .otherwise("alignment")
    )
    figure = safety_alignment_figure(filtered, correlation)
    figure.draw_without_rendering()
    success, _, gaps = figure.axes[:3]
    assert success.get_title().endswith("over 3 pairs")
    assert "da" in [text.get_text() for text in success.texts]  # m1's Danish point is labelled
    assert [label.get_text() for label in gaps.get_yticklabels()] == ["m1 · da", "m2 · da"]


def test_an_analysis_that_was_not_fitted_keeps_its_figure_and_says_why(tmp_path):
    reason = "RQ1 not fitted: 4 observations (one per model and language) for 5 fixed effects"
    figure = unavailable_figure("rq1 coefficients", reason)
    texts = " ".join(text.get_text() for text in figure.texts).replace("\n", " ")
    assert reason in texts and figure._suptitle.get_text() == "rq1 coefficients"
    save_figure(stamp_banner(figure), tmp_path / "rq1.png")
    assert (tmp_path / "rq1.png").stat().st_size > 5_000


def test_a_registry_figure_carries_the_notes_banner_and_an_unfitted_rq1_says_why():
    reason = "RQ1 not fitted: fewer than two models"
    tables = {
        "rq1": pl.DataFrame(schema={"term": pl.String, "estimate": pl.Float64}),
        "rq1_fit": pl.DataFrame({"note": [None, reason]}),
        "rq2": coefficient_table(),
        "rq2_totals": pl.DataFrame(
            {"model": ["m"], "language": ["da"], "us_minus_native": [0.1], "ci_low": [0.0], "ci_high": [0.2]}
        ),
    }
    notes = honesty_notes(["sim"], True, [], False)
    params = SimpleNamespace(notes=notes)

    def banner_of(figure):
        return [
            text.get_text().replace("\n", " ") for text in figure.texts if text.get_gid() == "banner-text"
        ]

    unfitted = drawn_figure(entry_named(STUDY_FIGURES, "rq1_coefficients"), tables, params)
    assert unfitted.get_suptitle() == "rq1 coefficients"
    assert any(reason in text.get_text() for text in unfitted.texts)
    assert banner_of(unfitted) == ["SIMULATED RESPONDENTS · SYNTHETIC SURVEY"]
    # RQ2 does not hang on RQ1's fit: its figure is drawn, and without notes it carries no banner
    drawn = drawn_figure(entry_named(STUDY_FIGURES, "rq2_us_bias"), tables, SimpleNamespace(notes=()))
    assert drawn.get_suptitle() == "RQ2: do models hold US values when speaking another language?"
    assert banner_of(drawn) == []
