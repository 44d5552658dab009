"""The LLM judge: a configured model labels each statement `pro`, `con` or `null` against the
item's two positions and names the response's language, as structured output (a JSON schema in
the API's `response_format`).

Our code splits the statements; the judge only labels them, so every judge sees the same
statements. An answer that is not JSON, has the wrong number of labels or an unknown label is
asked once more (under a new request key), then recorded as null labels with the reason, never a
crash. Judge calls go through the same backends, cache, Batch API and ledger as generation.
"""

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import jinja2
import polars as pl
import pycountry

from culturalign.backends import Backend, GenerationRequest, backend_class
from culturalign.cache import CompletionCache
from culturalign.calls import RESPONSE_SCHEMA, generate_responses, keyed_request, read_manifest
from culturalign.items import Item
from culturalign.judge import (
    JUDGED_SCHEMA,
    UNKNOWN_LANGUAGE,
    response_status,
    split_statements,
    statement_rows,
)
from culturalign.judge_injection import addresses_judge, fence
from culturalign.language_id import identify_language
from culturalign.ledger import LEDGER_SCHEMA, ledger_row

LABELS = ("pro", "con", "null")
ISO_639_1 = sorted(language.alpha_2 for language in pycountry.languages if hasattr(language, "alpha_2"))
ATTEMPTS = 2
JUDGE_SAMPLING = {"temperature": 0.0, "max_tokens": 400}
LABELS_SCHEMA = {
    "type": "object",
    "properties": {
        "labels": {"type": "array", "items": {"type": "string", "enum": list(LABELS)}},
        "language": {"type": "string"},
    },
    "required": ["labels", "language"],
    "additionalProperties": False,
}
JUDGE_LABELS_SCHEMA = JUDGED_SCHEMA | {
    "judge_language": pl.String,
    "identified_language": pl.String,
    "judge_problem": pl.String,
}


def judge_parameters(statements: int | None = None) -> dict:
    """Deterministic decoding and the labels' JSON schema as structured output. With `statements`
    (vLLM's guided decoding, which supports them) the schema also fixes the number of labels and
    makes the language one of the ISO 639-1 codes (a length alone let a small model write bytes
    that decode to no code); OpenAI's strict subset of JSON Schema has no length constraints."""
    schema = LABELS_SCHEMA
    if statements is not None:
        labels = LABELS_SCHEMA["properties"]["labels"] | {"minItems": statements, "maxItems": statements}
        language = {"type": "string", "enum": ISO_639_1}
        schema = LABELS_SCHEMA | {"properties": {"labels": labels, "language": language}}
    return JUDGE_SAMPLING | structured_output("stance_labels", schema)


def structured_output(name: str, schema: dict) -> dict:
    """The request parameter that makes the answer follow a JSON schema (OpenAI's strict mode;
    vLLM's guided decoding reads the same parameter)."""
    return {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": name, "strict": True, "schema": schema},
        }
    }


