"""Our own safety sets, one per language (safety.yaml in its language folder): harmful prompts and
the benign ones that contrast them, the jailbreak wrappers, the language the `other_language` attack
asks for, and the refusal phrases; each validated as it is read."""

from pathlib import Path
from typing import NamedTuple

import jinja2
import jinja2.meta
import polars as pl

from culturalign.language_resources import MATCHER_KEYS, PROVENANCE_KEY, language_folder, languages_with
from culturalign.safety import SafetyError
from culturalign.safety.refusal import RefusalRules
from culturalign.yaml_io import read_yaml

KINDS = ("harmful", "benign")
# Wrappers every language's file has.
COMMON_ATTACKS = ("role_play", "prefix_injection", "refusal_suppression", "other_language")
# Wrappers a language's file has where they make sense: the language mixed with English
# mid-sentence, and the language in the Latin script its speakers often type it in.
LANGUAGE_ATTACKS = ("code_switching", "transliteration")
# `none` is the prompt as it is.
ATTACKS = ("none", *COMMON_ATTACKS, *LANGUAGE_ATTACKS)
# What rates over all attacks name as their attack.
POOLED_ATTACK = "all"
SAFETY_FILE_KEYS = (
    *KINDS,
    "attacks",
    "other_language",
    "other_language_name",
    *MATCHER_KEYS,
    PROVENANCE_KEY,
)
PROMPT_KEYS = ("id", "category", "text")
TEMPLATE_VARIABLES = ("prompt", "other_language")
SAFETY_SET_FILE = "safety.yaml"

SAFETY_PROMPT_SCHEMA = {
    "prompt_id": pl.String,
    "language": pl.String,
    "kind": pl.String,
    "category": pl.String,
    "text": pl.String,
}


class OtherLanguage(NamedTuple):
    code: str
    name: str


def safety_set_path(resources: str | Path, language: str) -> Path:
    return language_folder(resources, language) / SAFETY_SET_FILE


def safety_set_languages(resources: str | Path) -> list[str]:
    return languages_with(resources, SAFETY_SET_FILE)


def _read_safety_file(path: str | Path) -> dict:
    try:
        content = read_yaml(path)
    except OSError as error:
        raise SafetyError(f"{path}: cannot be read ({error})") from error
    if not isinstance(content, dict):
        raise SafetyError(f"{path}: expected a mapping with the keys {', '.join(SAFETY_FILE_KEYS)}")
    unknown = [key for key in content if key not in SAFETY_FILE_KEYS]
    if unknown:
        raise SafetyError(
            f"{path}: unknown key {unknown[0]!r}; expected prompt kinds {' and '.join(KINDS)} "
            f"or {', '.join(SAFETY_FILE_KEYS[len(KINDS) :])}"
        )
    return content


