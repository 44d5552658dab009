"""The drift canary: a judge behind an API can change under the same name (a model alias moved,
a provider's update), and the completion cache would hide it. On each run date every LLM judge
labels again a fixed, seeded sample of known material (gold statements for the stance judges, the
labelled safety answers for the safety judge) under a request key that includes the date, and its
labels are compared with those it gave on the first date: a kappa below the configured level is
drift, and the report says so."""

from collections.abc import Callable, Mapping

import jinja2
import numpy as np
import polars as pl

from culturalign.agreement import LABELS, contingency_table, kappa_from_tables, resampled_tables
from culturalign.backends import Backend
from culturalign.cache import CompletionCache
from culturalign.items import Item
from culturalign.llm_judge import ask_until_usable, judge_request, parse_judgement
from culturalign.safety.judge import SAFETY_LABELS, ask_safety_judge
from culturalign.stats import percentile_ci, random_stream

CANARY_LABEL_SCHEMA = {"kind": pl.String, "unit": pl.String, "label": pl.String}
CANARY_SCHEMA = {
    "judge": pl.String,
    "kind": pl.String,
    "date": pl.String,
    "baseline_date": pl.String,
    "n": pl.Int64,
    "agreement": pl.Float64,
    "kappa": pl.Float64,
    "kappa_low": pl.Float64,
    "kappa_high": pl.Float64,
    "min_kappa": pl.Float64,
    "drifted": pl.Boolean,
    "note": pl.String,
}
KIND_LABELS = {"stance": LABELS, "safety": SAFETY_LABELS}
# The labelled safety answers were written without their requests: the judge reads the answer alone.
NO_REQUEST = "(the request is not shown: label the answer by what it does)"
BASELINE = "the first date: the baseline later dates are compared with"


def seeded_sample(frame: pl.DataFrame, size: int, seed: int, name: str) -> pl.DataFrame:
    """The same `size` rows of `frame` on every run (by its sorted order and a named seeded stream)."""
    frame = frame.sort(frame.columns)
    if frame.height <= size:
        return frame
    chosen = random_stream(seed, "canary", name).choice(frame.height, size=size, replace=False)
    return frame[np.sort(chosen)]


def stance_canary(
    gold: pl.DataFrame,
    items: Mapping[str, Item],
    template: jinja2.Template,
    backend: Backend,
    cache: CompletionCache | None,
    *,
    settings: dict,
    date: str,
) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """A stance judge's labels of gold statements (item, language, statement; each judged alone),
    keyed by the date (CANARY_LABEL_SCHEMA); and its calls."""
    units = {
        f"{item}/{language}/{statement}": (item, language, statement)
        for item, language, statement in gold.select("item", "language", "statement").iter_rows()
    }

    def request_for(unit: str, attempt: int):
        item, language, statement = units[unit]
        return judge_request(
            template,
            items[item],
            statement,
            [statement],
            prompt_id=unit,
            language=language,
            seed=0,
            settings=settings,
            attempt=attempt,
            occasion=f"canary/{date}",
        )

    def parse(_: str, answer: str | None):
        labels, _, problem = parse_judgement(answer, 1)
        return (labels[0] if labels else None), problem

    labels, _, calls = ask_until_usable(list(units), request_for, parse, backend, cache)
    return _labels("stance", units, labels), calls


def safety_canary(
    answers: pl.DataFrame,
    template: jinja2.Template,
    backend: Backend,
    cache: CompletionCache | None,
    *,
    settings: dict,
    date: str,
) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """The safety judge's labels of labelled answers (language, id, text), keyed by the date
    (CANARY_LABEL_SCHEMA); and its calls."""
    units = {
        f"{language}/{answer_id}": (NO_REQUEST, text, language)
        for language, answer_id, text in answers.select("language", "id", "text").iter_rows()
    }
    labels, _, calls = ask_safety_judge(units, template, backend, cache, settings, occasion=f"canary/{date}")
    return _labels("safety", units, labels), calls


def _labels(kind: str, units: Mapping[str, object], labels: Mapping[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [(kind, unit, labels.get(unit)) for unit in units], schema=CANARY_LABEL_SCHEMA, orient="row"
    )


def drift(
    today: pl.DataFrame,
    earlier: Mapping[str, pl.DataFrame],
    *,
    judge: str,
    date: str,
    min_kappa: float,
    resamples: int = 1000,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> pl.DataFrame:
    """Per kind, today's labels against those of the first earlier date (its baseline) on the units
    both labelled: raw agreement, kappa with a percentile bootstrap CI over units, and whether
    kappa fell below `min_kappa` (CANARY_SCHEMA). The first date is the baseline and drifts from
    nothing; where kappa is undefined (one label throughout) raw agreement decides."""
    baseline_date = min(earlier, default=None)
    rows = []
    for (kind,), labels in today.group_by("kind", maintain_order=True):
        row = {"judge": judge, "kind": kind, "date": date, "min_kappa": min_kappa}
        if baseline_date is None:
            rows.append(row | {"n": labels["label"].is_not_null().sum(), "drifted": False, "note": BASELINE})
            continue
        paired = labels.join(earlier[baseline_date].filter(kind=kind), on=["kind", "unit"], suffix="_before")
        table = contingency_table(
            paired["label_before"].to_list(), paired["label"].to_list(), KIND_LABELS[kind]
        )
        kappa = float(kappa_from_tables(table))
        low, high = percentile_ci(
            kappa_from_tables(resampled_tables(table, resamples, random_stream(seed, "canary", judge, kind))),
        )
        agreement = float(np.trace(table) / table.sum()) if table.sum() else float("nan")
        undefined = np.isnan(kappa)
        drifted = bool(agreement < min_kappa) if undefined else kappa < min_kappa
        rows.append(
            row
            | {
                "baseline_date": baseline_date,
                "n": int(table.sum()),
                "agreement": agreement,
                "kappa": kappa,
                "kappa_low": low,
                "kappa_high": high,
                "drifted": drifted,
                "note": "kappa undefined (one label throughout): raw agreement decides"
                if undefined
                else None,
            }
        )
        if drifted and log is not None:
            log(
                f"{judge} drifted ({kind}): its labels of {date} agree with those of {baseline_date} "
                f"at kappa {kappa:.3f} (agreement {agreement:.3f}), below {min_kappa}"
            )
    return pl.DataFrame(rows, schema=CANARY_SCHEMA).with_columns(pl.col(pl.Float64).fill_nan(None))
