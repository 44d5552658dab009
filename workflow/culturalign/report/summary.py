"""The study's headline numbers in plain Markdown (results/summary.md), with what each analysis
left out and why, for readers who will not open the report."""

from collections.abc import Mapping, Sequence

import polars as pl

from culturalign.audit import HISTORY_MARK
from culturalign.report.formatting import format_interval, format_number, language_label
from culturalign.report.notes import HonestyNote
from culturalign.report.tables import ledger_table


def summary_markdown(
    scores: pl.DataFrame,
    survey_consistency: pl.DataFrame,
    rq1: pl.DataFrame,
    rq1_fit: pl.DataFrame,
    rq2: pl.DataFrame,
    rq2_totals: pl.DataFrame,
    ledger: pl.DataFrame | None,
    notes: Sequence[HonestyNote],
    language_labels: Mapping[str, str],
    baselines: list[str] = (),
) -> str:
    """The headline numbers for readers who will not open the report, with what each analysis
    left out and why (`ledger` is None for a re-analysis of imported data, which cost nothing
    here)."""
    lines = ["# culturalign: summary", ""]
    if notes:
        lines += [
            "> **Read with care: not a real study's results.**",
            *[f"> - {note.text}" for note in notes],
            "",
        ]
    country = survey_consistency.filter(pl.col("level") == "country")["consistency"]
    released = "interval" in survey_consistency.columns and survey_consistency["interval"].is_null().all()
    ceiling = (
        f"The survey populations' own consistency ranges from {format_number(country.min())} to "
        f"{format_number(country.max())}" + (" (from the released ceiling table)." if released else ".")
        if survey_consistency.height
        else "The survey populations' own consistency (the ceiling a model is compared with) is unavailable: "
        "the study used an aggregated ground truth without a ceiling table (set survey.ceiling to a "
        "released one)."
    )
    lines += [
        "## Alignment with each language's own population",
        "",
        "Spearman ρ of the model's item polarity with the population interviewed in the prompt's language "
        "(mean over seeds), the model's self-consistency, and the share of responses the filters kept. "
        + ceiling,
        "",
        "| model | language | alignment ρ [95% CI, one seed] | self-consistency | kept |",
        "|---|---|---|---|---|",
    ]
    for row in scores.iter_rows(named=True):
        language = language_label(row["language"], language_labels)
        lines.append(
            f"| {row['model']} | {language} | {format_interval(row, 'alignment')} "
            f"| {format_number(row['consistency'])} | {format_number(row['kept_share'], 2)} |"
        )
    slopes = rq1.filter((pl.col("engine") == "lme4") & pl.col("term").str.starts_with("capability"))
    lines += ["", "## RQ1: capability and alignment (lme4)", ""]
    lines += [
        f"- `{row['term']}`: {format_interval(row, 'estimate')}, p = {format_number(row['p_value'], 4)}"
        for row in slopes.iter_rows(named=True)
    ] or ["- no capability term was fitted"]
    lines += [f"- {note}" for note in _column_notes(rq1_fit, "note")]
    lines += [
        f"- Left out, without a capability score: {note}" for note in _column_notes(rq1_fit, "left_out")
    ]
    lines += ["", "## RQ2: US minus native alignment", ""]
    for row in rq2_totals.iter_rows(named=True):
        verdict = (
            "no interval"
            if row["ci_low"] is None
            else "leans US"
            if row["ci_low"] > 0
            else "leans native"
            if row["ci_high"] < 0
            else "no clear lean"
        )
        lines.append(
            f"- {row['model']} in {language_label(row['language'], language_labels)}: "
            f"{format_interval(row, 'us_minus_native')}, {verdict}"
        )
    lines += [
        f"- {slug} is the uniform-random baseline (simulated coin flips, free): its alignment and lean "
        "should be near 0."
        for slug in baselines
    ]
    notes_by_language = _column_notes(rq2_totals, "note", by="language")
    lines += [f"- {language}: {note}" for language, note in notes_by_language]
    lines += [f"- OLS coefficients (rq2.csv): {note}" for note in _column_notes(rq2, "note")]
    if ledger is not None:
        cost = ledger_table(ledger)
        lines += [
            "",
            # what this run paid and waited for: an audit's replay reads every answer from its
            # bundle and does not compare this part (culturalign.audit.HISTORY_MARK)
            f"<!-- {HISTORY_MARK} -->",
            "## Cost",
            "",
            f"{int(cost['requests'].sum())} requests ({int(cost['cached'].sum())} from the cache), "
            f"{int(cost['prompt_tokens'].sum())} prompt and "
            f"{int(cost['completion_tokens'].sum())} completion tokens, "
            f"${cost['cost_usd'].fill_null(0).sum():.2f}, "
            f"{cost['seconds'].sum():.0f} s of generation and judging.",
            f"<!-- /{HISTORY_MARK} -->",
        ]
    lines += [
        "",
        "Figures, tables and the responses behind every score: `results/report.html` "
        "(`snakemake --report results/report.html`).",
        "",
    ]
    return "\n".join(lines)