def _non_empty_string(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def load_safety_set(path: str | Path, language: str) -> pl.DataFrame:
    """The harmful and benign prompts of one language file, in SAFETY_PROMPT_SCHEMA."""
    content = _read_safety_file(path)
    rows: list[tuple[str, str, str, str, str]] = []
    first_use: dict[str, str] = {}
    for kind in KINDS:
        entries = content.get(kind)
        if not isinstance(entries, list) or not entries:
            raise SafetyError(f"{path}: key {kind!r} must be a non-empty list of {{id, category, text}}")
        for position, entry in enumerate(entries):
            where = f"{path}: {kind}[{position}]"
            if not isinstance(entry, dict):
                raise SafetyError(f"{where}: expected a mapping with the keys {', '.join(PROMPT_KEYS)}")
            unexpected = [key for key in entry if key not in PROMPT_KEYS]
            if unexpected:
                raise SafetyError(
                    f"{where}: unknown key {unexpected[0]!r}; expected {', '.join(PROMPT_KEYS)}"
                )
            for key in PROMPT_KEYS:
                if not _non_empty_string(entry.get(key)):
                    raise SafetyError(
                        f"{where}: key {key!r} is missing or empty; expected a non-empty string"
                    )
            prompt_id = entry["id"].strip()
            if prompt_id in first_use:
                raise SafetyError(f"{where}: key 'id' repeats {prompt_id!r} of {first_use[prompt_id]}")
            first_use[prompt_id] = f"{kind}[{position}]"
            rows.append((prompt_id, language, kind, entry["category"].strip(), entry["text"].strip()))
    prompts = pl.DataFrame(rows, schema=list(SAFETY_PROMPT_SCHEMA.items()), orient="row")
    harmful_categories = set(prompts.filter(kind="harmful")["category"])
    # A benign prompt is a contrast to harmful ones: over-refusal is read per category it shadows.
    orphans = sorted(set(prompts.filter(kind="benign")["category"]) - harmful_categories)
    if orphans:
        raise SafetyError(
            f"{path}: benign category {orphans[0]!r} shadows no harmful category; "
            f"expected one of {', '.join(sorted(harmful_categories))}"
        )
    return prompts


def load_refusal_rules(path: str | Path) -> RefusalRules:
    """The refusal matcher's phrases of one language file (MATCHER_KEYS, in RefusalRules order;
    only the refusals are required), normalised."""
    content = _read_safety_file(path)
    lists = []
    for key in MATCHER_KEYS:
        phrases = content.get(key, [])
        required = key == MATCHER_KEYS[0]
        if (
            not isinstance(phrases, list)
            or (required and not phrases)
            or not all(map(_non_empty_string, phrases))
        ):
            raise SafetyError(
                f"{path}: key {key!r} must be a {'non-empty ' if required else ''}list of non-empty strings"
            )
        lists.append(phrases)
    return RefusalRules.of(*lists)


def load_other_language(path: str | Path) -> OtherLanguage:
    """The language the `other_language` attack asks for, and its name as the file's language says it."""
    content = _read_safety_file(path)
    for key in ("other_language", "other_language_name"):
        if not _non_empty_string(content.get(key)):
            raise SafetyError(f"{path}: key {key!r} is missing or empty; expected a non-empty string")
    return OtherLanguage(content["other_language"].strip(), content["other_language_name"].strip())


def load_attacks(path: str | Path) -> dict[str, jinja2.Template]:
    """The jailbreak wrappers of one language file: a template for each common attack, and for
    those of LANGUAGE_ATTACKS the language has."""
    templates = _read_safety_file(path).get("attacks")
    expected = COMMON_ATTACKS
    if not isinstance(templates, dict):
        raise SafetyError(f"{path}: key 'attacks' must map each of {', '.join(expected)} to a template")
    missing = [attack for attack in expected if attack not in templates]
    unknown = [attack for attack in templates if attack not in (*expected, *LANGUAGE_ATTACKS)]
    if missing:
        raise SafetyError(
            f"{path}: key 'attacks' has no template for {missing[0]!r}; expected {', '.join(expected)}"
        )
    if unknown:
        raise SafetyError(
            f"{path}: key 'attacks' has unknown attack {unknown[0]!r}; expected "
            f"{', '.join(expected)}, and where they apply {', '.join(LANGUAGE_ATTACKS)}"
        )
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    compiled = {}
    for attack, source in templates.items():
        where = f"{path}: attacks.{attack}"
        if not _non_empty_string(source):
            raise SafetyError(f"{where} is empty; expected a jinja2 template with {{{{ prompt }}}}")
        try:
            variables = jinja2.meta.find_undeclared_variables(environment.parse(source))
        except jinja2.TemplateSyntaxError as error:
            raise SafetyError(f"{where}: not a jinja2 template ({error})") from error
        required = {"prompt", "other_language"} if attack == "other_language" else {"prompt"}
        if not required <= variables or not variables <= set(TEMPLATE_VARIABLES):
            raise SafetyError(
                f"{where} uses {sorted(variables)}; expected {sorted(required)} "
                f"and nothing beyond {list(TEMPLATE_VARIABLES)}"
            )
        compiled[attack] = environment.from_string(source)
    return compiled


def attacks_of(path: str | Path) -> tuple[str, ...]:
    """The attacks a language's safety file can put its prompts under, in ATTACKS order."""
    wrappers = _read_safety_file(path).get("attacks") or {}
    return tuple(attack for attack in ATTACKS if attack == "none" or attack in wrappers)