def load_judge_template(path: str | Path) -> jinja2.Template:
    """A judge's prompt template, with the filter `fence` that writes what the evaluated model
    wrote into a section of the prompt it cannot leave (culturalign.judge_injection)."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    environment.filters["fence"] = fence
    return environment.from_string(Path(path).read_text(encoding="utf-8"))


def judge_request(
    template: jinja2.Template,
    item: Item,
    text: str,
    statements: list[str],
    *,
    prompt_id: str,
    language: str,
    seed: int,
    settings: dict,
    attempt: int,
    occasion: str = "judge",
) -> GenerationRequest:
    """The judge's request for one response. Its key covers the judge, the messages, the
    occasion (the drift canary's includes its date) and the attempt, not the run: the same
    response judged twice is the same request."""
    return keyed_request(
        settings,
        template.render(pro=item.pro, con=item.con, response=text, statements=statements),
        judge_parameters(len(statements) if backend_class(settings["backend"]).fixed_label_count else None),
        f"{occasion}/attempt-{attempt}",
        prompt_id=prompt_id,
        item=item.key,
        language=language,
        seed=seed,
    )


def parse_judgement(text: str | None, count: int) -> tuple[list[str] | None, str | None, str | None]:
    """(labels, language, problem) from a judge's answer; problem is None when it is usable."""
    if text is None:
        return None, None, "no answer"
    stripped = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```")
    try:
        answer = json.loads(stripped)
    except ValueError:
        return None, None, "not JSON"
    if not isinstance(answer, dict) or not isinstance(answer.get("labels"), list):
        return None, None, "no labels list"
    labels = [str(label).strip().lower() for label in answer["labels"]]
    unknown = [label for label in labels if label not in LABELS]
    if unknown:
        return None, None, f"unknown label {unknown[0]!r}"
    if len(labels) != count:
        return None, None, f"{len(labels)} labels for {count} statements"
    language = answer.get("language")
    language = str(language).strip().lower() if language else UNKNOWN_LANGUAGE
    return labels, language, None


def ask_until_usable(
    pending: list[str],
    request_for: Callable[[str, int], GenerationRequest],
    parse: Callable[[str, str | None], tuple[object, str | None]],
    backend: Backend,
    cache: CompletionCache | None,
) -> tuple[dict[str, object], dict[str, str], list[pl.DataFrame]]:
    """Ask the judge about each pending unit (by id); an answer that `parse` finds unusable (its
    problem is not None) is asked once more under a new request key (`attempt`). Returns the usable
    values, the problems of the units still unusable after ATTEMPTS, and each attempt's calls."""
    usable: dict[str, object] = {}
    problems: dict[str, str] = {}
    calls = []
    for attempt in range(ATTEMPTS):
        if not pending:
            break
        answers, _ = generate_responses([request_for(unit, attempt) for unit in pending], backend, cache)
        calls.append(answers)
        retry = []
        for unit, answer in zip(pending, answers["text"], strict=True):
            value, problem = parse(unit, answer)
            if problem is None:
                usable[unit] = value
                problems.pop(unit, None)
            else:
                problems[unit] = problem
                retry.append(unit)
        pending = retry
    return usable, problems, calls


def judge_with_llm(
    responses: pl.DataFrame,
    items: dict[str, Item],
    template: jinja2.Template,
    backend: Backend,
    cache: CompletionCache | None,
    *,
    settings: dict,
    language: str,
    seed: int,
    min_statements: int,
    language_from: str,
    identify: Callable[[str | None], str],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per statement (one row without a statement for a response without any) with the
    judge's label, both languages and the response's status, and the judge's calls (for the
    ledger). Responses without the list format are not sent to the judge."""
    statements, texts = {}, {}
    for prompt_id, item, text in responses.select("prompt_id", "item", "text").iter_rows():
        statements[prompt_id] = split_statements(text)
        if text is not None and len(statements[prompt_id]) >= min_statements:
            texts[prompt_id] = (item, text)

    def request_for(prompt_id: str, attempt: int) -> GenerationRequest:
        item, text = texts[prompt_id]
        return judge_request(
            template,
            items[item],
            text,
            statements[prompt_id],
            prompt_id=prompt_id,
            language=language,
            seed=seed,
            settings=settings,
            attempt=attempt,
        )

    def parse(prompt_id: str, answer: str | None):
        labels, judge_language, problem = parse_judgement(answer, len(statements[prompt_id]))
        return (labels, judge_language), problem

    judged, problems, calls = ask_until_usable(list(texts), request_for, parse, backend, cache)
    rows = []
    for prompt_id, item, text in responses.select("prompt_id", "item", "text").iter_rows():
        labels, judge_language = judged.get(prompt_id, (None, None))
        identified = identify(text)
        # The identifier speaks for responses the judge never saw (no list) or could not read.
        chosen = (judge_language if language_from == "judge" else None) or identified
        status = response_status(text, statements[prompt_id], chosen, language, min_statements)
        if labels is None and status == "kept":
            status = "unjudged"
        base = {
            "prompt_id": prompt_id,
            "item": item,
            "response_language": chosen,
            "valid": status == "kept",
            "status": status,
            "addresses_judge": addresses_judge(text),
            "judge_language": judge_language,
            "identified_language": identified,
            "judge_problem": problems.get(prompt_id),
        }
        rows += statement_rows(base, statements[prompt_id], labels)
    table = pl.DataFrame(rows, schema=JUDGE_LABELS_SCHEMA)
    return table, pl.concat(calls) if calls else pl.DataFrame(schema=RESPONSE_SCHEMA)


def judge_run(
    responses: pl.DataFrame,
    items: dict[str, Item],
    template: jinja2.Template,
    backend: Backend,
    cache: CompletionCache,
    *,
    judge: str,
    settings: dict,
    model: str,
    language: str,
    seed: int,
    min_statements: int,
    language_from: str,
    price: tuple[float, float] | None,
    log: logging.Logger,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One judge's labels of one (model, language, seed) run and its ledger row, logged."""
    log.info("%s judges %d responses of %s in %s, seed %d", judge, responses.height, model, language, seed)
    started = time.perf_counter()
    labels, calls = judge_with_llm(
        responses,
        items,
        template,
        backend,
        cache,
        settings=settings,
        language=language,
        seed=seed,
        min_statements=min_statements,
        language_from=language_from,
        identify=identify_language,
    )
    seconds = time.perf_counter() - started
    by_response = labels.unique("prompt_id")
    for status, count in by_response.group_by("status").len().sort("status").iter_rows():
        log.info("%s: %d responses", status, count)
    for problem, count in by_response.drop_nulls("judge_problem").group_by("judge_problem").len().iter_rows():
        log.info("unusable judge answers after a retry (%s): %d", problem, count)
    log.info(
        "responses that address the judge (judged as any other): %d", by_response["addresses_judge"].sum()
    )
    ledger = ledger_row(
        calls,
        stage=f"judge:{judge}",
        model=model,
        language=language,
        seed=seed,
        seconds=seconds,
        price=price,
    )
    return labels, ledger


def run_key(model: str, language: str, seed: int) -> str:
    """A run's key in the manifest of a judge's one job."""
    return f"{model}/{language}/{seed}"


def manifest_ledger(manifest: str | Path, *, model: str, language: str, seed: int) -> pl.DataFrame:
    """The ledger row that a judge's one job (llm_judge_vllm) recorded for this run: the work was
    done there, and reading the labels back from the cache costs nothing."""
    recorded = read_manifest(manifest)["runs"][run_key(model, language, seed)]
    return pl.DataFrame([recorded], schema=LEDGER_SCHEMA)
