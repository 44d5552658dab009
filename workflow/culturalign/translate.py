"""Machine translation of the prompt resources (templates and topic paraphrases) into a language
that has none written by hand.

Every English template and every topic paraphrase of every item is translated by the configured
translator, through the same backends, cache and ledger as generation. A translation that breaks
the `{{ topic }}` placeholder is asked again under a new request key, up to `max_attempts`, then
stops the job: a prompt without its topic would be wrong without anyone noticing. Each translation
is translated back into English and scored against its source with chrF; a low score flags it for
a human to review but keeps it, since the prompt bank must stay parallel to English.
"""

from dataclasses import dataclass
from pathlib import Path

import jinja2
import polars as pl
import pycountry
import yaml
from sacrebleu import sentence_chrf

from culturalign.backends import Backend, GenerationRequest
from culturalign.cache import CompletionCache
from culturalign.calls import generate_responses, keyed_request
from culturalign.language_resources import language_folder
from culturalign.prompts import TOPICS_FILE, PromptBank, templates_path

SOURCE_LANGUAGE = "en"
PLACEHOLDER = "{{ topic }}"
# A template is rendered by Jinja2, so any other markup in it would break or change the prompt.
JINJA_MARKERS = ("{{", "}}", "{%", "{#")
TRANSLATE_SAMPLING = {"temperature": 0.0, "max_tokens": 500}
REVIEW_SCHEMA = {
    "kind": pl.String,
    "item": pl.String,
    "index": pl.Int64,
    "source": pl.String,
    "translation": pl.String,
    "back_translation": pl.String,
    "chrf": pl.Float64,
    "flagged": pl.Boolean,
}


class TranslationError(RuntimeError):
    """Translations that still break the placeholder after every attempt."""


@dataclass(frozen=True)
class Source:
    """One English text to translate: a template, or one topic paraphrase of an item."""

    kind: str  # "template" or "topic"
    item: str | None
    index: int
    text: str

    @property
    def name(self) -> str:
        """Where the text sits in templates.yaml or topics.yaml."""
        return f"templates[{self.index}]" if self.kind == "template" else f"{self.item}[{self.index}]"


def language_name(code: str) -> str:
    return pycountry.languages.get(alpha_2=code).name


def english_sources(bank: PromptBank) -> list[Source]:
    """Every template and every topic paraphrase of the English prompt bank, in file order."""
    templates = [Source("template", None, index, text) for index, text in enumerate(bank.templates)]
    topics = [
        Source("topic", item, index, text)
        for item, paraphrases in bank.topics.items()
        for index, text in enumerate(paraphrases)
    ]
    return templates + topics


def load_translation_prompt(path: str | Path) -> jinja2.Template:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return environment.from_string(Path(path).read_text(encoding="utf-8"))


def placeholder_problem(kind: str, text: str | None) -> str | None:
    """Why a translation cannot be used as a template or topic; None when it can."""
    if text is None or not text.strip():
        return "no translation"
    rest = text
    if kind == "template":
        count = text.count(PLACEHOLDER)
        if count != 1:
            return f"{PLACEHOLDER} appears {count} times, expected once"
        rest = text.replace(PLACEHOLDER, "")
    stray = [marker for marker in JINJA_MARKERS if marker in rest]
    if stray:
        return f"stray Jinja markup {stray[0]!r}" + (f" besides {PLACEHOLDER}" if kind == "template" else "")
    return None


def translation_request(
    prompt: jinja2.Template,
    source: Source,
    text: str,
    *,
    source_language: str,
    target_language: str,
    settings: dict,
    attempt: int,
) -> GenerationRequest:
    """The request to translate `text` (the source, or its translation on the way back). Its key
    covers the translator, the messages and the attempt: a retry is a new request, a rerun is not."""
    content = prompt.render(
        source=language_name(source_language),
        target=language_name(target_language),
        kind=source.kind,
        placeholder=PLACEHOLDER,
        text=text,
    )
    return keyed_request(
        settings,
        content,
        TRANSLATE_SAMPLING,
        f"translate/attempt-{attempt}",
        prompt_id=source.name,
        item=source.item or "",
        language=target_language,
        seed=0,
    )


