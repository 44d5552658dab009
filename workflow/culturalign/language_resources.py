"""Where a language's resources live: one folder per language under resources/languages/, holding its
prompt templates, topic paraphrases, simulated respondents' phrase bank and safety set, so that adding
a language is adding one folder. A language has a resource when its folder has that resource's file:
a folder may hold some and not others."""

from pathlib import Path

from culturalign.yaml_io import read_yaml

LANGUAGES_FOLDER = "languages"
# Every file a language's folder may hold: its prompt templates and topic paraphrases, the
# simulated respondents' phrase bank, the safety set, and the labelled answers the refusal matcher
# is measured on (each optional).
LANGUAGE_FILES = ("templates.yaml", "topics.yaml", "phrase_bank.yaml", "safety.yaml", "labelled_answers.yaml")


def language_folder(resources: str | Path, language: str) -> Path:
    return Path(resources) / LANGUAGES_FOLDER / language


def languages_with(resources: str | Path, file_name: str) -> list[str]:
    """The languages whose folder holds `file_name`, sorted."""
    return sorted(path.parent.name for path in (Path(resources) / LANGUAGES_FOLDER).glob(f"*/{file_name}"))


def language_of(path: str | Path) -> str:
    """The language a resource file belongs to: the name of the folder it is in."""
    return Path(path).parent.name


# Every file of a language the project wrote says so under this key (README: New languages).
PROVENANCE_KEY = "provenance"


def provenance(resources: str | Path, language: str) -> str | None:
    """Who wrote a language's resources, as its files say (their `provenance`, joined when they
    differ), or None when they do not say."""
    said = []
    for name in LANGUAGE_FILES:
        path = language_folder(resources, language) / name
        content = read_yaml(path) if path.is_file() else None
        stated = content.get(PROVENANCE_KEY) if isinstance(content, dict) else None
        if stated and stated not in said:
            said.append(stated)
    return "; ".join(said) or None


def is_unreviewed(stated: str | None) -> bool:
    """Whether a provenance says no native speaker reviewed the text."""
    return stated is not None and "not reviewed" in stated


def language_strings(resources: str | Path, language: str) -> dict[str, str]:
    """Every string a language's own files hold, keyed by where it is: `templates/3`,
    `topics/a001/2`, `phrase_bank/opinions/a001/pro/1`, `safety/harmful/weapons-01`,
    `safety/attacks/role_play`, ... English's topics are those of the item bank (`items.yaml`).
    The same key holds the same string in every language, so each has its English source."""
    folder = language_folder(resources, language)
    strings = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, str):
            strings[prefix] = value
        elif isinstance(value, list) and all(isinstance(entry, dict) and "id" in entry for entry in value):
            for entry in value:
                strings[f"{prefix}/{entry['id']}"] = entry["text"]
        elif isinstance(value, list):
            for index, entry in enumerate(value):
                walk(f"{prefix}/{index}", entry)
        elif isinstance(value, dict):
            for key, entry in value.items():
                walk(f"{prefix}/{key}", entry)

    for file_name in LANGUAGE_FILES:
        name, path = Path(file_name).stem, folder / file_name
        content = read_yaml(path) if path.is_file() else None
        if name == "topics" and language == "en":
            items = read_yaml(Path(resources) / "items.yaml")
            content = {key: item["topics"] for key, item in items.items()}
        for key, value in (content or {}).items():
            if key not in (PROVENANCE_KEY, "other_language", "numbering"):
                walk(f"{name}/{key}", value)
    return strings


BACK_TRANSLATION_FILE = "back_translation.yaml"
# The refusal matcher's substrings in a safety file (culturalign.safety.refusal.RefusalRules).
MATCHER_KEYS = ("refusal_phrases", "refusal_lookalikes", "compliance_phrases", "partial_phrases")
# Strings that are no translation of an English one at the same key: a language's own matcher
# substrings and labelled answers, the other language's name, and the wrappers only some languages have.
UNTRANSLATED = (
    *MATCHER_KEYS,
    "labelled_answers",
    "other_language_name",
    "code_switching",
    "transliteration",
)


def translated_strings(resources: str | Path, language: str) -> dict[str, str]:
    """A language's strings that translate the English string at the same key."""
    return {
        key: text
        for key, text in language_strings(resources, language).items()
        if not any(part in key for part in UNTRANSLATED)
    }


def back_translation_chrf(resources: str | Path, language: str) -> tuple[float, dict[str, float]] | None:
    """How close the stored back-translation of a language's strings (back_translation.yaml, by
    another writer than the translator) comes to the English sources: corpus chrF, and each
    string's sentence chrF; None without a back-translation."""
    from sacrebleu import corpus_chrf, sentence_chrf

    path = language_folder(resources, language) / BACK_TRANSLATION_FILE
    if not path.is_file():
        return None
    back = read_yaml(path)["strings"]
    english = language_strings(resources, "en")
    keys = [key for key in translated_strings(resources, language) if key in english]
    missing = [key for key in keys if not back.get(key)]
    if missing:
        raise ValueError(f"{path}: no back-translation of {len(missing)} strings, e.g. {missing[0]}")
    corpus = corpus_chrf([back[key] for key in keys], [[english[key] for key in keys]]).score
    return corpus, {key: sentence_chrf(back[key], [english[key]]).score for key in keys}
