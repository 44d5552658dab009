import shutil
from collections import Counter

import polars as pl
import pytest
import yaml

from conftest import REPO
from culturalign.items import select_items
from culturalign.language_resources import language_folder
from culturalign.phrase_bank import available_languages
from culturalign.prompts import (
    load_prompt_bank,
    prompt_bank_problems,
    render_prompts,
    sample_prompt_design,
    templates_path,
    topics_path,
    translated_languages,
)
from culturalign.safety.sets import safety_set_languages

RESOURCES = REPO / "resources"
LANGUAGES = ["en", "da", "nl", "pt"]


@pytest.fixture(scope="module")
def scored(items):
    return select_items(items, "scored")


def bank(language, items):
    topics = None if language == "en" else topics_path(RESOURCES, language)
    return load_prompt_bank(language, items, templates_path(RESOURCES, language), topics)


def test_shipped_prompt_banks_line_up_in_every_language(items):
    assert prompt_bank_problems(RESOURCES, LANGUAGES, items) == []
    for language in LANGUAGES:
        loaded = bank(language, items)
        assert len(set(loaded.templates)) >= 10
        assert all(len(set(loaded.topics[key])) == 5 for key in items)


def test_templates_name_no_country():
    names = ["United States", "America", "Denmark", "Danmark", "Netherlands", "Nederland", "Holland",
             "Portugal", "Brazil", "Brasil", "Britain", "Canada", "Australia", "New Zealand"]  # fmt: skip
    for language in LANGUAGES:
        text = " ".join(yaml.safe_load(templates_path(RESOURCES, language).read_text())["templates"])
        assert not [name for name in names if name in text], language


def test_sample_is_balanced_seeded_and_without_repeats(scored):
    variations = {key: 5 for key in scored}
    design = sample_prompt_design(variations, 300, seed=3, templates=10)
    assert design.height == 300
    counts = Counter(design["item"].to_list())
    assert set(counts) == set(scored)
    assert max(counts.values()) - min(counts.values()) <= 1
    assert design["prompt_id"].n_unique() == 300
    assert design.select("item", "template_id", "variation_id").is_duplicated().sum() == 0
    assert design["template_id"].is_between(0, 9).all() and design["variation_id"].is_between(0, 4).all()
    assert design.equals(sample_prompt_design(variations, 300, seed=3, templates=10))
    assert not design.equals(sample_prompt_design(variations, 300, seed=4, templates=10))


def test_sample_larger_than_the_bank_reuses_pairs_evenly():
    design = sample_prompt_design({"a": 2, "b": 2}, 10, seed=0, templates=2)
    per_pair = design.group_by("item", "template_id", "variation_id").len()["len"]
    assert sorted(Counter(design["item"]).values()) == [5, 5]
    assert per_pair.max() - per_pair.min() <= 1


def test_prompts_are_parallel_across_languages(scored):
    variations = {key: 5 for key in scored}
    design = sample_prompt_design(variations, 120, seed=1, templates=10)
    rendered = {language: render_prompts(design, bank(language, scored)) for language in LANGUAGES}
    columns = ["prompt_id", "item", "template_id", "variation_id"]
    for language in LANGUAGES:
        assert rendered[language].select(columns).equals(rendered["en"].select(columns))
        loaded = bank(language, scored)
        for item, template_id, variation_id, text in (
            rendered[language].select(*columns[1:], "text").iter_rows()
        ):
            assert loaded.topics[item][variation_id] in text
            prefix = loaded.templates[template_id].split("{{ topic }}")[0]
            assert text.startswith(prefix)
    assert len({rendered[language]["text"][0] for language in LANGUAGES}) == 4


def test_missing_translations_are_listed(items, tmp_path):
    language_folder(tmp_path, "da").mkdir(parents=True)
    templates_path(tmp_path, "da").write_text(templates_path(RESOURCES, "da").read_text())
    topics = yaml.safe_load(topics_path(RESOURCES, "da").read_text())
    del topics["f118"], topics["f120"]
    topics_path(tmp_path, "da").write_text(yaml.safe_dump(topics, allow_unicode=True))
    problems = prompt_bank_problems(tmp_path, ["da", "de"], items)
    assert any("da/topics.yaml: no topic paraphrases for items f118, f120" in p for p in problems)
    assert any("language 'de': no prompt templates at" in p for p in problems)


def test_template_count_must_match_across_languages(items, tmp_path):
    for language in ["en", "nl"]:
        language_folder(tmp_path, language).mkdir(parents=True)
    shipped = yaml.safe_load(templates_path(RESOURCES, "en").read_text())["templates"]
    templates_path(tmp_path, "en").write_text(yaml.safe_dump({"templates": shipped}))
    templates_path(tmp_path, "nl").write_text(yaml.safe_dump({"templates": shipped[:7]}))
    topics_path(tmp_path, "nl").write_text(topics_path(RESOURCES, "nl").read_text())
    problems = prompt_bank_problems(tmp_path, ["en", "nl"], items)
    assert any("same number of templates" in p and "nl: 7 templates" in p for p in problems)


def test_a_language_has_the_resources_its_folder_holds(tmp_path):
    """A language is found by the files in its folder: one with prompt templates only has hand-written
    prompts, but no safety set and no phrase bank."""
    shutil.copytree(language_folder(RESOURCES, "da"), language_folder(tmp_path, "da"))
    language_folder(tmp_path, "sv").mkdir()
    shutil.copy(templates_path(RESOURCES, "da"), templates_path(tmp_path, "sv"))
    assert translated_languages(tmp_path, ["en", "da", "sv", "fi"], "translator") == ["fi"]
    assert available_languages(tmp_path) == ["da"]
    assert safety_set_languages(tmp_path) == ["da"]


def test_rendering_fails_on_an_unknown_placeholder(scored):
    loaded = bank("en", scored)
    broken = type(loaded)(language="en", templates=("About {{ topc }}.",), topics=loaded.topics)
    design = pl.DataFrame({"prompt_id": ["0-0"], "item": ["f118"], "template_id": [0], "variation_id": [0]})
    with pytest.raises(Exception, match="topc"):
        render_prompts(design, broken)


def test_fewer_prompts_than_items_gives_distinct_items():
    design = sample_prompt_design({f"item{i}": 5 for i in range(32)}, 5, seed=2, templates=10)
    assert design.height == 5 and design["item"].n_unique() == 5
