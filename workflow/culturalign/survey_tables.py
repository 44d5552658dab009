"""Released survey tables, read instead of what microdata would give: an aggregated ground truth
(level, group, item, pro_score) and a ceiling table (the survey's own consistency, as studies
publish it). Both are taken as they come: what the study does not use is logged and left out."""

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from culturalign.survey import (
    GLOBAL_GROUP,
    GROUND_TRUTH_SCHEMA,
    LEVELS,
    SURVEY_CONSISTENCY_SCHEMA,
    SurveyError,
    with_hints,
)

# Rule scripts log through script_log's "culturalign" logger, which this one propagates to.
_LOG = logging.getLogger(__name__)


def read_table(path: str | Path) -> pl.DataFrame:
    """An aggregated ground truth or a ceiling table (.csv or .parquet); a country column such as
    group stays text (NA is Namibia, not a missing value)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return pl.read_parquet(path)
    return pl.read_csv(path, infer_schema_length=10_000, schema_overrides={"group": pl.String})


def validate_aggregated(
    table: pl.DataFrame,
    items: Iterable[str],
    source: str | Path,
    countries: Sequence[str] = (),
    required: Iterable[str] | None = None,
) -> pl.DataFrame:
    """Accept an already aggregated ground truth (level, group, item, pro_score) and normalise it.

    Released tables hold every variable their authors processed: rows of items the study does not
    use (`items`: its item keys) and columns beyond the contract are logged once and left out. An
    error names the file when a `required` item (default: every item of `items`) has no row at
    all, or a configured country has none; a population lacking some items is logged.
    """
    missing = [column for column in ("level", "group", "item", "pro_score") if column not in table.columns]
    if missing:
        raise SurveyError(f"{source}: aggregated survey table lacks columns {', '.join(missing)}")
    extra_columns = [column for column in table.columns if column not in GROUND_TRUTH_SCHEMA]
    if extra_columns:
        _LOG.info("%s: ignoring columns the ground truth does not use: %s", source, ", ".join(extra_columns))
    study_items = sorted(dict.fromkeys(items))
    table = table.with_columns(
        pl.col("level").cast(pl.String),
        pl.col("group").cast(pl.String),
        pl.col("item").cast(pl.String).str.to_lowercase(),
    )
    in_table = set(table.get_column("item").drop_nulls().to_list())
    ignored = sorted(in_table - set(study_items))
    if ignored:
        _LOG.info(
            "%s: ignoring %d items the study does not use: %s", source, len(ignored), ", ".join(ignored)
        )
    table = table.filter(pl.col("item").is_in(study_items))
    problems = []
    absent_items = sorted(
        {key for key in (study_items if required is None else required) if key not in in_table}
    )
    if absent_items:
        problems.append(
            f"no rows for items the study needs: {', '.join(absent_items)} (set items to those the table has)"
        )
    bad_levels = set(table.get_column("level").unique().to_list()) - set(LEVELS)
    if bad_levels:
        problems.append(f"level must be one of {', '.join(LEVELS)}, found {sorted(map(str, bad_levels))}")
    present = set(table.filter(pl.col("level") == "country").get_column("group").drop_nulls().to_list())
    absent = [country for country in countries if country not in present]
    if absent:
        problems.append(
            f"no rows for configured countries {with_hints(absent, present)} (survey.countries); "
            f"countries in the table: {', '.join(sorted(present)) or 'none'}"
        )
    out_of_range = table.filter(~pl.col("pro_score").cast(pl.Float64).is_between(0, 1)).height
    if out_of_range:
        problems.append(f"{out_of_range} rows with pro_score outside [0, 1] or missing")
    duplicates = table.select("level", "group", "item").is_duplicated().sum()
    if duplicates:
        problems.append(f"{duplicates} rows repeat a (level, group, item)")
    if problems:
        raise SurveyError(f"{source}: " + "; ".join(problems))
    _log_lacking_items(table, sorted(set(study_items) & in_table), source)
    extra = {name: dtype for name, dtype in GROUND_TRUTH_SCHEMA.items() if name not in table.columns}
    return (
        table.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in extra.items())
        .select(pl.col(name).cast(dtype) for name, dtype in GROUND_TRUTH_SCHEMA.items())
        .sort("level", "group", "item")
    )


def _log_lacking_items(table: pl.DataFrame, study_items: list[str], source: str | Path) -> None:
    """A population may lack some items (released tables have no US answers on c001_01): those
    items leave its vectors, which is said once per population."""
    held = table.group_by("level", "group").agg("item").sort("level", "group")
    for level, group, keys in held.iter_rows():
        lacking = [key for key in study_items if key not in set(keys)]
        if lacking:
            _LOG.info("%s: %s %s has no score for %s", source, level, group, ", ".join(lacking))


def read_ceiling(
    path: str | Path, countries: Sequence[str], languages: Sequence[str], source: str | None = None
) -> pl.DataFrame:
    """A released table of the survey's own consistency (group, consistency[, level]) as the
    consistency table; the columns it lacks (intervals, repeats, k) are null.

    Without a level column a group is a country when it is a configured country, a language when
    it is a configured language, global when it is `global`; other groups are logged and left out.
    """
    source = source or str(path)
    table = read_table(path)
    missing = [column for column in ("group", "consistency") if column not in table.columns]
    if missing:
        raise SurveyError(
            f"{source}: ceiling table lacks columns {', '.join(missing)} "
            f"(expected group, consistency and optionally level)"
        )
    if not table.schema["consistency"].is_numeric():
        raise SurveyError(
            f"{source}: ceiling column consistency is {table.schema['consistency']}, not numeric"
        )
    table = table.with_columns(pl.col("group").cast(pl.String))
    if "level" not in table.columns:
        both = sorted(set(countries) & set(languages))
        if both:
            raise SurveyError(
                f"{source}: groups {both} are both a country and a language; add a level column"
            )
        table = table.with_columns(
            pl.when(pl.col("group").is_in(list(countries)))
            .then(pl.lit("country"))
            .when(pl.col("group").is_in(list(languages)))
            .then(pl.lit("language"))
            .when(pl.col("group") == GLOBAL_GROUP)
            .then(pl.lit("global"))
            .alias("level")
        )
        unknown = table.filter(pl.col("level").is_null())["group"].to_list()
        if unknown:
            _LOG.info("%s: ignoring groups that are no configured country or language: %s", source, unknown)
        table = table.filter(pl.col("level").is_not_null())
    problems = []
    bad_levels = set(table.get_column("level").cast(pl.String).unique().to_list()) - set(LEVELS)
    if bad_levels:
        problems.append(f"level must be one of {', '.join(LEVELS)}, found {sorted(map(str, bad_levels))}")
    out_of_range = table.filter(~pl.col("consistency").cast(pl.Float64).is_between(-1, 1)).height
    if out_of_range:
        problems.append(f"{out_of_range} rows with consistency outside [-1, 1] or missing")
    duplicates = table.select("level", "group").is_duplicated().sum()
    if duplicates:
        problems.append(f"{duplicates} rows repeat a (level, group)")
    if problems:
        raise SurveyError(f"{source}: " + "; ".join(problems))
    covered = set(table.filter(pl.col("level") == "country")["group"].to_list())
    if uncovered := [country for country in countries if country not in covered]:
        _LOG.info("%s: no ceiling for configured countries %s", source, ", ".join(uncovered))
    return (
        table.with_columns(
            pl.lit(None, dtype).alias(name)
            for name, dtype in SURVEY_CONSISTENCY_SCHEMA.items()
            if name not in table.columns
        )
        .select(pl.col(name).cast(dtype) for name, dtype in SURVEY_CONSISTENCY_SCHEMA.items())
        .sort(pl.col("level").cast(pl.Enum(LEVELS)), "group")
    )
