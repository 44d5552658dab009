"""Safety stage: our harmful and benign prompt sets, jailbreak wrappers and refusal phrases per
language (resources/safety/<language>.yaml), loaders for external prompt sets a user brings, and
the requests that put them to a model. The rates measured on the judged answers are in
safety_rates.

Prompt ids are shared across languages, so that languages are comparable prompt by prompt.
"""

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jinja2
import jinja2.meta
import polars as pl

from culturalign.backends import GenerationRequest
from culturalign.generate import keyed_request
from culturalign.yaml_io import read_yaml

KINDS = ("harmful", "benign")
ATTACKS = ("none", "role_play", "prefix_injection", "refusal_suppression", "other_language")
# What a judge labels each answer to a safety prompt.
SAFETY_LABELS = ("full_compliance", "partial", "refusal")
SAFETY_FILE_KEYS = (*KINDS, "attacks", "other_language", "other_language_name", "refusal_phrases")
PROMPT_KEYS = ("id", "category", "text")
TEMPLATE_VARIABLES = ("prompt", "other_language")

SAFETY_PROMPT_SCHEMA = {
    "prompt_id": pl.String,
    "language": pl.String,
    "kind": pl.String,
    "category": pl.String,
    "text": pl.String,
}
ATTACKED_PROMPT_SCHEMA = {
    **{column: dtype for column, dtype in SAFETY_PROMPT_SCHEMA.items() if column != "text"},
    "attack": pl.String,
    "text": pl.String,
}
# `row` counts records from 1: the data rows of a CSV (its header not counted), the lines of a JSONL
# file. `column` is null where the whole record is unusable.
PROBLEM_SCHEMA = {"file": pl.String, "row": pl.Int64, "column": pl.String, "problem": pl.String}

XSTEST_KINDS = {"safe": "benign", "unsafe": "harmful"}
JSONL_KINDS = {"harmful": "harmful", "unsafe": "harmful", "benign": "benign", "safe": "benign"}
JSONL_FIELDS = ("prompt", "language", "category", "label")

# Models write typographic apostrophes as often as straight ones; phrases are written with straight ones.
STRAIGHT_APOSTROPHES = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc\u00b4`", "'"))
APOSTROPHE_PATTERN = "[\u2019\u2018\u02bc\u00b4`]"


class SafetyError(ValueError):
    """A safety prompt set, attack file or external prompt file that cannot be used as it is."""


class OtherLanguage(NamedTuple):
    code: str
    name: str


def safety_set_path(resources: str | Path, language: str) -> Path:
    return Path(resources) / "safety" / f"{language}.yaml"


def _read_safety_file(path: str | Path) -> dict:
    try:
        content = read_yaml(path)
    except OSError as error:
        raise SafetyError(f"{path}: cannot be read ({error})") from error
    if not isinstance(content, dict):
        raise SafetyError(f"{path}: expected a mapping with the keys {', '.join(SAFETY_FILE_KEYS)}")
    unknown = [key for key in content if key not in SAFETY_FILE_KEYS]
    if unknown:
        raise SafetyError(
            f"{path}: unknown key {unknown[0]!r}; expected prompt kinds {' and '.join(KINDS)} "
            f"or {', '.join(SAFETY_FILE_KEYS[len(KINDS) :])}"
        )
    return content


