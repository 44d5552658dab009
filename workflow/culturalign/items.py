"""The survey items: which answers are affirmative, and how the topic is put to a model."""

from dataclasses import dataclass
from pathlib import Path

from culturalign.yaml_io import read_yaml

CATEGORIES = frozenset("CDEFH")
REQUIRED_FIELDS = ("label", "category", "scale_max", "affirmative", "scored", "pro", "con", "topics")


class ItemsError(ValueError):
    """An items file that does not describe items the way the pipeline needs them."""


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    category: str
    scale_max: int
    affirmative_low: int
    affirmative_high: int
    scored: bool
    pro: str
    con: str
    topics: tuple[str, ...]

    @property
    def variable(self) -> str:
        """The IVS variable name as it is spelled in the survey files (upper case)."""
        return self.key.upper()


def load_items(path: str | Path) -> dict[str, Item]:
    """Read and check an items file; keys are lowercase IVS variable names."""
    path = Path(path)
    if not path.is_file():
        raise ItemsError(f"{path}: items file not found")
    raw = read_yaml(path)
    if not isinstance(raw, dict) or not raw:
        raise ItemsError(f"{path}: expected a mapping from item key to item, got {type(raw).__name__}")
    return {key: _parse_item(path, key, fields) for key, fields in raw.items()}


def _parse_item(path: Path, key: str, fields: object) -> Item:
    where = f"{path}: item {key!r}"
    if not isinstance(key, str) or key != key.lower() or not key[:1].isalpha():
        raise ItemsError(f"{where}: keys must be lowercase IVS variable names such as 'f118'")
    if not isinstance(fields, dict):
        raise ItemsError(f"{where}: expected a mapping of {', '.join(REQUIRED_FIELDS)}")
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if missing:
        raise ItemsError(f"{where}: missing {', '.join(missing)}")
    if fields["category"] not in CATEGORIES:
        raise ItemsError(f"{where}: category must be one of {sorted(CATEGORIES)}")
    scale_max = fields["scale_max"]
    if not isinstance(scale_max, int) or scale_max < 2:
        raise ItemsError(f"{where}: scale_max must be an integer of at least 2")
    rule = fields["affirmative"]
    if not (
        isinstance(rule, list)
        and len(rule) == 2
        and all(isinstance(bound, int) for bound in rule)
        and 1 <= rule[0] <= rule[1] <= scale_max
        and rule[1] - rule[0] + 1 < scale_max
    ):
        raise ItemsError(
            f"{where}: affirmative must be [low, high] with 1 <= low <= high <= scale_max "
            f"({scale_max}) and leave some answers non-affirmative, got {rule!r}"
        )
    topics = fields["topics"]
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) for t in topics):
        raise ItemsError(f"{where}: topics must be a non-empty list of strings")
    return Item(
        key=key,
        label=str(fields["label"]),
        category=fields["category"],
        scale_max=scale_max,
        affirmative_low=rule[0],
        affirmative_high=rule[1],
        scored=bool(fields["scored"]),
        pro=str(fields["pro"]),
        con=str(fields["con"]),
        topics=tuple(topics),
    )


def select_items(items: dict[str, Item], wanted: list[str] | str) -> dict[str, Item]:
    """The items a study scores: `scored` (every scored item) or an explicit list of keys."""
    if wanted == "scored":
        return {key: item for key, item in items.items() if item.scored}
    unknown = [key for key in wanted if key not in items]
    if unknown:
        raise ItemsError(f"items: unknown item keys {unknown}; known keys are {sorted(items)}")
    return {key: items[key] for key in wanted}
