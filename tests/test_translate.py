"""Machine translation of prompt resources, against a real local OpenAI-compatible server whose
translator writes each English word backwards and translates back by inverting its own table: a
faithful translation comes back word for word (chrF 100), a garbled one does not."""

import copy
import os
import re

import polars as pl
import pytest
import yaml
from fake_models import BROKEN_PLACEHOLDER, BackwardsTranslator
from openai_server import FakeOpenAI

from conftest import REPO, snakemake
from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.config import ConfigError, apply_schema, check_config
from culturalign.prompts import (
    PromptBank,
    load_prompt_bank,
    render_prompts,
    templates_path,
    translated_languages,
)
from culturalign.translate import (
    PLACEHOLDER,
    TranslationError,
    load_translation_prompt,
    placeholder_problem,
    translate_prompt_bank,
    write_prompt_bank,
)

KEY = "sk-translate-test"
RESOURCES = REPO / "resources"
PROMPT = load_translation_prompt(RESOURCES / "translate" / "prompt.jinja")


ENGLISH = load_prompt_bank("en", {}, templates_path(RESOURCES, "en"))


def small_bank(items) -> PromptBank:
    keys = ["f118", "e035", "d059"]
    return PromptBank("en", ENGLISH.templates, {key: items[key].topics for key in keys})


def settings(server) -> dict:
    return {"backend": "openai", "model": "translator-model", "base_url": server.base_url}


def translate(bank, server, cache=None, max_attempts=2):
    return translate_prompt_bank(
        bank,
        PROMPT,
        create_backend("translator", settings(server)),
        cache,
        settings=settings(server),
        language="sv",
        max_attempts=max_attempts,
        min_chrf=50,
    )


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def test_placeholder_problems():
    assert placeholder_problem("template", f"Intervjuer om {PLACEHOLDER}.") is None
    assert (
        placeholder_problem("template", "Intervjuer om {{ ämne }}.")
        == f"{PLACEHOLDER} appears 0 times, expected once"
    )
    assert "2 times" in placeholder_problem("template", f"{PLACEHOLDER} och {PLACEHOLDER}")
    assert placeholder_problem("template", f"{PLACEHOLDER} {{% if x %}}") == (
        f"stray Jinja markup '{{%' besides {PLACEHOLDER}"
    )
    assert placeholder_problem("topic", "jämställdhet i arbetslivet") is None
    assert placeholder_problem("topic", f"jämställdhet {PLACEHOLDER}") == "stray Jinja markup '{{'"
    assert placeholder_problem("topic", "jämställdhet }}") == "stray Jinja markup '}}'"
    assert placeholder_problem("topic", "  ") == placeholder_problem("template", None) == "no translation"


def test_faithful_translations_score_100_and_a_garbled_one_is_flagged(items, api_key):
    english = small_bank(items)
    garbled = english.topics["e035"][3]
    translator = BackwardsTranslator(garbled=(garbled,))
    with FakeOpenAI(api_key=KEY, models=("translator-model",), responder=translator) as server:
        bank, review, calls = translate(english, server)
    assert bank.language == "sv" and len(bank.templates) == len(english.templates)
    assert all(template.count(PLACEHOLDER) == 1 for template in bank.templates)
    assert bank.templates[0] == translator.forward(english.templates[0])
    assert {key: len(topics) for key, topics in bank.topics.items()} == {key: 5 for key in english.topics}
    assert bank.topics["f118"][2] == translator.forward(english.topics["f118"][2])
    assert review.columns == [
        "kind", "item", "index", "source", "translation", "back_translation", "chrf", "flagged"
    ]  # fmt: skip
    assert review.height == 10 + 3 * 5
    faithful = review.filter(pl.col("source") != garbled)
    assert (faithful["back_translation"] == faithful["source"]).all()
    assert faithful["chrf"].to_list() == [100.0] * faithful.height
    assert not faithful["flagged"].any()
    (flagged,) = review.filter("flagged").iter_rows(named=True)
    assert (flagged["kind"], flagged["item"], flagged["index"]) == ("topic", "e035", 3)
    assert flagged["chrf"] < 30
    assert review.filter(kind="template")["item"].null_count() == 10
    assert calls.height == 2 * review.height  # there and back
    assert not calls["cached"].any()


def test_a_broken_placeholder_is_asked_again(items, api_key, tmp_path):
    english = small_bank(items)
    broken = english.templates[4]
    translator = BackwardsTranslator(broken={broken: 1})
    with FakeOpenAI(api_key=KEY, models=("translator-model",), responder=translator) as server:
        bank, review, calls = translate(english, server, CompletionCache(tmp_path / "cache.sqlite"))
    assert translator.seen[broken] == 2 and max(translator.seen.values()) == 2
    assert bank.templates[4] == translator.forward(broken)
    assert calls.height == 2 * review.height + 1
    assert review["chrf"].min() == 100.0