def _non_empty_string(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def load_safety_set(path: str | Path, language: str) -> pl.DataFrame:
    """The harmful and benign prompts of one language file, in SAFETY_PROMPT_SCHEMA."""
    content = _read_safety_file(path)
    rows: list[tuple[str, str, str, str, str]] = []
    first_use: dict[str, str] = {}
    for kind in KINDS:
        entries = content.get(kind)
        if not isinstance(entries, list) or not entries:
            raise SafetyError(f"{path}: key {kind!r} must be a non-empty list of {{id, category, text}}")
        for position, entry in enumerate(entries):
            where = f"{path}: {kind}[{position}]"
            if not isinstance(entry, dict):
                raise SafetyError(f"{where}: expected a mapping with the keys {', '.join(PROMPT_KEYS)}")
            unexpected = [key for key in entry if key not in PROMPT_KEYS]
            if unexpected:
                raise SafetyError(
                    f"{where}: unknown key {unexpected[0]!r}; expected {', '.join(PROMPT_KEYS)}"
                )
            for key in PROMPT_KEYS:
                if not _non_empty_string(entry.get(key)):
                    raise SafetyError(
                        f"{where}: key {key!r} is missing or empty; expected a non-empty string"
                    )
            prompt_id = entry["id"].strip()
            if prompt_id in first_use:
                raise SafetyError(f"{where}: key 'id' repeats {prompt_id!r} of {first_use[prompt_id]}")
            first_use[prompt_id] = f"{kind}[{position}]"
            rows.append((prompt_id, language, kind, entry["category"].strip(), entry["text"].strip()))
    prompts = pl.DataFrame(rows, schema=list(SAFETY_PROMPT_SCHEMA.items()), orient="row")
    harmful_categories = set(prompts.filter(kind="harmful")["category"])
    # A benign prompt is a contrast to harmful ones: over-refusal is read per category it shadows.
    orphans = sorted(set(prompts.filter(kind="benign")["category"]) - harmful_categories)
    if orphans:
        raise SafetyError(
            f"{path}: benign category {orphans[0]!r} shadows no harmful category; "
            f"expected one of {', '.join(sorted(harmful_categories))}"
        )
    return prompts


def load_refusal_phrases(path: str | Path) -> tuple[str, ...]:
    """The refusal phrases of one language file, normalised as the matcher compares them."""
    phrases = _read_safety_file(path).get("refusal_phrases")
    if not isinstance(phrases, list) or not phrases or not all(_non_empty_string(p) for p in phrases):
        raise SafetyError(f"{path}: key 'refusal_phrases' must be a non-empty list of non-empty strings")
    return tuple(normalise_for_matching(phrase) for phrase in phrases)


def load_other_language(path: str | Path) -> OtherLanguage:
    """The language the `other_language` attack asks for, and its name as the file's language says it."""
    content = _read_safety_file(path)
    for key in ("other_language", "other_language_name"):
        if not _non_empty_string(content.get(key)):
            raise SafetyError(f"{path}: key {key!r} is missing or empty; expected a non-empty string")
    return OtherLanguage(content["other_language"].strip(), content["other_language_name"].strip())


def load_attacks(path: str | Path) -> dict[str, jinja2.Template]:
    """The jailbreak wrappers of one language file: a template for every attack but `none`."""
    templates = _read_safety_file(path).get("attacks")
    expected = ATTACKS[1:]
    if not isinstance(templates, dict):
        raise SafetyError(f"{path}: key 'attacks' must map each of {', '.join(expected)} to a template")
    missing = [attack for attack in expected if attack not in templates]
    unknown = [attack for attack in templates if attack not in expected]
    if missing:
        raise SafetyError(
            f"{path}: key 'attacks' has no template for {missing[0]!r}; expected {', '.join(expected)}"
        )
    if unknown:
        raise SafetyError(
            f"{path}: key 'attacks' has unknown attack {unknown[0]!r}; expected {', '.join(expected)}"
        )
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    compiled = {}
    for attack, source in templates.items():
        where = f"{path}: attacks.{attack}"
        if not _non_empty_string(source):
            raise SafetyError(f"{where} is empty; expected a jinja2 template with {{{{ prompt }}}}")
        try:
            variables = jinja2.meta.find_undeclared_variables(environment.parse(source))
        except jinja2.TemplateSyntaxError as error:
            raise SafetyError(f"{where}: not a jinja2 template ({error})") from error
        required = {"prompt", "other_language"} if attack == "other_language" else {"prompt"}
        if not required <= variables or not variables <= set(TEMPLATE_VARIABLES):
            raise SafetyError(
                f"{where} uses {sorted(variables)}; expected {sorted(required)} "
                f"and nothing beyond {list(TEMPLATE_VARIABLES)}"
            )
        compiled[attack] = environment.from_string(source)
    return compiled


def attacked_prompts(
    prompts: pl.DataFrame,
    attacks: Iterable[str],
    templates: Mapping[str, jinja2.Template],
    other_language_name: str | None = None,
) -> pl.DataFrame:
    """Every prompt under every attack, in ATTACKED_PROMPT_SCHEMA; `none` leaves the text as it is."""
    context = {} if other_language_name is None else {"other_language": other_language_name}
    frames = []
    for attack in attacks:
        if attack == "none":
            texts = prompts["text"]
        elif attack in templates:
            try:
                texts = [templates[attack].render(prompt=text, **context) for text in prompts["text"]]
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


def normalise_for_matching(text: str) -> str:
    """Lowercase, straight apostrophes and single spaces: how refusal phrases and answers compare."""
    return " ".join(text.translate(STRAIGHT_APOSTROPHES).lower().split())


def _matchable_phrases(phrases: Iterable[str]) -> list[str]:
    normalised = [normalise_for_matching(phrase) for phrase in phrases]
    if not normalised or not all(normalised):
        # An empty phrase would match every answer.
        raise SafetyError("refusal phrases must be a non-empty list of non-empty strings")
    return normalised


def refusal_matcher(phrases: Iterable[str]) -> Callable[[str], bool]:
    """Whether an answer contains one of the refusal phrases."""
    normalised = _matchable_phrases(phrases)

    def is_refusal(text: str) -> bool:
        answer = normalise_for_matching(text)
        return any(phrase in answer for phrase in normalised)

    return is_refusal


def matches_refusal(texts: pl.Series, phrases: Iterable[str]) -> pl.Series:
    """refusal_matcher over a column of answers; a missing answer stays null."""
    answers = texts.str.replace_all(APOSTROPHE_PATTERN, "'").str.to_lowercase().str.replace_all(r"\s+", " ")
    return answers.str.contains_any(_matchable_phrases(phrases)).alias(texts.name)


class _Check(NamedTuple):
    column: str | pl.Expr
    failed: pl.Expr
    problem: str | pl.Expr


def _as_expression(value: str | pl.Expr) -> pl.Expr:
    return pl.lit(value, pl.String) if isinstance(value, str) else value


def _problems_frame(path: str | Path, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.lit(str(path), pl.String).alias("file"),
        pl.col("row").cast(pl.Int64),
        pl.col("column").cast(pl.String),
        pl.col("problem").cast(pl.String),
    )


def _split_off_problems(
    frame: pl.DataFrame, path: str | Path, checks: Sequence[_Check], unique_key: Sequence[str] = ()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows that pass every check, and a problem for each row that fails one (the first it fails);
    of passing rows sharing `unique_key`, the first is kept and the others are reported under `id`."""
    flagged = frame.with_columns(
        pl.coalesce([pl.when(check.failed).then(_as_expression(check.column)) for check in checks]).alias(
            "column"
        ),
        pl.coalesce([pl.when(check.failed).then(_as_expression(check.problem)) for check in checks]).alias(
            "problem"
        ),
    )
    failed = _problems_frame(path, flagged.filter(pl.col("problem").is_not_null()))
    passed = flagged.filter(pl.col("problem").is_null()).drop("column", "problem")
    if not unique_key:
        return passed, failed
    passed = passed.with_columns(pl.col("row").min().over(unique_key).alias("first_row"))
    repeated = passed.filter(pl.col("row") != pl.col("first_row")).with_columns(
        column=pl.lit("id"), problem=pl.format("duplicate id; row {} has the same id", pl.col("first_row"))
    )
    problems = pl.concat([failed, _problems_frame(path, repeated)]).sort("row", maintain_order=True)
    return passed.filter(pl.col("row") == pl.col("first_row")).drop("first_row"), problems


def _read_csv(path: str | Path, required: Sequence[str]) -> pl.DataFrame:
    """All columns as strings, rows numbered from 1; the file must have every `required` column."""
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise SafetyError(f"{path}: cannot be read as CSV ({error})") from error
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise SafetyError(
            f"{path}: no column {', '.join(map(repr, missing))}; expected the columns {', '.join(required)}"
        )
    return frame.with_row_index("row", offset=1).with_columns(pl.col("row").cast(pl.Int64))


def _stripped(column: str) -> pl.Expr:
    """The column without surrounding whitespace, with blank cells as null."""
    value = pl.col(column).str.strip_chars()
    return pl.when(value.str.len_chars() > 0).then(value).alias(column)


def _select_prompts(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(list(SAFETY_PROMPT_SCHEMA)).cast(SAFETY_PROMPT_SCHEMA)


def read_multijail(path: str | Path, languages: Sequence[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A MultiJail-style CSV (id, tags, one column per language): harmful prompts, one per row and
    requested language, and the problems of the rows skipped."""
    languages = list(dict.fromkeys(languages))
    if not languages:
        raise SafetyError(f"{path}: no languages requested; expected language columns to read")
    frame = _read_csv(path, ["id", "tags", *languages])
    wide = frame.select(
        "row",
        _stripped("id").alias("prompt_id"),
        _stripped("tags").alias("category"),
        *[_stripped(language) for language in languages],
    )
    wide, row_problems = _split_off_problems(
        wide,
        path,
        [
            _Check("id", pl.col("prompt_id").is_null(), "empty id"),
            _Check("tags", pl.col("category").is_null(), "empty tags; expected the prompt's category"),
        ],
        unique_key=["prompt_id"],
    )
    long = wide.unpivot(
        index=["row", "prompt_id", "category"], on=languages, variable_name="language", value_name="text"
    ).sort("row", maintain_order=True)
    long, text_problems = _split_off_problems(
        long, path, [_Check(pl.col("language"), pl.col("text").is_null(), "empty prompt")]
    )
    problems = pl.concat([row_problems, text_problems]).sort("row", maintain_order=True)
    return _select_prompts(long.with_columns(kind=pl.lit("harmful"))), problems


def read_xstest(path: str | Path, language: str = "en") -> tuple[pl.DataFrame, pl.DataFrame]:
    """An XSTest-style CSV (prompt, type, label safe/unsafe, optional id): the prompts, and the problems
    of the rows skipped. Rows without an id get `xstest-<row>`."""
    frame = _read_csv(path, ["prompt", "type", "label"])
    given_id = _stripped("id") if "id" in frame.columns else pl.lit(None, pl.String)
    label = _stripped("label")
    table = frame.select(
        "row",
        pl.coalesce(given_id, pl.format("xstest-{}", pl.col("row"))).alias("prompt_id"),
        pl.lit(language, pl.String).alias("language"),
        label.str.to_lowercase()
        .replace_strict(XSTEST_KINDS, default=None, return_dtype=pl.String)
        .alias("kind"),
        _stripped("type").alias("category"),
        _stripped("prompt").alias("text"),
        label,
    )
    prompts, problems = _split_off_problems(
        table,
        path,
        [
            _Check("prompt", pl.col("text").is_null(), "empty prompt"),
            _Check("type", pl.col("category").is_null(), "empty type; expected the prompt's category"),
            _Check(
                "label",
                pl.col("kind").is_null(),
                pl.format("label '{}'; expected safe or unsafe", pl.col("label").fill_null("")),
            ),
        ],
        unique_key=["prompt_id"],
    )
    return _select_prompts(prompts), problems


def _jsonl_records(path: str | Path) -> tuple[list[dict], list[dict]]:
    """The fields of each JSON object line, as strings or None, with the first field that is neither;
    and the problems of lines that are no JSON object."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise SafetyError(f"{path}: cannot be read as UTF-8 JSONL ({error})") from error
    records, problems = [], []
    for row, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append({"row": row, "column": None, "problem": f"malformed JSON ({error.msg})"})
            continue
        if not isinstance(record, dict):
            problems.append({"row": row, "column": None, "problem": "expected a JSON object"})
            continue
        # Exported sets often number their prompts; a number names a prompt as well as a string does.
        if type(record.get("id")) is int:
            record["id"] = str(record["id"])
        mistyped = [
            key
            for key in ("id", *JSONL_FIELDS)
            if record.get(key) is not None and not isinstance(record[key], str)
        ]
        fields = {key: None if key in mistyped else record.get(key) for key in ("id", *JSONL_FIELDS)}
        # Checked with the other fields, so that a line in a language not asked for goes unreported.
        records.append({"row": row, "mistyped": mistyped[0] if mistyped else None, **fields})
    return records, problems


def read_jsonl(
    path: str | Path, languages: Collection[str] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A JSONL file of {prompt, language, category, label, id?} objects (label harmful/benign or
    unsafe/safe): the prompts in `languages` (all when None), and the problems of the lines skipped.
    Lines without an id get `<file stem>-<line>`."""
    records, line_problems = _jsonl_records(path)
    table = pl.DataFrame(
        records,
        schema={
            "row": pl.Int64,
            "mistyped": pl.String,
            "id": pl.String,
            **dict.fromkeys(JSONL_FIELDS, pl.String),
        },
    ).select(
        "row",
        "mistyped",
        pl.coalesce(_stripped("id"), pl.format("{}-{}", pl.lit(Path(path).stem), pl.col("row"))).alias(
            "prompt_id"
        ),
        _stripped("language"),
        _stripped("label")
        .str.to_lowercase()
        .replace_strict(JSONL_KINDS, default=None, return_dtype=pl.String)
        .alias("kind"),
        _stripped("category"),
        _stripped("prompt").alias("text"),
        _stripped("label"),
    )
    if languages is not None:
        # A line without a language is reported whatever is asked for: it belongs to none.
        table = table.filter(pl.col("language").is_null() | pl.col("language").is_in(list(languages)))
    prompts, problems = _split_off_problems(
        table,
        path,
        [
            _Check(pl.col("mistyped"), pl.col("mistyped").is_not_null(), "expected a string"),
            _Check("prompt", pl.col("text").is_null(), "missing or empty prompt"),
            _Check("language", pl.col("language").is_null(), "missing or empty language"),
            _Check("category", pl.col("category").is_null(), "missing or empty category"),
            _Check(
                "label",
                pl.col("kind").is_null(),
                pl.format(
                    "label '{}'; expected harmful, benign, unsafe or safe", pl.col("label").fill_null("")
                ),
            ),
        ],
        unique_key=["prompt_id", "language"],
    )
    line_frame = _problems_frame(
        path, pl.DataFrame(line_problems, schema={"row": pl.Int64, "column": pl.String, "problem": pl.String})
    )
    return _select_prompts(prompts), pl.concat([line_frame, problems]).sort("row", maintain_order=True)


def external_prompts(source: Mapping[str, str], language: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The prompts in `language` of one external set ({path, format, language}: see the config
    schema's safety.external), their ids prefixed with the file's stem, and the problems of the rows
    skipped. A MultiJail file without a column for the language gives no prompts and says so."""
    path, layout = source["path"], source["format"]
    if layout == "multijail":
        if language not in _read_csv(path, ["id", "tags"]).columns:
            problem = {"row": None, "column": language, "problem": "no column for this language; skipped"}
            return pl.DataFrame(schema=SAFETY_PROMPT_SCHEMA), _problems_frame(
                path,
                pl.DataFrame([problem], schema={"row": pl.Int64, "column": pl.String, "problem": pl.String}),
            )
        prompts, problems = read_multijail(path, [language])
    elif layout == "xstest":
        if source.get("language", "en") != language:
            return pl.DataFrame(schema=SAFETY_PROMPT_SCHEMA), pl.DataFrame(schema=PROBLEM_SCHEMA)
        prompts, problems = read_xstest(path, language)
    elif layout == "jsonl":
        prompts, problems = read_jsonl(path, [language])
    else:
        raise SafetyError(f"{path}: unknown format {layout!r}; expected multijail, xstest or jsonl")
    stem = Path(path).stem
    return prompts.with_columns(
        pl.format("{}/{}", pl.lit(stem), pl.col("prompt_id")).alias("prompt_id")
    ), problems


def language_safety_prompts(
    safety_file: str | Path,
    language: str,
    attacks: Sequence[str],
    *,
    builtin: bool = True,
    external: Sequence[Mapping[str, str]] = (),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every safety prompt of one language under every attack (ATTACKED_PROMPT_SCHEMA): ours from
    the language's safety file when `builtin`, and those of the external sets, wrapped in that
    file's attack templates; and the problems of the external rows skipped."""
    sets = [load_safety_set(safety_file, language)] if builtin else []
    problems = [pl.DataFrame(schema=PROBLEM_SCHEMA)]
    for source in external:
        prompts, skipped = external_prompts(source, language)
        sets.append(prompts)
        problems.append(skipped)
    prompts = pl.concat(sets) if sets else pl.DataFrame(schema=SAFETY_PROMPT_SCHEMA)
    repeated = prompts.filter(pl.col("prompt_id").is_duplicated())["prompt_id"].unique().to_list()
    if repeated:
        raise SafetyError(f"{language}: prompt id {repeated[0]!r} comes from more than one prompt set")
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
