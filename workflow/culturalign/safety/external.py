"""Readers of the external prompt sets a user brings (MultiJail, XSTest and JSONL files): the
prompts they hold, in SAFETY_PROMPT_SCHEMA, and a problem row for each record skipped."""

import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import polars as pl

from culturalign.safety import SafetyError
from culturalign.safety.sets import SAFETY_PROMPT_SCHEMA

# `row` counts records from 1: the data rows of a CSV (its header not counted), the lines of a JSONL
# file. `column` is null where the whole record is unusable.
PROBLEM_SCHEMA = {"file": pl.String, "row": pl.Int64, "column": pl.String, "problem": pl.String}

XSTEST_KINDS = {"safe": "benign", "unsafe": "harmful"}
JSONL_KINDS = {"harmful": "harmful", "unsafe": "harmful", "benign": "benign", "safe": "benign"}
JSONL_FIELDS = ("prompt", "language", "category", "label")


class Check(NamedTuple):
    column: str | pl.Expr
    failed: pl.Expr
    problem: str | pl.Expr


def _as_expression(value: str | pl.Expr) -> pl.Expr:
    return pl.lit(value, pl.String) if isinstance(value, str) else value


def problems_frame(path: str | Path, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.lit(str(path), pl.String).alias("file"),
        pl.col("row").cast(pl.Int64),
        pl.col("column").cast(pl.String),
        pl.col("problem").cast(pl.String),
    )


