import pytest

from culturalign.items import ItemsError, load_items, select_items

SCORED = {
    "c001_01", "c002_01", "d026_03", "d054", "d059", "d060", "e069_02", "e069_04", "e069_05",
    "e069_08", "e069_13", "e069_20", "e116", "e117", "e265_01", "h010", "h011", "e233b", "e235",
    "e236", "e290", "f114a", "f115", "f116", "f117", "f118", "f120", "f121", "f132", "f144_02",
    "e035", "f028",
}  # fmt: skip
PROMPTED_ONLY = {"e028", "e225", "e226", "e227", "e228"}


def test_item_bank_holds_the_reference_keys(items):
    assert {key for key, item in items.items() if item.scored} == SCORED
    assert {key for key, item in items.items() if not item.scored} == PROMPTED_ONLY


@pytest.mark.parametrize("key", sorted(SCORED))
def test_affirmative_rules_follow_the_design(items, key):
    item = items[key]
    expected = {
        "e035": (10, 1, 5),
        "f028": (8, 1, 4),
    }.get(key)
    if expected is None:
        expected = (10, 6, 10) if item.scale_max == 10 else (item.scale_max, 1, 2)
    assert (item.scale_max, item.affirmative_low, item.affirmative_high) == expected


def test_five_point_items(items):
    assert {key for key, item in items.items() if item.scale_max == 5} == {"c001_01", "c002_01", "d026_03"}


def test_every_item_has_statements_and_five_topics(items):
    for item in items.values():
        assert item.pro and item.con and item.pro != item.con
        assert len(set(item.topics)) == 5
        assert item.category == item.key[0].upper()


def test_select_items(items):
    assert set(select_items(items, "scored")) == SCORED
    assert list(select_items(items, ["f118", "e028"])) == ["f118", "e028"]
    with pytest.raises(ItemsError, match="unknown item keys"):
        select_items(items, ["f118", "x999"])


def test_malformed_item_names_file_and_key(tmp_path):
    path = tmp_path / "items.yaml"
    path.write_text(
        "f118:\n  label: x\n  category: F\n  scale_max: 4\n  affirmative: [6, 10]\n  scored: true\n"
        "  pro: a\n  con: b\n  topics: [t]\n"
    )
    with pytest.raises(ItemsError, match=r"items\.yaml: item 'f118': affirmative must be"):
        load_items(path)
    path.write_text("F118: {}\n")
    with pytest.raises(ItemsError, match="lowercase"):
        load_items(path)
