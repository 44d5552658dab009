import polars as pl
import pytest

from conftest import REPO
from culturalign.backends import GenerationRequest, create_backend
from culturalign.judge import SimulatedReader, judge_responses, response_status, split_statements
from culturalign.phrase_bank import (
    available_languages,
    load_phrase_bank,
    phrase_bank_path,
    phrase_bank_problems,
)

RESOURCES = REPO / "resources"

MESSY = {
    "plain": ("Here are the summaries:\n\n1. First view.\n2. Second view.\n3. Third view.", 3),
    "parenthesis": ("1) One\n2) Two\n3) Three\n4) Four", 4),
    "bold numbers": ("**1.** One\n**2.** Two is **important**\n**3.** Three", 3),
    "bold labels": ("1. **A teacher:** thinks so.\n2. **A nurse:** disagrees.", 2),
    "text after": ("Intro.\n1. a\n2. b\n\nIn conclusion, views differ.\nAnother closing line.", 2),
    "blank lines between": ("1. a\n\n2. b\n\n3. c", 3),
    "continuation": ("1. A long answer that\n   goes on here.\n2. Short.", 2),
    "more than ten": ("\n".join(f"{n}. view {n}" for n in range(1, 13)), 12),
    "fewer than ten": ("\n".join(f"{n}. view {n}" for n in range(1, 8)), 7),
    "bullets and headings": ("- 1. a\n### 2. b\n(3) c", 3),
    "prose": ("The people interviewed had many views. Some agreed, 3 disagreed.", 0),
    "decimal is no entry": ("1. About 3.5 percent agree.\n2. Others disagree.", 2),
    "decimal opening a line is no entry": ("1.5 million people agree.\n2.5 million do not.", 0),
}
# Lists the way each language writes them (escaped, as some marks look like ASCII ones):
# fullwidth full stop, fullwidth digits, ideographic comma, fullwidth parentheses (CJK);
# Arabic-Indic digits with "." or "-" and a right-to-left mark; Thai, Bengali, Devanagari digits.
NATIVE_LISTS = {
    "fullwidth full stop": ("1\uff0e", "\u7b2c\u4e00"),
    "fullwidth digits": ("\uff11.", "\u7b2c\u4e00"),
    "ideographic comma": ("1\u3001", "\u7b2c\u4e00"),
    "fullwidth parentheses": ("\uff081\uff09", "\u7b2c\u4e00"),
    "arabic-indic full stop, right to left": ("\u200f\u0661. ", "\u0631\u0623\u064a"),
    "arabic-indic dash": ("\u0661- ", "\u0631\u0623\u064a"),
    "thai": ("\u0e51. ", "\u0e04\u0e27\u0e32\u0e21"),
    "bengali": ("\u09e7. ", "\u09ae\u09a4"),
    "devanagari": ("\u0967. ", "\u0930\u093e\u092f"),
}


@pytest.mark.parametrize("case", sorted(NATIVE_LISTS))
def test_split_statements_reads_numerals_and_marks_of_every_script(case):
    marker, statement = NATIVE_LISTS[case]
    # the same marker with each of the numbers 1 to 3 in its script
    one = next(character for character in marker if character.isdigit())
    lines = [marker.replace(one, chr(ord(one) + offset)) + f"{statement} {offset}" for offset in range(3)]
    expected = [f"{statement} {n}" for n in range(3)]
    assert split_statements("\n".join(["Intro", *lines, "", "Outro"])) == expected


@pytest.mark.parametrize("case", sorted(MESSY))
def test_split_statements_on_messy_lists(case):
    text, expected = MESSY[case]
    assert len(split_statements(text)) == expected


def test_split_statements_content():
    statements = split_statements(MESSY["bold numbers"][0] + "\n")
    assert statements == ["One", "Two is important", "Three"]
    assert split_statements(MESSY["continuation"][0])[0] == "A long answer that goes on here."
    assert split_statements(MESSY["text after"][0]) == ["a", "b"]
    assert split_statements(None) == [] and split_statements("") == []


def test_response_status_precedence():
    ten = [f"s{i}" for i in range(10)]
    assert response_status(None, [], "unknown", "da", 5) == "error"
    assert response_status("prose", [], "da", "da", 5) == "malformed"
    assert response_status("text", ten[:4], "en", "da", 5) == "malformed"
    assert response_status("text", ten, "en", "da", 5) == "wrong_language"
    assert response_status("text", ten, "da", "da", 5) == "kept"