def test_a_placeholder_that_stays_broken_stops_the_job_quoting_it(items, api_key, tmp_path):
    english = small_bank(items)
    template = english.templates[7]
    translator = BackwardsTranslator(broken={template: 2})
    cache = CompletionCache(tmp_path / "cache.sqlite")
    with FakeOpenAI(api_key=KEY, models=("translator-model",), responder=translator) as server:
        with pytest.raises(TranslationError) as failure:
            translate(english, server, cache)
        message = str(failure.value)
        assert "translation into Swedish (sv): 1 unusable after 2 attempts" in message
        quoted = repr(translator.forward(template).replace(PLACEHOLDER, BROKEN_PLACEHOLDER) + " {{")
        assert f"templates[7]: {quoted} ({PLACEHOLDER} appears 0 times, expected once)" in message
        assert "translation.max_attempts" in message
        assert "resources/languages/sv/templates.yaml and topics.yaml by hand" in message
        asked = server.answered.total()
        # a third attempt is a new request; the answers already paid for come from the cache
        bank, _, calls = translate(english, server, cache, max_attempts=3)
        assert server.answered.total() == asked + 1 + review_rows(english)
    assert translator.seen[template] == 3
    assert bank.templates[7] == translator.forward(template)
    assert calls.filter(~pl.col("cached")).height == 1 + review_rows(english)


def test_translated_files_read_back_as_written(items, tmp_path):
    tricky = (
        f'Han sa "ja": {PLACEHOLDER} # ingen kommentar',
        "snedstreck \\ och\tflik\nny rad",
        "emoji 🙂 »citat« \u2028 radavgränsare \x85 - streck: kolon 'enkla'",
    )
    bank = PromptBank("sv", tricky, {"f118": tricky, "e035": ("åäö ÅÄÖ",)})
    write_prompt_bank(bank, tmp_path / "templates.yaml", tmp_path / "topics.yaml", "# rubrik\n")
    selected = {key: items[key] for key in ("f118", "e035")}
    assert load_prompt_bank("sv", selected, tmp_path / "templates.yaml", tmp_path / "topics.yaml") == bank
    assert (
        (tmp_path / "topics.yaml")
        .read_text()
        .startswith('# rubrik\nf118:\n  - "Han sa \\"ja\\": {{ topic }}')
    )


def review_rows(bank: PromptBank) -> int:
    return len(bank.templates) + sum(map(len, bank.topics.values()))


def validated(config, items):
    config = apply_schema(copy.deepcopy(config), REPO / "workflow/schemas/config.schema.yaml", "study.yaml")
    check_config(config, items, RESOURCES, "study.yaml")
    return config


TRANSLATOR = {"backend": "openai", "model": "translator-model", "evaluate": False}
RESPONDENT = {"backend": "openai", "model": "respondent-model"}


def study_config(**extra):
    return {
        "survey": {"synthetic": {"enabled": True}},
        "languages": ["en", "da", "sv"],
        # RQ2's usual reference, the simulated uniform respondent, has no Swedish phrase bank
        "regression": {"rq2": {"reference": "respondent"}},
        "models": {"respondent": RESPONDENT, "translator": TRANSLATOR},
    } | extra


def test_a_language_without_resources_needs_a_translator(items):
    with pytest.raises(ConfigError) as refused:
        validated(study_config(), items)
    assert re.search(
        r"language 'sv': no prompt templates at \S+/resources/languages/sv/templates\.yaml \(missing: "
        r"templates\.yaml, topics\.yaml, phrase_bank\.yaml, safety\.yaml, labelled_answers\.yaml\); "
        r"write that folder \(README: New languages\), or set translation\.translator to translate "
        r"its prompts",
        str(refused.value),
    )
    assert "'da'" not in str(refused.value) and str(refused.value).count("language 'sv'") == 1
    config = validated(study_config(translation={"translator": "translator"}), items)
    assert config["translation"] == {"translator": "translator", "min_chrf": 50, "max_attempts": 2}
    # hand-written resources always win; English is the source
    assert translated_languages(RESOURCES, config["languages"], "translator") == ["sv"]
    assert translated_languages(RESOURCES, config["languages"], None) == []


