"""Prompt stage: the hypothetical-survey prompt bank and the seeded, language-parallel sample.

The sample is drawn once per seed, independently of the language: prompt k of seed s asks about the
same item with the same template and topic paraphrase in every language, so that languages are
comparable prompt by prompt.
"""

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import polars as pl

from culturalign.items import Item
from culturalign.language_resources import LANGUAGE_FILES, language_folder
from culturalign.stats import random_stream
from culturalign.yaml_io import read_yaml

TEMPLATES_FILE = "templates.yaml"
TOPICS_FILE = "topics.yaml"
DESIGN_SCHEMA = {"prompt_id": pl.String, "item": pl.String, "template_id": pl.Int64, "variation_id": pl.Int64}


class PromptBankError(ValueError):
    """Prompt resources that are missing or do not line up across languages."""


@dataclass(frozen=True)
class PromptBank:
    language: str
    templates: tuple[str, ...]
    topics: dict[str, tuple[str, ...]]


def templates_path(resources: Path, language: str) -> Path:
    return language_folder(resources, language) / TEMPLATES_FILE


def topics_path(resources: Path, language: str) -> Path:
    return language_folder(resources, language) / TOPICS_FILE


def has_prompt_resources(resources: Path, language: str) -> bool:
    """Whether a language has hand-written prompt resources; they always win over a translation."""
    return templates_path(resources, language).is_file() or topics_path(resources, language).is_file()


def translated_languages(resources: str | Path, languages: list[str], translator: str | None) -> list[str]:
    """The languages whose prompt resources are machine-translated from English: those without
    hand-written ones, when a translator is configured."""
    if translator is None:
        return []
    return [
        language
        for language in languages
        if language != "en" and not has_prompt_resources(Path(resources), language)
    ]


def load_prompt_bank(
    language: str, items: dict[str, Item], templates_file: str | Path, topics_file: str | Path | None = None
) -> PromptBank:
    """Templates and topic paraphrases of one language; English topics come from the item bank."""
    templates = read_yaml(templates_file)["templates"]
    if topics_file is None:
        topics = {key: item.topics for key, item in items.items()}
    else:
        translated = read_yaml(topics_file)
        missing = [key for key in items if key not in translated]
        if missing:
            raise PromptBankError(f"{topics_file}: no topic paraphrases for items {', '.join(missing)}")
        topics = {key: tuple(translated[key]) for key in items}
    return PromptBank(language=language, templates=tuple(templates), topics=topics)


def prompt_bank_problems(
    resources: str | Path,
    languages: list[str],
    items: dict[str, Item],
    machine_translated: Collection[str] = (),
) -> list[str]:
    """Everything missing or inconsistent in the prompt resources of `languages`, as messages.
    `machine_translated` languages are skipped: their resources are translated parallel to English."""
    resources = Path(resources)
    problems = []
    shapes = {}
    for language in languages:
        if language in machine_translated:
            continue
        path = templates_path(resources, language)
        if not path.is_file():
            translatable = language != "en" and not has_prompt_resources(resources, language)
            folder = language_folder(resources, language)
            absent = [name for name in LANGUAGE_FILES if not (folder / name).is_file()]
            hint = (
                f" (missing: {', '.join(absent)}); write that folder (README: New languages), or set "
                "translation.translator to translate its prompts"
                if translatable
                else ""
            )
            problems.append(f"language {language!r}: no prompt templates at {path}{hint}")
            continue
        templates = (read_yaml(path) or {}).get("templates") or []
        unusable = [i for i, template in enumerate(templates) if template.count("{{ topic }}") != 1]
        if len(templates) < 2 or unusable:
            problems.append(
                f"{path}: expected a list `templates` of at least 2 strings, each with {{{{ topic }}}} "
                f"once; templates {unusable} are not"
            )
        if language == "en":
            variations = {key: len(item.topics) for key, item in items.items()}
        else:
            path = topics_path(resources, language)
            if not path.is_file():
                problems.append(f"language {language!r}: no topic paraphrases at {path}")
                continue
            translated = read_yaml(path) or {}
            missing = [key for key in items if key not in translated]
            if missing:
                problems.append(f"{path}: no topic paraphrases for items {', '.join(missing)}")
                continue
            variations = {key: len(translated[key]) for key in items}
        shapes[language] = (len(templates), variations)
    if len({(count, tuple(sorted(v.items()))) for count, v in shapes.values()}) > 1:
        summary = ", ".join(
            f"{language}: {count} templates, {sorted(set(v.values()))} paraphrases per item"
            for language, (count, v) in shapes.items()
        )
        problems.append(
            "prompt resources must have the same number of templates and of paraphrases per item in "
            f"every language, so that prompts are parallel across languages ({summary})"
        )
    return problems


def sample_prompt_design(variations: dict[str, int], prompts: int, seed: int, templates: int) -> pl.DataFrame:
    """`prompts` (item, template, paraphrase) triples, balanced over the items.

    `variations` maps each item to its number of topic paraphrases. Item counts differ by at most
    one; within an item no (template, paraphrase) pair repeats until all have been used."""
    rng = random_stream(seed, "prompts")
    keys = sorted(variations)
    counts = np.full(len(keys), prompts // len(keys))
    counts[rng.permutation(len(keys))[: prompts % len(keys)]] += 1
    rows = []
    for key, count in zip(keys, counts, strict=True):
        if count == 0:  # fewer prompts than items
            continue
        pairs = templates * variations[key]
        order = np.concatenate([rng.permutation(pairs) for _ in range(-(-count // pairs))])[:count]
        rows += [(key, int(pair // variations[key]), int(pair % variations[key])) for pair in order]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    width = len(str(prompts - 1))
    return pl.DataFrame(
        [(f"{seed}-{k:0{width}d}", *row) for k, row in enumerate(rows)],
        schema=list(DESIGN_SCHEMA.items()),
        orient="row",
    )


def render_prompts(design: pl.DataFrame, bank: PromptBank) -> pl.DataFrame:
    """The design in one language: prompt_id, item, template_id, variation_id, text."""
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    templates = [environment.from_string(template) for template in bank.templates]
    texts = [
        templates[template_id].render(topic=bank.topics[item][variation_id])
        for item, template_id, variation_id in design.select(
            "item", "template_id", "variation_id"
        ).iter_rows()
    ]
    return design.with_columns(pl.Series("text", texts, dtype=pl.String))
