"""The safety prompts of a language under every attack, and the requests that put them to a model."""

import functools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import jinja2
import polars as pl

from culturalign.backends import GenerationRequest
from culturalign.calls import keyed_request
from culturalign.safety import SafetyError
from culturalign.safety.external import PROBLEM_SCHEMA, external_prompts
from culturalign.safety.sets import (
    ATTACKS,
    SAFETY_PROMPT_SCHEMA,
    load_attacks,
    load_other_language,
    load_safety_set,
)

ATTACKED_PROMPT_SCHEMA = {
    **{column: dtype for column, dtype in SAFETY_PROMPT_SCHEMA.items() if column != "text"},
    "attack": pl.String,
    "text": pl.String,
}


@functools.cache
def _romaniser():
    from uroman import Uroman

    return Uroman()


def romanised(texts: Sequence[str]) -> list[str]:
    """Texts in the Latin script, as uroman (a universal romaniser) writes them, lowercased the
    way people type a romanised language."""
    return [_romaniser().romanize_string(text).lower() for text in texts]


def attacked_prompts(
    prompts: pl.DataFrame,
    attacks: Iterable[str],
    templates: Mapping[str, jinja2.Template],
    other_language_name: str | None = None,
) -> pl.DataFrame:
    """Every prompt under every attack, in ATTACKED_PROMPT_SCHEMA; `none` leaves the text as it is,
    and `transliteration` wraps the prompt written in the Latin script."""
    context = {} if other_language_name is None else {"other_language": other_language_name}
    frames = []
    for attack in attacks:
        if attack == "none":
            texts = prompts["text"]
        elif attack in templates:
            requests = prompts["text"].to_list()
            if attack == "transliteration":
                requests = romanised(requests)
            try:
                texts = [templates[attack].render(prompt=text, **context) for text in requests]
            except jinja2.UndefinedError as error:
                raise SafetyError(f"attack {attack!r} cannot be rendered: {error}") from error
        else:
            raise SafetyError(f"attack {attack!r} has no template; expected one of {', '.join(ATTACKS)}")
        frames.append(
            prompts.with_columns(attack=pl.lit(attack), text=pl.Series(texts, dtype=pl.String)).select(
                list(ATTACKED_PROMPT_SCHEMA)
            )
        )
    return pl.concat(frames) if frames else pl.DataFrame(schema=ATTACKED_PROMPT_SCHEMA)


def language_safety_prompts(
    safety_file: str | Path | None,
    language: str,
    attacks: Sequence[str],
    *,
    builtin: bool = True,
    external: Sequence[Mapping[str, str]] = (),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every safety prompt of one language under every attack (ATTACKED_PROMPT_SCHEMA): ours from
    the language's safety file when `builtin`, and those of the external sets, wrapped in that
    file's attack templates; and the problems of the external rows skipped. A language without
    our file (None) has the external prompts only, under no attack but `none`."""
    sets = [load_safety_set(safety_file, language)] if builtin and safety_file is not None else []
    problems = [pl.DataFrame(schema=PROBLEM_SCHEMA)]
    for source in external:
        prompts, skipped = external_prompts(source, language)
        sets.append(prompts)
        problems.append(skipped)
    prompts = pl.concat(sets) if sets else pl.DataFrame(schema=SAFETY_PROMPT_SCHEMA)
    repeated = prompts.filter(pl.col("prompt_id").is_duplicated())["prompt_id"].unique().to_list()
    if repeated:
        raise SafetyError(f"{language}: prompt id {repeated[0]!r} comes from more than one prompt set")
    if safety_file is None:
        return attacked_prompts(prompts, attacks, {}), pl.concat(problems)
    templates = load_attacks(safety_file)
    other = load_other_language(safety_file)
    return attacked_prompts(prompts, attacks, templates, other.name), pl.concat(problems)


def safety_requests(
    prompts: pl.DataFrame, *, attack: str, settings: dict, parameters: dict
) -> list[GenerationRequest]:
    """The requests of one (model, language, attack) run: each prompt under the attack as a single
    user message; the request's item is the prompt's kind."""
    return [
        keyed_request(
            settings,
            text,
            parameters,
            f"safety/{attack}/{prompt_id}",
            prompt_id=prompt_id,
            item=kind,
            language=language,
            seed=0,
            attack=attack,
        )
        for prompt_id, kind, language, text in prompts.filter(pl.col("attack") == attack)
        .select("prompt_id", "kind", "language", "text")
        .iter_rows()
    ]