@pytest.mark.parametrize(
    ("translation", "models", "message"),
    [
        ({"translator": "nobody"}, {}, r"translation\.translator: 'nobody' is not a model slug under models"),
        (
            {"translator": "sim"},
            {"sim": {"backend": "simulated", "respondent": "uniform"}},
            r"translation\.translator: 'sim' has backend 'simulated'; it must be one of \['openai'\]",
        ),
        ({"translator": "translator", "min_chrf": 120}, {}, r"translation\.min_chrf: 120 is greater than"),
        ({"translator": "translator", "max_attempts": 0}, {}, r"translation\.max_attempts: 0 is less than"),
    ],
)
def test_translator_settings_are_checked(items, translation, models, message):
    config = study_config(translation=translation)
    config["models"] |= models
    with pytest.raises(ConfigError, match=message):
        validated(config, items)


STUDY = {
    "survey": {
        "path": "data/survey.sav",
        "countries": ["US", "DK"],
        "synthetic": {"enabled": True, "respondents_per_country": 100},
    },
    "languages": ["en", "sv"],
    "seeds": [0],
    "prompts_per_seed": 40,
    "safety": {"enabled": False},
    "regression": {"rq2": {"reference": "respondent"}},
}


@pytest.fixture(scope="module")
def translated_study(tmp_path_factory, items):
    study = tmp_path_factory.mktemp("translated")
    # an item that is prompted but not scored: translated all the same, never in a prompt sample
    garbled = items["e028"].topics[0]
    translator = BackwardsTranslator(broken={ENGLISH.templates[2]: 1}, garbled=(garbled,))
    models = ("translator-model", "respondent-model")
    with FakeOpenAI(api_key=KEY, models=models, responder=translator) as server:
        config = STUDY | {
            "translation": {"translator": "translator"},
            "models": {
                "respondent": RESPONDENT | {"base_url": server.base_url},
                "translator": TRANSLATOR | {"base_url": server.base_url},
            },
        }
        os.environ["OPENAI_API_KEY"] = KEY
        try:
            targets = ["results/prompts/en/0.parquet", "results/translations/sv/review.csv"]
            result = snakemake(study, *targets, "results/ledger.csv", config=config)
        finally:
            del os.environ["OPENAI_API_KEY"]
    assert result.returncode == 0, result.stderr[-4000:]
    return study, translator, garbled


def test_prompts_of_a_translated_language_are_rendered_from_its_translations(translated_study, items):
    study, translator, _ = translated_study
    english = pl.read_parquet(study / "results/prompts/en/0.parquet")
    swedish = pl.read_parquet(study / "results/prompts/sv/0.parquet")
    design = ["prompt_id", "item", "template_id", "variation_id"]
    assert swedish.select(design).equals(english.select(design)) and swedish.height == 40
    translations = study / "results/translations/sv"
    header = "# Machine-translated from English into Swedish by the translator model 'translator' "
    header += "(translator-model), not written by hand."
    for name in ("templates.yaml", "topics.yaml"):
        assert (translations / name).read_text().startswith(header)
    topics = yaml.safe_load((translations / "topics.yaml").read_text())
    assert list(topics) == list(items) and {len(paraphrases) for paraphrases in topics.values()} == {5}
    scored = {key: item for key, item in items.items() if item.scored}
    bank = load_prompt_bank("sv", scored, translations / "templates.yaml", translations / "topics.yaml")
    assert render_prompts(swedish.select(design), bank).equals(swedish)
    # templates and topics translated apart, put together: the English prompt, translated
    assert swedish["text"].to_list() == [translator.forward(text) for text in english["text"]]
    assert not (study / "results/translations/en").exists()


def test_the_review_table_flags_the_garbled_translation_and_the_ledger_counts_every_call(translated_study):
    study, translator, garbled = translated_study
    review = pl.read_csv(study / "results/translations/sv/review.csv")
    assert review.height == 10 + 37 * 5
    assert review.filter("flagged").select("kind", "item", "index", "source").rows() == [
        ("topic", "e028", 0, garbled)
    ]
    assert review.filter(~pl.col("flagged"))["chrf"].min() == 100.0
    log = (study / "logs/translate/sv.log").read_text()
    assert "flagged e028[0]" in log and "1 below 50" in log
    ledger = pl.read_csv(study / "results/ledger.csv")
    assert ledger.select("stage", "model", "language").rows() == [
        ("generate", "respondent", "en"),
        ("generate", "respondent", "sv"),
        ("translate", "translator", "sv"),
    ]
    translation = ledger.filter(stage="translate").row(0, named=True)
    assert translation["seed"] == 0 and translation["cached"] == 0 and translation["prompt_tokens"] > 0
    assert translation["requests"] == 2 * review.height + 1  # there, back, and one retry
    assert (study / "results/benchmarks/translate/sv.tsv").is_file()
    assert max(translator.seen.values()) == 2