def split_off_problems(
    frame: pl.DataFrame, path: str | Path, checks: Sequence[Check], unique_key: Sequence[str] = ()
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
    failed = problems_frame(path, flagged.filter(pl.col("problem").is_not_null()))
    passed = flagged.filter(pl.col("problem").is_null()).drop("column", "problem")
    if not unique_key:
        return passed, failed
    passed = passed.with_columns(pl.col("row").min().over(unique_key).alias("first_row"))
    repeated = passed.filter(pl.col("row") != pl.col("first_row")).with_columns(
        column=pl.lit("id"), problem=pl.format("duplicate id; row {} has the same id", pl.col("first_row"))
    )
    problems = pl.concat([failed, problems_frame(path, repeated)]).sort("row", maintain_order=True)
    return passed.filter(pl.col("row") == pl.col("first_row")).drop("first_row"), problems


def read_csv_strings(path: str | Path, required: Sequence[str]) -> pl.DataFrame:
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


def stripped(column: str) -> pl.Expr:
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
    frame = read_csv_strings(path, ["id", "tags", *languages])
    wide = frame.select(
        "row",
        stripped("id").alias("prompt_id"),
        stripped("tags").alias("category"),
        *[stripped(language) for language in languages],
    )
    wide, row_problems = split_off_problems(
        wide,
        path,
        [
            Check("id", pl.col("prompt_id").is_null(), "empty id"),
            Check("tags", pl.col("category").is_null(), "empty tags; expected the prompt's category"),
        ],
        unique_key=["prompt_id"],
    )
    long = wide.unpivot(
        index=["row", "prompt_id", "category"], on=languages, variable_name="language", value_name="text"
    ).sort("row", maintain_order=True)
    long, text_problems = split_off_problems(
        long, path, [Check(pl.col("language"), pl.col("text").is_null(), "empty prompt")]
    )
    problems = pl.concat([row_problems, text_problems]).sort("row", maintain_order=True)
    return _select_prompts(long.with_columns(kind=pl.lit("harmful"))), problems


def read_xstest(path: str | Path, language: str = "en") -> tuple[pl.DataFrame, pl.DataFrame]:
    """An XSTest-style CSV (prompt, type, label safe/unsafe, optional id): the prompts, and the problems
    of the rows skipped. Rows without an id get `xstest-<row>`."""
    frame = read_csv_strings(path, ["prompt", "type", "label"])
    given_id = stripped("id") if "id" in frame.columns else pl.lit(None, pl.String)
    label = stripped("label")
    table = frame.select(
        "row",
        pl.coalesce(given_id, pl.format("xstest-{}", pl.col("row"))).alias("prompt_id"),
        pl.lit(language, pl.String).alias("language"),
        label.str.to_lowercase()
        .replace_strict(XSTEST_KINDS, default=None, return_dtype=pl.String)
        .alias("kind"),
        stripped("type").alias("category"),
        stripped("prompt").alias("text"),
        label,
    )
    prompts, problems = split_off_problems(
        table,
        path,
        [
            Check("prompt", pl.col("text").is_null(), "empty prompt"),
            Check("type", pl.col("category").is_null(), "empty type; expected the prompt's category"),
            Check(
                "label",
                pl.col("kind").is_null(),
                pl.format("label '{}'; expected safe or unsafe", pl.col("label").fill_null("")),
            ),
        ],
        unique_key=["prompt_id"],
    )
    return _select_prompts(prompts), problems


def jsonl_records(
    path: str | Path, fields: Sequence[str], numbered: str = "id"
) -> tuple[list[dict], list[dict]]:
    """`fields` of each JSON object line (numbered from 1 in `row`), as strings or None, with the
    first field that is neither (`mistyped`); and the problems of lines that are no JSON object.
    The `numbered` field may be an integer, read as its digits."""
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
        if type(record.get(numbered)) is int:
            record[numbered] = str(record[numbered])
        mistyped = [key for key in fields if record.get(key) is not None and not isinstance(record[key], str)]
        values = {key: None if key in mistyped else record.get(key) for key in fields}
        # Checked with the other fields, so that a line in a language not asked for goes unreported.
        records.append({"row": row, "mistyped": mistyped[0] if mistyped else None, **values})
    return records, problems


def read_jsonl(
    path: str | Path, languages: Collection[str] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A JSONL file of {prompt, language, category, label, id?} objects (label harmful/benign or
    unsafe/safe): the prompts in `languages` (all when None), and the problems of the lines skipped.
    Lines without an id get `<file stem>-<line>`."""
    records, line_problems = jsonl_records(path, ("id", *JSONL_FIELDS))
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
        pl.coalesce(stripped("id"), pl.format("{}-{}", pl.lit(Path(path).stem), pl.col("row"))).alias(
            "prompt_id"
        ),
        stripped("language"),
        stripped("label")
        .str.to_lowercase()
        .replace_strict(JSONL_KINDS, default=None, return_dtype=pl.String)
        .alias("kind"),
        stripped("category"),
        stripped("prompt").alias("text"),
        stripped("label"),
    )
    if languages is not None:
        # A line without a language is reported whatever is asked for: it belongs to none.
        table = table.filter(pl.col("language").is_null() | pl.col("language").is_in(list(languages)))
    prompts, problems = split_off_problems(
        table,
        path,
        [
            Check(pl.col("mistyped"), pl.col("mistyped").is_not_null(), "expected a string"),
            Check("prompt", pl.col("text").is_null(), "missing or empty prompt"),
            Check("language", pl.col("language").is_null(), "missing or empty language"),
            Check("category", pl.col("category").is_null(), "missing or empty category"),
            Check(
                "label",
                pl.col("kind").is_null(),
                pl.format(
                    "label '{}'; expected harmful, benign, unsafe or safe", pl.col("label").fill_null("")
                ),
            ),
        ],
        unique_key=["prompt_id", "language"],
    )
    line_frame = problems_frame(
        path, pl.DataFrame(line_problems, schema={"row": pl.Int64, "column": pl.String, "problem": pl.String})
    )
    return _select_prompts(prompts), pl.concat([line_frame, problems]).sort("row", maintain_order=True)


def external_languages(source: Mapping[str, str], languages: Collection[str]) -> set[str]:
    """Those of `languages` one external set ({path, format, language}) has a usable prompt in:
    a MultiJail file's language columns, an XSTest file's language, a JSONL file's prompts'."""
    path, layout = source["path"], source["format"]
    if layout == "multijail":
        try:
            columns = pl.read_csv(path, n_rows=0, infer_schema=False).columns
        except (OSError, pl.exceptions.PolarsError) as error:
            raise SafetyError(f"{path}: cannot be read as CSV ({error})") from error
        present = [language for language in languages if language in columns]
        return set(read_multijail(path, present)[0]["language"]) if present else set()
    if layout == "xstest":
        return set(languages) & {source.get("language", "en")}
    if layout == "jsonl":
        return set(read_jsonl(path, languages)[0]["language"])
    raise SafetyError(f"{path}: unknown format {layout!r}; expected multijail, xstest or jsonl")


def external_prompts(source: Mapping[str, str], language: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The prompts in `language` of one external set ({path, format, language}: see the config
    schema's safety.external), their ids prefixed with the file's stem, and the problems of the rows
    skipped. A MultiJail file without a column for the language gives no prompts and says so."""
    path, layout = source["path"], source["format"]
    if layout == "multijail":
        if language not in read_csv_strings(path, ["id", "tags"]).columns:
            problem = {"row": None, "column": language, "problem": "no column for this language; skipped"}
            return pl.DataFrame(schema=SAFETY_PROMPT_SCHEMA), problems_frame(
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
