"""Judging stage: split each response into its numbered statements, decide whether the response
counts (list format, prompted language), and label each statement pro / con / null.

Splitting and filtering are shared by every judge; the simulated reader labels the simulated
respondents' text by the phrase bank it was written from.
"""

import re

import polars as pl

from culturalign.judge_injection import addresses_judge
from culturalign.phrase_bank import PhraseBank

JUDGED_SCHEMA = {
    "prompt_id": pl.String,
    "item": pl.String,
    "statement_idx": pl.Int64,
    "statement": pl.String,
    "label": pl.String,
    "response_language": pl.String,
    "valid": pl.Boolean,
    "status": pl.String,
    # the response addresses its judge (culturalign.judge_injection): counted, never filtered
    "addresses_judge": pl.Boolean,
}
# unjudged: the LLM judge gave no usable labels, even when asked twice
STATUSES = ("kept", "wrong_language", "malformed", "error", "unjudged")
UNKNOWN_LANGUAGE = "unknown"

# A list entry: optional bullet or bold marker, a number of one or two digits in any script's
# numerals (`\d` is Unicode: Arabic-Indic, Thai, Bengali, Devanagari and fullwidth digits too),
# then ".", ")", ":" or "-" and a space, e.g. "1. text", "1) text", "**1.** text", "(1) text",
# "- 1. text", "### 1. text"; or a CJK mark (fullwidth full stop or parenthesis, ideographic
# comma or full stop) with or without a space, or "." directly before a non-ASCII letter (but
# "1.5 million" is no entry). Right-to-left lines may open with bidirectional marks: skipped.
_BIDI_MARKS = "\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069"
_CJK_OPENING = "\uff08"
_CJK_MARKS = "\uff0e\u3001\u3002\uff09"
_ENTRY = re.compile(
    rf"^[\s{_BIDI_MARKS}]*(?:[-*•]\s+|#+\s*)?(?:\*\*|__)?[({_CJK_OPENING}]?(\d{{1,2}})"
    rf"(?:(?:[.):]|\s*-)(?:\*\*|__)?\s+|[{_CJK_MARKS}](?:\*\*|__)?\s*(?=\S)|\.(?=[^\x00-\x7f]))(.*\S)\s*$"
)
_MARKDOWN_EMPHASIS = re.compile(r"(\*\*|__)")


def split_statements(text: str | None) -> list[str]:
    """The entries of the numbered list in `text`, in order, with markdown emphasis removed.

    Text before the list and after it is ignored. A line that directly follows an entry (no blank
    line between) continues it; a blank line then unnumbered text ends the list.
    """
    if not text:
        return []
    statements: list[str] = []
    open_entry = False
    for line in text.splitlines():
        match = _ENTRY.match(line)
        if match:
            statements.append(match.group(2))
            open_entry = True
        elif not line.strip():
            open_entry = False
        elif open_entry:
            statements[-1] += " " + line.strip()
    return [_MARKDOWN_EMPHASIS.sub("", statement).strip() for statement in statements]


def response_status(
    text: str | None, statements: list[str], response_language: str, prompt_language: str, min_statements: int
) -> str:
    """Why a response is kept or filtered out: error, malformed (no list), wrong_language, kept."""
    if text is None:
        return "error"
    if len(statements) < min_statements:
        return "malformed"
    if response_language != prompt_language:
        return "wrong_language"
    return "kept"


class SimulatedReader:
    """Reads simulated respondents' answers: recognises the language and each statement's stance
    from the phrase banks they were written from. It is exact by construction, and only ever
    judges simulated text."""

    def __init__(self, banks: dict[str, PhraseBank]):
        self.banks = banks

    def language_of(self, item: str, text: str) -> str:
        hits = {
            language: sum(phrase in text for phrase in bank.phrases(item))
            for language, bank in self.banks.items()
        }
        best = max(hits, key=hits.get)
        return best if hits[best] else UNKNOWN_LANGUAGE

    def labels(self, item: str, statements: list[str], language: str) -> list[str]:
        bank = self.banks.get(language)
        return [(bank.stance_of(item, statement) if bank else None) or "null" for statement in statements]


def judge_responses(
    responses: pl.DataFrame, reader: SimulatedReader, *, language: str, min_statements: int
) -> pl.DataFrame:
    """One row per statement (one row with no statement for a response without any), with the
    response's status; `valid` marks the statements of kept responses."""
    rows = []
    for prompt_id, item, text in responses.select("prompt_id", "item", "text").iter_rows():
        statements = split_statements(text)
        response_language = reader.language_of(item, text) if text else UNKNOWN_LANGUAGE
        status = response_status(text, statements, response_language, language, min_statements)
        labels = reader.labels(item, statements, response_language)
        base = {"prompt_id": prompt_id, "item": item, "response_language": response_language}
        base |= {"valid": status == "kept", "status": status, "addresses_judge": addresses_judge(text)}
        rows += statement_rows(base, statements, labels)
    return pl.DataFrame(rows, schema=JUDGED_SCHEMA)


def statement_rows(response: dict, statements: list[str], labels: list[str] | None) -> list[dict]:
    """A judged response's rows: one per statement with its label (null when the response went
    unlabelled), or one row without a statement for a response without any; each row carries the
    response's own columns (`response`)."""
    if not statements:
        return [response | {"statement_idx": None, "statement": None, "label": None}]
    return [
        response
        | {"statement_idx": index, "statement": statement, "label": labels[index - 1] if labels else None}
        for index, statement in enumerate(statements, start=1)
    ]


def language_fidelity(judged: pl.DataFrame, min_statements: int) -> pl.DataFrame:
    """Low-resource language support per (model, language), over seeds: of the responses with an
    answer, the share written in the prompted language and the share in the list format; with an
    LLM judge, how often the judge's language and the offline identifier's disagree.

    `judged` holds the statement rows of many runs, with model, language and seed columns."""
    responses = judged.unique(["model", "language", "seed", "prompt_id"]).filter(pl.col("status") != "error")
    statements = judged.group_by("model", "language", "seed", "prompt_id").agg(
        statements=pl.col("statement").drop_nulls().len()
    )
    responses = responses.join(statements, on=["model", "language", "seed", "prompt_id"])
    compared = (
        [
            (pl.col("judge_language") != pl.col("identified_language"))
            .filter(pl.col("judge_language").is_not_null())
            .mean()
            .alias("judge_identifier_disagreement")
        ]
        if "identified_language" in responses.columns
        else [pl.lit(None, dtype=pl.Float64).alias("judge_identifier_disagreement")]
    )
    return (
        responses.group_by("model", "language", maintain_order=True)
        .agg(
            pl.len().alias("responses"),
            (pl.col("response_language") == pl.col("language")).mean().alias("in_prompted_language"),
            (pl.col("statements") >= min_statements).mean().alias("list_format"),
            *compared,
        )
        .sort("model", "language")
    )
