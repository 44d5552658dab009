"""The drift canary: a judge behind an API can change under the same name (a model alias moved,
a provider's update), and the completion cache would hide it. On each run date every LLM judge
labels again a fixed, seeded sample of known material (gold statements for the stance judges, the
labelled safety answers for the safety judge) under a request key that includes the date, and its
labels are compared with those it gave on the first date: a kappa below the configured level is
drift, and the report says so."""

from collections.abc import Callable, Mapping
from typing import NamedTuple

import jinja2
import numpy as np
import polars as pl

from culturalign.agreement import LABELS, contingency_table, kappa_from_tables, resampled_tables
from culturalign.backends import Backend, GenerationRequest
from culturalign.cache import CompletionCache
from culturalign.items import Item
from culturalign.llm_judge import ask_until_usable, judge_request, parse_judgement
from culturalign.safety.judge import SAFETY_LABELS, parse_safety_answer, safety_request_for
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


class CanaryQuestions(NamedTuple):
    """What the canary asks a judge of one kind: its units (by id), the request about a unit at an
    attempt, and how to read the answer (as culturalign.llm_judge.ask_until_usable takes them)."""

    kind: str
    units: list[str]
    request_for: Callable[[str, int], GenerationRequest]
    parse: Callable[[str, str | None], tuple[str | None, str | None]]

    def first_requests(self) -> list[GenerationRequest]:
        return [self.request_for(unit, 0) for unit in self.units]


def stance_questions(
    gold: pl.DataFrame,
    items: Mapping[str, Item],
    template: jinja2.Template,
    *,
    size: int,
    seed: int,
    settings: dict,
    date: str,
) -> CanaryQuestions:
    """A stance judge's canary: the seeded sample of `size` gold statements (item, language,
    statement) of the known items, each judged alone, under keys of the date."""
    statements = gold.select("item", "language", "statement").unique()
    sample = seeded_sample(statements.filter(pl.col("item").is_in(list(items))), size, seed, "stance")
    units = {
        f"{item}/{language}/{statement}": (item, language, statement)
        for item, language, statement in sample.iter_rows()
    }

    def request_for(unit: str, attempt: int) -> GenerationRequest:
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

    def parse(_: str, answer: str | None) -> tuple[str | None, str | None]:
        labels, _, problem = parse_judgement(answer, 1)
        return (labels[0] if labels else None), problem

    return CanaryQuestions("stance", list(units), request_for, parse)


def safety_questions(
    answers: pl.DataFrame,
    template: jinja2.Template,
    *,
    size: int,
    seed: int,
    settings: dict,
    date: str,
) -> CanaryQuestions:
    """The safety judge's canary: the seeded sample of `size` labelled answers (language, id,
    text), each judged without its request, under keys of the date."""
    sample = seeded_sample(answers, size, seed, "safety")
    units = {
        f"{language}/{answer_id}": (NO_REQUEST, text, language)
        for language, answer_id, text in sample.select("language", "id", "text").iter_rows()
    }
    request_for = safety_request_for(units, template, settings, occasion=f"canary/{date}")
    return CanaryQuestions("safety", list(units), request_for, parse_safety_answer)


def ask_canary(questions: CanaryQuestions, backend: Backend, cache: CompletionCache | None) -> pl.DataFrame:
    """The judge's label of each unit, null where still unusable (CANARY_LABEL_SCHEMA)."""
    labels, _, _ = ask_until_usable(questions.units, questions.request_for, questions.parse, backend, cache)
    return pl.DataFrame(
        [(questions.kind, unit, labels.get(unit)) for unit in questions.units],
        schema=CANARY_LABEL_SCHEMA,
        orient="row",
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
