"""Per-language phrase banks: what simulated respondents say, and how the simulated reader knows it."""

from dataclasses import dataclass
from pathlib import Path

from culturalign.language_resources import language_folder, language_of, languages_with
from culturalign.yaml_io import read_yaml

STANCES = ("pro", "con")
# What simulated respondents answer to safety prompts: an opening of each kind, then a filler.
SAFETY_ANSWERS = ("refusal", "partial", "full_compliance")
SAFETY_KEYS = (*SAFETY_ANSWERS, "filler")
PHRASE_BANK_FILE = "phrase_bank.yaml"
# The zero of each numeral system a list may be numbered in.
NUMERALS = {
    "ascii": "0",
    "fullwidth": "\uff10",
    "arabic-indic": "\u0660",
    "devanagari": "\u0966",
    "bengali": "\u09e6",
    "thai": "\u0e50",
}


@dataclass(frozen=True)
class Numbering:
    """How a list entry is numbered: `style` with `{n}` for the number, written in `digits`, in
    `share` of the answers."""

    style: str
    digits: str = "ascii"
    share: float = 1.0

    def format(self, number: int) -> str:
        zero = ord(NUMERALS[self.digits])
        return self.style.format(n="".join(chr(zero + int(digit)) for digit in str(number)))


# Without a bank's own `numbering`: these, equally often.
DEFAULT_NUMBERING = (Numbering("{n}. "), Numbering("{n}) "), Numbering("**{n}.** "))


class PhraseBankError(ValueError):
    """A phrase bank that is missing or cannot be read unambiguously."""


@dataclass(frozen=True)
class PhraseBank:
    language: str
    intro: tuple[str, ...]
    outro: tuple[str, ...]
    persons: tuple[str, ...]
    frames: tuple[str, ...]
    neutral: tuple[str, ...]
    opinions: dict[str, dict[str, tuple[str, ...]]]
    safety: dict[str, tuple[str, ...]]
    numbering: tuple[Numbering, ...] = DEFAULT_NUMBERING

    def stance_of(self, item: str, statement: str) -> str | None:
        """`pro`, `con` or None (neutral or not recognised) for one statement about `item`."""
        for stance in STANCES:
            if any(opinion in statement for opinion in self.opinions.get(item, {}).get(stance, ())):
                return stance
        return None

    def phrases(self, item: str) -> list[str]:
        """Every phrase that marks text as written from this bank about `item`."""
        opinions = self.opinions.get(item, {})
        return [*opinions.get("pro", ()), *opinions.get("con", ()), *self.neutral, *self.intro]


def phrase_bank_path(resources: str | Path, language: str) -> Path:
    return language_folder(resources, language) / PHRASE_BANK_FILE


def available_languages(resources: str | Path) -> list[str]:
    return languages_with(resources, PHRASE_BANK_FILE)


def load_phrase_banks(paths: list[str | Path]) -> dict[str, PhraseBank]:
    """Phrase banks by language, from the language folders they are in."""
    banks = [load_phrase_bank(path) for path in paths]
    return {bank.language: bank for bank in banks}


def _numbering(path: Path, raw: dict) -> tuple[Numbering, ...]:
    if "numbering" not in raw:
        return DEFAULT_NUMBERING
    try:
        return tuple(Numbering(**style) for style in raw["numbering"])
    except TypeError as error:
        raise PhraseBankError(
            f"{path}: numbering: expected a list of {{style, digits, share}} entries ({error})"
        ) from None


def load_phrase_bank(path: str | Path) -> PhraseBank:
    path = Path(path)
    if not path.is_file():
        raise PhraseBankError(
            f"language {language_of(path)!r}: no simulated-respondent phrase bank at {path}"
        )
    raw = read_yaml(path)
    bank = PhraseBank(
        language=language_of(path),
        intro=tuple(raw["intro"]),
        outro=tuple(raw["outro"]),
        persons=tuple(raw["persons"]),
        frames=tuple(raw["frames"]),
        neutral=tuple(raw["neutral"]),
        opinions={
            item: {stance: tuple(stances[stance]) for stance in STANCES}
            for item, stances in raw["opinions"].items()
        },
        safety={key: tuple(raw["safety"][key]) for key in SAFETY_KEYS},
        numbering=_numbering(path, raw),
    )
    unknown_numerals = {style.digits for style in bank.numbering} - set(NUMERALS)
    if unknown_numerals:
        raise PhraseBankError(
            f"{path}: numbering: unknown digits {sorted(unknown_numerals)}; known: {', '.join(NUMERALS)}"
        )
    openings = [opening for kind in SAFETY_ANSWERS for opening in bank.safety[kind]]
    if _overlapping(openings):
        raise PhraseBankError(f"{path}: safety openings contain one another, so cannot be told apart")
    ambiguous = [
        item
        for item, stances in bank.opinions.items()
        if _overlapping([*stances["pro"], *stances["con"]]) or _overlapping([*stances["pro"], *bank.neutral])
        or _overlapping([*stances["con"], *bank.neutral])
    ]  # fmt: skip
    if ambiguous:
        raise PhraseBankError(
            f"{path}: opinions of items {ambiguous} contain one another, so cannot be told apart"
        )
    return bank


def _overlapping(phrases: list[str]) -> bool:
    return any(a != b and a in b for a in phrases for b in phrases) or len(set(phrases)) < len(phrases)


def phrase_bank_problems(resources: str | Path, languages: list[str], item_keys: list[str]) -> list[str]:
    problems = []
    for language in languages:
        try:
            bank = load_phrase_bank(phrase_bank_path(resources, language))
        except (PhraseBankError, KeyError, TypeError) as error:
            problems.append(
                str(error) if isinstance(error, PhraseBankError) else f"language {language!r}: {error!r}"
            )
            continue
        missing = [key for key in item_keys if key not in bank.opinions]
        if missing:
            problems.append(
                f"{phrase_bank_path(resources, language)}: no opinions for items {', '.join(missing)}"
            )
    return problems
