# ruff: noqa: RUF001 -- pages use Greek letters and dashes on purpose
"""Self-contained HTML pages of the report: headed tables, and the evidence page that links each
score to a sample of the responses and judge labels behind it. Every page carries the honesty
notes on top."""

import html
from collections.abc import Mapping, Sequence

import jinja2
import markupsafe
import numpy as np
import polars as pl

from culturalign.report.formatting import format_number, language_label
from culturalign.report.notes import HonestyNote
from culturalign.stats import random_stream

LABEL_CLASSES = {"pro": "label-pro", "con": "label-con", "null": "label-null"}


def page(
    template: str, title: str, body: str, notes: Sequence[HonestyNote], warnings: Sequence[str] = ()
) -> str:
    """A self-contained HTML page (`template`: workflow/report/page.html.jinja) with the honesty
    banner on top; `body` is HTML already escaped."""
    return jinja2.Template(template, autoescape=True).render(
        title=title, body=markupsafe.Markup(body), notes=notes, warnings=warnings
    )


def tables_page(
    template: str,
    title: str,
    sections: list[tuple[str, pl.DataFrame]],
    notes: Sequence[HonestyNote],
    warnings: Sequence[str] = (),
) -> str:
    """A page of headed tables."""
    body = "".join(f"<h2>{html.escape(heading)}</h2>{table_html(frame)}" for heading, frame in sections)
    return page(template, title, body, notes, warnings)


def table_html(frame: pl.DataFrame, digits: int = 3) -> str:
    """A frame as an HTML table, floats rounded for reading."""
    return frame.to_pandas().to_html(
        index=False, na_rep="–", float_format=lambda value: f"{value:.{digits}f}", border=0
    )


def evidence_sample(
    judged: pl.DataFrame, responses: pl.DataFrame, kept: int, filtered: int, seed: int = 0
) -> pl.DataFrame:
    """Per (model, language), `kept` kept responses and up to `filtered` filtered-out ones, drawn at
    random over the seeds, and up to `kept` more of those that address their judge (so that a
    reader sees them, whatever their status), each with its text and its statements' labels (one
    row per statement; a response without statements has one row with a null statement)."""
    keys = ["model", "language", "seed", "prompt_id"]
    if "addresses_judge" not in judged.columns:
        judged = judged.with_columns(addresses_judge=pl.lit(False))
    statuses = judged.group_by(keys).agg(
        pl.col("status").first(), pl.col("item").first(), pl.col("addresses_judge").first().fill_null(False)
    )
    chosen = []
    for (model, language), candidates in statuses.sort(keys).group_by(
        "model", "language", maintain_order=True
    ):
        rng = random_stream(seed, model, language, "evidence")
        picked = []
        for want_kept, count in ((True, kept), (False, filtered)):
            pool = candidates.filter((pl.col("status") == "kept") == want_kept)
            if pool.height and count:
                picks = np.sort(rng.choice(pool.height, size=min(count, pool.height), replace=False))
                picked.append(pool[picks])
        # the responses that address their judge, beyond those already drawn
        pool = candidates.filter(pl.col("addresses_judge"))
        if picked:
            pool = pool.join(pl.concat(picked), on=["seed", "prompt_id"], how="anti")
        if pool.height and kept:
            picks = np.sort(rng.choice(pool.height, size=min(kept, pool.height), replace=False))
            picked.append(pool[picks])
        chosen += picked
    if not chosen:
        return pl.DataFrame()
    statements = judged.select(*keys, "statement_idx", "statement", "label", "response_language")
    return (
        pl.concat(chosen)
        .join(responses.select(*keys, "text"), on=keys, how="left")
        .join(statements, on=keys, how="left")
        .sort("model", "language", pl.col("status") != "kept", "seed", "prompt_id", "statement_idx")
    )


def _anchor(model: str, language: str) -> str:
    return f"evidence-{model}-{language}"


def evidence_page(
    template: str,
    scores: pl.DataFrame,
    sample: pl.DataFrame,
    positions: dict[str, tuple[str, str, str]],
    notes: Sequence[HonestyNote],
    language_labels: Mapping[str, str],
) -> str:
    """Each (model, language)'s scores, each linking to the responses and judge labels behind it;
    `positions` gives each item's label and the pro and con positions the judge read against."""
    rows = []
    for score in scores.iter_rows(named=True):
        link = f'<a href="#{_anchor(score["model"], score["language"])}">responses</a>'
        cells = [
            html.escape(score["model"]),
            html.escape(language_label(score["language"], language_labels)),
            format_number(score["alignment"]),
            f"[{format_number(score['ci_low'])}, {format_number(score['ci_high'])}]",
            format_number(score["consistency"]),
            format_number(score["kept_share"]),
            link,
        ]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    header = "".join(
        f"<th>{name}</th>"
        for name in (
            "model",
            "language",
            "alignment with the language's population (ρ)",
            "95% CI (one seed)",
            "self-consistency",
            "share kept",
            "evidence",
        )
    )
    body = [
        '<p class="note">Alignment and self-consistency are means over seeds. Follow a link to a sample '
        "of the responses behind a score, with the judge's label of every statement; the responses that "
        "address their judge are always among them, marked.</p>",
        f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
    ]
    if sample.height:
        for (model, language), statements in sample.group_by("model", "language", maintain_order=True):
            body.append(
                f'<h2 id="{_anchor(model, language)}">{html.escape(model)} in '
                f"{html.escape(language_label(language, language_labels))}</h2>"
            )
            for (_, _, seed, prompt_id), response in statements.group_by(
                "model", "language", "seed", "prompt_id", maintain_order=True
            ):
                body.append(_response_html(seed, prompt_id, response, positions))
    return page(template, "Scores and the evidence behind them", "\n".join(body), notes)


def _response_html(
    seed: int, prompt_id: str, response: pl.DataFrame, positions: dict[str, tuple[str, str, str]]
) -> str:
    first = response.row(0, named=True)
    label, pro, con = positions.get(first["item"], ("", "", ""))
    labelled = [
        f'<li><span class="{LABEL_CLASSES.get(row["label"], "")}">{html.escape(str(row["label"]))}</span> '
        f"{html.escape(row['statement'])}</li>"
        for row in response.iter_rows(named=True)
        if row["statement"] is not None
    ]
    statements = f"<ol>{''.join(labelled)}</ol>" if labelled else "<p class='meta'>No statements.</p>"
    badge = (
        ' · <span class="addresses-judge" title="It writes to its judge: section tags, a fake verdict '
        'or instructions to label (culturalign.judge_injection); judged as any other.">'
        "addresses the judge</span>"
        if first.get("addresses_judge")
        else ""
    )
    return (
        '<div class="response">'
        f'<div class="meta">seed {seed} · prompt {html.escape(prompt_id)} · '
        f"item {html.escape(first['item'])} · status <b>{html.escape(first['status'])}</b> · "
        f"response language {html.escape(str(first['response_language']))}{badge}</div>"
        f'<div class="positions">{html.escape(label)}: <span class="label-pro">pro</span> '
        f'{html.escape(pro)} · <span class="label-con">con</span> {html.escape(con)}</div>'
        f"<pre>{html.escape(first['text'] or '')}</pre>{statements}</div>"
    )