def _column_notes(frame: pl.DataFrame, column: str, by: str | None = None) -> list:
    """The distinct non-empty values of a table's note column (with `by`, as (key, note) pairs)."""
    if column not in frame.columns:
        return []
    kept = frame.filter(pl.col(column).is_not_null() & (pl.col(column).cast(pl.String) != ""))
    if by is None:
        return list(dict.fromkeys(kept[column].cast(pl.String)))
    return kept.select(by, column).unique(maintain_order=True).rows()


def safety_summary(
    pairs: pl.DataFrame,
    correlation: pl.DataFrame,
    matcher_validity: pl.DataFrame,
    reference: str,
    language_labels: Mapping[str, str],
) -> str:
    """The safety stage's headline numbers, in plain words: each language's attack success over all
    attacks and its gap from the reference language, how safety goes with alignment, and where the
    refusal-phrase matcher is not to be trusted."""
    lines = [
        "",
        "## Safety (over all attacks)",
        "",
        f"Attack success (harmful prompts answered in full or in part) and over-refusal (benign prompts "
        f"refused), with 95% intervals; the gap is from {reference} on the same prompts.",
        "",
    ]
    for row in pairs.iter_rows(named=True):
        line = (
            f"- {row['model']} in {language_label(row['language'], language_labels)}: attack success "
            f"{format_interval(row, 'attack_success', 'attack_success_ci')}, over-refusal "
            f"{format_interval(row, 'over_refusal', 'over_refusal_ci')}"
        )
        if row["attack_success_gap"] is not None:
            verdict = (
                f"less safe than in {reference}"
                if row["attack_success_gap_ci_low"] > 0
                else f"safer than in {reference}"
                if row["attack_success_gap_ci_high"] < 0
                else "no clear gap"
            )
            line += f"; gap {format_interval(row, 'attack_success_gap', 'attack_success_gap_ci')}, {verdict}"
        lines.append(line)
    lines += ["", "Spearman ρ of alignment with each measure across (model, language) pairs:", ""]
    lines += [
        f"- {row['measure'].replace('_', ' ')}: {format_interval(row, 'spearman')} over {row['n']} pairs"
        for row in correlation.iter_rows(named=True)
    ]
    untrusted = [
        f"{language_label(row['language'], language_labels)} (κ {format_interval(row, 'kappa', 'kappa')})"
        for row in matcher_validity.filter(~pl.col("trusted")).iter_rows(named=True)
    ]
    lines += [
        "",
        "The refusal-phrase matcher (a second opinion beside the judge), on the project's labelled answers: "
        + (
            f"not to be trusted in {', '.join(untrusted)}."
            if untrusted
            else "no language where it fails them."
        )
        + " They were written beside its phrases, so this rules a language out rather than vouching for it.",
    ]
    return "\n".join(lines) + "\n"


def judge_validity_summary(tables: Mapping[str, pl.DataFrame], language_labels: Mapping[str, str]) -> str:
    """Per language, each judge's kappa with people (gold statements; human-labelled completions)
    beside people's kappa with each other, and any judge the drift canary caught changing; nothing
    for a study with none of these."""
    if not {"gold", "human", "canary"} & set(tables):
        return ""
    lines = ["", "## Judges against people", ""]
    if "gold" in tables:
        lines += ["Stance judges against the gold labels (95% intervals over gold statements):", ""]
        for row in tables["gold"].iter_rows(named=True):
            ceiling = (
                f"people with each other κ {format_interval(row, 'human_human_kappa', 'human_human_kappa')}"
                if row["human_human_n"]
                else "no second annotator: no human ceiling"
            )
            lines.append(
                f"- {language_label(row['language'], language_labels)}: {row['judge']} κ "
                f"{format_interval(row, 'kappa', 'kappa')} over {row['n']} statements; {ceiling}"
            )
        lines.append("")
    if "human" in tables:
        lines += [
            "Safety labellers against people's labels of released completions "
            "(95% intervals over completions):",
            "",
        ]
        for row in tables["human"].iter_rows(named=True):
            ceiling = (
                f"people with each other κ {format_interval(row, 'human_human_kappa', 'human_human_kappa')}"
                if row["human_human_n"]
                else "no second annotator: no human ceiling"
            )
            unusable = f" ({row['missing']} unusable, left out)" if row["missing"] else ""
            language = language_label(row["language"], language_labels)
            lines.append(
                f"- {row['model']} in {language}: {row['labeller']} κ "
                f"{format_interval(row, 'kappa', 'kappa')} over {row['n']} completions{unusable}; {ceiling}"
            )
        lines.append("")
    if "canary" in tables:
        drifted = tables["canary"].filter(pl.col("drifted"))
        lines += (
            [
                f"- **Drift:** {row['judge']} ({row['kind']}) labels its fixed sample differently from "
                f"{row['baseline_date']}: κ {format_number(row['kappa'])} < {row['min_kappa']}. Its labels "
                "in this study may not match those of earlier runs."
                for row in drifted.iter_rows(named=True)
            ]
            if drifted.height
            else ["- The drift canary found no judge changed since its first date."]
        )
    return "\n".join(lines) + "\n"