def translate_sources(
    sources: list[Source],
    prompt: jinja2.Template,
    backend: Backend,
    cache: CompletionCache | None,
    *,
    settings: dict,
    language: str,
    max_attempts: int,
) -> tuple[list[str], list[pl.DataFrame]]:
    """Each source's translation into `language`, in order, and the calls made (for the ledger).
    Raises TranslationError, quoting each broken translation, when retries do not mend them."""
    translations: dict[int, str] = {}
    broken: dict[int, tuple[str | None, str]] = {}
    pending = list(range(len(sources)))
    calls = []
    for attempt in range(max_attempts):
        if not pending:
            break
        requests = [
            translation_request(
                prompt,
                sources[index],
                sources[index].text,
                source_language=SOURCE_LANGUAGE,
                target_language=language,
                settings=settings,
                attempt=attempt,
            )
            for index in pending
        ]
        answers, _ = generate_responses(requests, backend, cache)
        calls.append(answers)
        retry = []
        for index, text, error in zip(pending, answers["text"], answers["error"], strict=True):
            text = text.strip() if text is not None else None
            problem = error or placeholder_problem(sources[index].kind, text)
            if problem is None:
                translations[index] = text
                broken.pop(index, None)
            else:
                broken[index] = (text, problem)
                retry.append(index)
        pending = retry
    if broken:
        listed = "\n".join(
            f"  {sources[index].name}: {text!r} ({problem})"
            for index, (text, problem) in sorted(broken.items())
        )
        raise TranslationError(
            f"translation into {language_name(language)} ({language}): {len(broken)} unusable after "
            f"{max_attempts} attempts:\n{listed}\n"
            f"Raise translation.max_attempts to ask again (earlier answers stay cached), or write "
            f"{templates_path('resources', language)} and {TOPICS_FILE} by hand."
        )
    return [translations[index] for index in range(len(sources))], calls


def back_translate(
    sources: list[Source],
    translations: list[str],
    prompt: jinja2.Template,
    backend: Backend,
    cache: CompletionCache | None,
    *,
    settings: dict,
    language: str,
) -> tuple[list[str | None], pl.DataFrame]:
    """Each translation translated back into English (None where the translator failed)."""
    requests = [
        translation_request(
            prompt,
            source,
            translation,
            source_language=language,
            target_language=SOURCE_LANGUAGE,
            settings=settings,
            attempt=0,
        )
        for source, translation in zip(sources, translations, strict=True)
    ]
    answers, _ = generate_responses(requests, backend, cache)
    back = [text.strip() if text is not None else None for text in answers["text"]]
    return back, answers


def review_table(
    sources: list[Source], translations: list[str], back_translations: list[str | None], min_chrf: float
) -> pl.DataFrame:
    """One row per translated text with the chrF of its back-translation against the source."""
    rows = []
    for source, translation, back in zip(sources, translations, back_translations, strict=True):
        chrf = sentence_chrf(back or "", [source.text]).score
        rows.append(
            {
                "kind": source.kind,
                "item": source.item,
                "index": source.index,
                "source": source.text,
                "translation": translation,
                "back_translation": back,
                "chrf": chrf,
                "flagged": chrf < min_chrf,
            }
        )
    return pl.DataFrame(rows, schema=REVIEW_SCHEMA)


def translate_prompt_bank(
    english: PromptBank,
    prompt: jinja2.Template,
    backend: Backend,
    cache: CompletionCache | None,
    *,
    settings: dict,
    language: str,
    max_attempts: int,
    min_chrf: float,
) -> tuple[PromptBank, pl.DataFrame, pl.DataFrame]:
    """The English prompt bank in `language`, its review table and every call made (the ledger's)."""
    sources = english_sources(english)
    translations, calls = translate_sources(
        sources, prompt, backend, cache, settings=settings, language=language, max_attempts=max_attempts
    )
    back, back_calls = back_translate(
        sources, translations, prompt, backend, cache, settings=settings, language=language
    )
    templates: list[str] = []
    topics: dict[str, list[str]] = {item: [] for item in english.topics}
    for source, text in zip(sources, translations, strict=True):
        (templates if source.kind == "template" else topics[source.item]).append(text)
    bank = PromptBank(
        language=language,
        templates=tuple(templates),
        topics={item: tuple(paraphrases) for item, paraphrases in topics.items()},
    )
    review = review_table(sources, translations, back, min_chrf)
    return bank, review, pl.concat([*calls, back_calls])


def machine_translated_header(language: str, translator: str, settings: dict, review_path: str | Path) -> str:
    """The comment that opens a translated resource file: a reader must see it is not hand-written."""
    return (
        f"# Machine-translated from English into {language_name(language)} by the translator model "
        f"{translator!r} ({settings['model']}), not written by hand.\n"
        f"# Back-translation scores for review: {review_path}. To correct a translation, copy this file "
        f"to {language_folder('resources', language)}/ and edit it there: hand-written resources always "
        "win.\n"
    )


def write_prompt_bank(
    bank: PromptBank, templates_file: str | Path, topics_file: str | Path, header: str
) -> None:
    """templates.yaml and topics.yaml in the format of the hand-written ones: one double-quoted
    string per line."""

    def quoted(text: str) -> str:
        # YAML's own escapes: a raw line separator would be folded into a space when read back.
        return yaml.safe_dump(text, default_style='"', allow_unicode=True, width=float("inf")).rstrip("\n")

    def listed(texts: tuple[str, ...]) -> str:
        return "".join(f"  - {quoted(text)}\n" for text in texts)

    Path(templates_file).write_text(header + "templates:\n" + listed(bank.templates), encoding="utf-8")
    topics = "".join(f"{item}:\n" + listed(paraphrases) for item, paraphrases in bank.topics.items())
    Path(topics_file).write_text(header + topics, encoding="utf-8")