def test_shipped_phrase_banks_cover_every_item_unambiguously(items):
    languages = available_languages(RESOURCES)
    assert set(languages) >= {"en", "da", "nl", "pt"}
    assert phrase_bank_problems(RESOURCES, languages, list(items)) == []


def banks(languages=("en", "da", "nl", "pt")):
    return {language: load_phrase_bank(phrase_bank_path(RESOURCES, language)) for language in languages}


def respond(settings, scores, language="da", n=40, item="f118", phrase_banks=None):
    truth = pl.DataFrame(
        [("country", country, item, score) for country, score in scores.items()],
        schema=["level", "group", "item", "pro_score"],
        orient="row",
    )
    backend = create_backend(
        "sim", {"backend": "simulated"} | settings, phrase_banks=phrase_banks or banks(), ground_truth=truth
    )
    requests = [GenerationRequest(f"0-{i}", item, language, 0, ()) for i in range(n)]
    completions = backend.generate(requests)
    return pl.DataFrame(
        {"prompt_id": [r.prompt_id for r in requests], "item": item, "text": [c.text for c in completions]}
    )


def read(responses, language="da"):
    return judge_responses(responses, SimulatedReader(banks()), language=language, min_statements=5)


def test_reader_recovers_a_certain_population_exactly():
    settings = {"respondent": "population", "population": "DK", "neutral_rate": 0.0}
    for score, label in [(1.0, "pro"), (0.0, "con")]:
        judged = read(respond(settings, {"DK": score}))
        assert judged["label"].to_list() == [label] * 400
        assert judged["valid"].all() and set(judged["response_language"]) == {"da"}
        assert judged["statement_idx"].max() == 10


@pytest.mark.parametrize("language", available_languages(RESOURCES))
def test_reader_recovers_a_certain_population_in_every_language_and_its_numerals(language):
    """Known answer in each shipped language: a population that is all pro (all con) is read as
    all pro (all con), ten statements an answer, whichever numerals and marks the language numbers
    its lists with (the phrase bank's `numbering`)."""
    every = banks(available_languages(RESOURCES))
    settings = {"respondent": "population", "population": "XX", "neutral_rate": 0.0}
    for score, label in [(1.0, "pro"), (0.0, "con")]:
        responses = respond(settings, {"XX": score}, language=language, phrase_banks=every)
        judged = judge_responses(responses, SimulatedReader(every), language=language, min_statements=5)
        assert judged["label"].to_list() == [label] * 400, language
        assert set(judged["response_language"]) == {language}
        assert judged.group_by("prompt_id").len()["len"].to_list() == [10] * 40
    native = [
        style for style in every[language].numbering if style.format(1) not in ("1. ", "1) ", "**1.** ")
    ]
    if native:  # some answers number their lists the language's own way
        markers = {style.format(1).strip() for style in native}
        assert any(text.split("\n\n")[1].startswith(tuple(markers)) for text in responses["text"])


def test_reader_sees_neutral_statements_as_null():
    settings = {"respondent": "population", "population": "DK", "neutral_rate": 1.0}
    assert set(read(respond(settings, {"DK": 1.0}))["label"]) == {"null"}


def test_wrong_language_and_malformed_answers_are_filtered():
    wrong = read(respond({"respondent": "uniform", "wrong_language_rate": 1.0}, {}))
    assert set(wrong["status"]) == {"wrong_language"} and set(wrong["response_language"]) == {"en"}
    assert not wrong["valid"].any()
    assert set(wrong["label"]) <= {"pro", "con", "null"}
    prose = read(respond({"respondent": "uniform", "malformed_rate": 1.0}, {}))
    assert set(prose["status"]) == {"malformed"} and prose.height == 40
    assert prose["statement_idx"].null_count() == 40
    english = read(respond({"respondent": "uniform", "wrong_language_rate": 1.0}, {}, language="en"), "en")
    assert set(english["response_language"]) == {"da"}


def test_simulated_answers_are_seeded_by_model_language_seed_and_prompt():
    settings = {"respondent": "uniform"}
    first = respond(settings, {})["text"].to_list()
    assert first == respond(settings, {})["text"].to_list()
    assert len(set(first)) == len(first)
    assert first != respond(settings | {"seed": 1}, {})["text"].to_list()
