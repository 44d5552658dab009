"""Every shipped language's own files, checked rather than trusted: they say who wrote them, they
are parallel to English (same templates, topics, phrase-bank entries and safety ids), every
placeholder is intact, the language identifier reads their strings as the language (and script
languages are written in their script), and, where a back-translation is stored beside them, it
comes back close to the English source (chrF, reported in the README's language table)."""

import re

import pytest

from conftest import REPO
from culturalign.language_id import identify_language
from culturalign.language_resources import (
    BACK_TRANSLATION_FILE,
    LANGUAGE_FILES,
    MATCHER_KEYS,
    PROVENANCE_KEY,
    UNTRANSLATED,
    back_translation_chrf,
    language_folder,
    language_strings,
    languages_with,
    provenance,
    translated_strings,
)
from culturalign.yaml_io import read_yaml

RESOURCES = REPO / "resources"
SHIPPED = [language for language in languages_with(RESOURCES, "templates.yaml") if language != "en"]
PLACEHOLDER = re.compile(r"\{\{ *\w+ *\}\}|\{\w+\}")
# Strings that are not prose of the language: English mixed in or Latin-script romanisation by
# design, frames (mostly placeholders), short refusal substrings and the other language's name.
NOT_PROSE = ("code_switching", "transliteration", "frames", *MATCHER_KEYS, "other_language_name")
# The placeholders each kind of string carries, exactly once each.
PLACEHOLDERS = {
    "templates/": ("{{ topic }}",),
    "phrase_bank/frames/": ("{person}", "{opinion}"),
    "safety/attacks/other_language": ("{{ prompt }}", "{{ other_language }}"),
    "safety/attacks/": ("{{ prompt }}",),
}
# Letters of the script a language is written in (a string of it is mostly these).
SCRIPTS = {
    "ko": "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f",
    "ja": "\u3040-\u30ff\u4e00-\u9fff",
    "zh": "\u4e00-\u9fff",
    "ar": "\u0600-\u06ff",
    "th": "\u0e00-\u0e7f",
    "bn": "\u0980-\u09ff",
    "hi": "\u0900-\u097f",
}
KANA = re.compile("[\u3040-\u30ff]")
# Share of a language's prose strings the identifier must read as the language: short strings of
# close relatives (Danish and Norwegian) are sometimes read as the relative.
IDENTIFIED = 0.9


def prose(language: str) -> dict[str, str]:
    return {
        key: PLACEHOLDER.sub(" ", text)
        for key, text in language_strings(RESOURCES, language).items()
        if not any(part in key for part in NOT_PROSE)
    }


@pytest.mark.parametrize("language", SHIPPED)
def test_every_file_says_who_wrote_it(language):
    for name in LANGUAGE_FILES:
        assert read_yaml(language_folder(RESOURCES, language) / name).get(PROVENANCE_KEY), (language, name)
    assert provenance(RESOURCES, language).startswith("written by the project")


@pytest.mark.parametrize("language", SHIPPED)
def test_the_files_are_parallel_to_english(language):
    english, own = language_strings(RESOURCES, "en"), language_strings(RESOURCES, language)
    translated = {key for key in english if not any(part in key for part in UNTRANSLATED)}
    missing = sorted(translated - set(own))
    extra = sorted(key for key in set(own) - set(english) if not any(part in key for part in UNTRANSLATED))
    assert not missing and not extra, (missing[:5], extra[:5])


@pytest.mark.parametrize("language", SHIPPED)
def test_placeholders_are_intact(language):
    broken = []
    for key, text in language_strings(RESOURCES, language).items():
        expected = next((marks for prefix, marks in PLACEHOLDERS.items() if key.startswith(prefix)), ())
        found = PLACEHOLDER.findall(text)
        if sorted(found) != sorted(expected) or "{" in PLACEHOLDER.sub("", text):
            broken.append((key, text))
    assert not broken, broken[:5]


@pytest.mark.parametrize("language", SHIPPED)
def test_the_language_identifier_reads_the_language(language):
    strings = prose(language)
    found = {key: identify_language(text) for key, text in strings.items()}
    wrong = {key: language_found for key, language_found in found.items() if language_found != language}
    share = 1 - len(wrong) / len(strings)
    assert share >= IDENTIFIED, (
        round(share, 3),
        [(key, wrong[key], strings[key]) for key in list(wrong)[:10]],
    )


@pytest.mark.parametrize("language", sorted(set(SHIPPED) & set(SCRIPTS)))
def test_script_languages_are_written_in_their_script(language):
    letters = re.compile(f"[{SCRIPTS[language]}]")
    off_script = []
    for key, text in prose(language).items():
        alphabetic = [character for character in text if character.isalpha()]
        if alphabetic and len(letters.findall(text)) < 0.5 * len(alphabetic):
            off_script.append((key, text))
        elif language == "ja" and len(alphabetic) >= 10 and not KANA.search(text):
            off_script.append((key, text))  # kanji alone reads as Chinese
    assert not off_script, off_script[:5]


# The lowest corpus chrF a back-translation may score against the English sources. Faithful
# paraphrases score 15-30 on single strings ("Public officials cannot be relied upon." back as
# "You can't count on civil servants."), so single strings are listed, not failed.
MIN_CHRF = 60


@pytest.mark.parametrize("language", SHIPPED)
def test_the_back_translation_comes_back_close_to_english(language):
    scored = back_translation_chrf(RESOURCES, language)
    assert scored is not None, f"{language}: no {BACK_TRANSLATION_FILE} beside its files"
    corpus, per_string = scored
    worst = sorted(per_string.items(), key=lambda pair: pair[1])[:5]
    assert corpus >= MIN_CHRF, (round(corpus, 1), worst)
    assert set(per_string) == set(translated_strings(RESOURCES, language)) & set(
        language_strings(RESOURCES, "en")
    )
