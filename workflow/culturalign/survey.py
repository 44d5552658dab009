"""Survey stage: EVS/WVS microdata to ground-truth value polarity and the survey's own consistency.

A respondent is *affirmative* on an item when their answer falls in the item's affirmative range;
answers <= 0 are missing codes. A population's polarity on an item is the weighted fraction of
affirmative respondents among those who answered.
"""

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pycountry

from culturalign.items import Item
from culturalign.stats import REPEAT_SUMMARY_SCHEMA, disjoint_sample_consistency, random_stream

LEVELS = ("country", "language", "global")
GLOBAL_GROUP = "global"
SUPPORTED_SUFFIXES = (".sav", ".zsav", ".dta", ".csv")
GROUND_TRUTH_SCHEMA = {
    "level": pl.String,
    "group": pl.String,
    "item": pl.String,
    "pro_score": pl.Float64,
    "n": pl.Int64,
    "weight_sum": pl.Float64,
}
SURVEY_CONSISTENCY_SCHEMA = {"level": pl.String, "group": pl.String} | REPEAT_SUMMARY_SCHEMA | {"k": pl.Int64}


class SurveyError(ValueError):
    """Survey input that cannot be turned into ground truth; the message names file and variables."""


def survey_columns(path: str | Path) -> list[str]:
    """Variable names in a survey file, read without loading any data."""
    path = _existing_survey(path)
    suffix = path.suffix.lower()
    with _readable(path):
        if suffix == ".csv":
            return pl.read_csv(path, n_rows=0).columns
        import pyreadstat

        reader = pyreadstat.read_dta if suffix == ".dta" else pyreadstat.read_sav
        _, meta = reader(str(path), metadataonly=True)
    return list(meta.column_names)


@contextlib.contextmanager
def _readable(path: Path) -> Iterator[None]:
    """Turn a reader's failure on a damaged file (pyreadstat's bare "File did not contain the
    expected number of rows") into a SurveyError that names the file."""
    if path.suffix.lower() == ".csv":
        errors: tuple[type[Exception], ...] = (pl.exceptions.ComputeError,)
    else:
        import pyreadstat

        errors = (pyreadstat.ReadstatError, pyreadstat.PyreadstatError)
    try:
        yield
    except errors as error:
        raise SurveyError(
            f"{path}: the survey file cannot be read; it looks truncated or damaged ({error}). "
            f"Download or export it again (config key survey.path)"
        ) from error


def read_survey(path: str | Path, variables: Iterable[str]) -> pl.DataFrame:
    """Read only `variables` (matched case-insensitively) from a .sav, .dta or .csv file.

    Columns come back named in lower case, missing answers as nulls (never NaN).
    """
    path = _existing_survey(path)
    wanted = list(dict.fromkeys(variable.lower() for variable in variables))
    by_lower: dict[str, str] = {}
    for column in survey_columns(path):
        by_lower.setdefault(column.lower(), column)
    missing = [variable for variable in wanted if variable not in by_lower]
    if missing:
        raise SurveyError(
            f"{path}: missing variables {', '.join(missing)} "
            f"(matched case-insensitively against {len(by_lower)} variables in the file)"
        )
    actual = [by_lower[variable] for variable in wanted]
    suffix = path.suffix.lower()
    with _readable(path):
        if suffix == ".csv":
            frame = pl.read_csv(path, columns=actual, infer_schema_length=10_000)
        else:
            import pyreadstat

            reader = pyreadstat.read_dta if suffix == ".dta" else pyreadstat.read_sav
            # Reading to pandas then converting is faster than pyreadstat's polars output, and turns
            # NaN into null, which matters: in polars NaN > 0 is true.
            pandas_frame, _ = reader(str(path), usecols=actual)
            frame = pl.from_pandas(pandas_frame)
    frame = frame.rename(dict(zip(actual, wanted, strict=True)))
    return frame.with_columns(
        pl.col(column).fill_nan(None)
        for column, dtype in frame.schema.items()
        if dtype in (pl.Float32, pl.Float64)
    )


def _existing_survey(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise SurveyError(
            f"{path}: unsupported survey format {path.suffix!r}; expected one of "
            f"{', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not path.is_file():
        raise SurveyError(f"{path}: survey file not found (config key survey.path)")
    return path


def score_respondents(
    raw: pl.DataFrame,
    items: dict[str, Item],
    *,
    country_variable: str,
    language_variable: str,
    weights: list[str],
    source: str | Path,
) -> pl.DataFrame:
    """One row per respondent: country, language, weight, and per item True/False/null (missing).

    `raw` has lower-case column names as `read_survey` returns them.
    """
    country_variable, language_variable = country_variable.lower(), language_variable.lower()
    weights = [weight.lower() for weight in weights]
    answers = {key: pl.col(key).cast(pl.Float64) for key in items}
    _check_scales(raw.select(answers.values()), items, source)
    weight = pl.lit(1.0)
    for column in weights:
        bad = raw.select((pl.col(column).is_null() | (pl.col(column).cast(pl.Float64) < 0)).sum()).item()
        if bad:
            raise SurveyError(
                f"{source}: weight variable {column.upper()} is missing or negative for {bad} "
                f"respondents; fix the file or set survey.weights to the variables to multiply"
            )
        weight = weight * pl.col(column).cast(pl.Float64)
    return raw.select(
        pl.col(country_variable).cast(pl.String).str.strip_chars().alias("country"),
        pl.col(language_variable)
        .cast(pl.String)
        .str.strip_chars()
        .str.to_lowercase()
        .str.replace(r"[-_].*$", "")  # en_US, en-GB -> en
        .replace("", None)
        .alias("language"),
        weight.alias("weight"),
        *(
            pl.when(answer > 0)
            .then(answer.is_between(items[key].affirmative_low, items[key].affirmative_high))
            .alias(key)
            for key, answer in answers.items()
        ),
    )


def _check_scales(answers: pl.DataFrame, items: dict[str, Item], source: str | Path) -> None:
    highest = answers.select(pl.all().filter(pl.all() > 0).max()).row(0, named=True)
    wrong = [
        f"{items[key].variable} (answers up to {value:g}, item scale is 1-{items[key].scale_max})"
        for key, value in highest.items()
        if value is not None and value > items[key].scale_max
    ]
    if wrong:
        raise SurveyError(
            f"{source}: variables on another scale than their item's affirmative rule expects: "
            + "; ".join(wrong)
        )


def select_populations(
    respondents: pl.DataFrame, countries: list[str], pooled: str, source: str | Path
) -> pl.DataFrame:
    """Check that every configured country has respondents, and keep the ones to pool.

    `pooled` is `all_countries` (language and global levels pool every respondent in the file)
    or `configured_countries` (only the configured countries' respondents).
    """
    present = set(respondents.get_column("country").unique().drop_nulls().to_list())
    absent = [country for country in countries if country not in present]
    if absent:
        raise SurveyError(
            f"{source}: no respondents for configured countries {with_hints(absent, present)} "
            f"(survey.countries); countries in the file: {', '.join(sorted(present))}"
        )
    if pooled == "configured_countries":
        return respondents.filter(pl.col("country").is_in(countries))
    return respondents


def country_hint(code: str, known: Iterable[str] = ()) -> str | None:
    """The code a configured country code that is not in the data probably meant: the same code
    in the data's spelling (dk for DK, nir for NIR), the country's ISO code that the data holds
    (DNK for DK in a file of alpha-3 codes), else its ISO 3166-1 alpha-2 code (DNK, dk or Denmark
    for DK). None when there is no better guess. Country codes are not required to be ISO codes
    (the EVS/WVS joint file spells Northern Ireland NIR); ISO only serves the hint."""
    by_upper = {str(candidate).upper(): str(candidate) for candidate in known}
    if code.upper() in by_upper and by_upper[code.upper()] != code:
        return by_upper[code.upper()]
    try:
        country = pycountry.countries.lookup(code.strip())
    except LookupError:
        return None
    held = [iso for iso in (country.alpha_2, country.alpha_3) if iso in by_upper and iso != code]
    if held:
        return by_upper[held[0]]
    return country.alpha_2 if country.alpha_2 != code else None


def with_hints(codes: Iterable[str], known: Iterable[str] = ()) -> str:
    """Codes for a message, each followed by its hint: "DNK (did you mean DK?), PT"."""
    known = list(known)
    described = []
    for code in codes:
        hint = country_hint(code, known)
        described.append(f"{code} (did you mean {hint}?)" if hint else code)
    return ", ".join(described)


def ingest_survey(
    path: str | Path,
    items: dict[str, Item],
    *,
    countries: list[str],
    pooled_levels: str = "all_countries",
    country_variable: str = "cntry_AN",
    language_variable: str = "lnge_iso",
    weights: Sequence[str] = ("gwght", "pwght"),
) -> pl.DataFrame:
    """Microdata file to the scored respondents the ground truth and the consistency are built on."""
    raw = read_survey(path, [country_variable, language_variable, *weights, *items])
    respondents = score_respondents(
        raw,
        items,
        country_variable=country_variable,
        language_variable=language_variable,
        weights=list(weights),
        source=path,
    )
    return select_populations(respondents, countries, pooled_levels, path)


def populations(respondents: pl.DataFrame, countries: list[str]) -> pl.DataFrame:
    """The respondents of every population, long: level, group and the respondent's row index.

    Countries are the configured ones; languages and global pool every respondent given.
    """
    indexed = respondents.select("country", "language").with_row_index("row")
    return pl.concat(
        [
            indexed.filter(pl.col("country").is_in(countries)).select(
                pl.lit("country").alias("level"), pl.col("country").alias("group"), "row"
            ),
            indexed.filter(pl.col("language").is_not_null()).select(
                pl.lit("language").alias("level"), pl.col("language").alias("group"), "row"
            ),
            indexed.select(pl.lit("global").alias("level"), pl.lit(GLOBAL_GROUP).alias("group"), "row"),
        ]
    )


def ground_truth(respondents: pl.DataFrame, countries: list[str]) -> pl.DataFrame:
    """Weighted affirmative fraction per (level, group, item); groups with no answers are left out."""
    item_keys = _item_keys(respondents)
    weight = pl.col("weight")
    # One wide aggregation with three sums per item is several times faster than unpivoting
    # respondents to a long table first.
    sums = []
    for key in item_keys:
        answered = pl.col(key).is_not_null()
        sums += [
            (weight * pl.col(key).cast(pl.Float64)).sum().alias(f"{key}:pro"),
            weight.filter(answered).sum().alias(f"{key}:weight_sum"),
            answered.sum().cast(pl.Int64).alias(f"{key}:n"),
        ]
    wide = (
        populations(respondents, countries)
        .join(respondents.with_row_index("row"), on="row")
        .group_by("level", "group")
        .agg(sums)
    )
    long = pl.concat(
        wide.select(
            "level",
            "group",
            pl.lit(key).alias("item"),
            (pl.col(f"{key}:pro") / pl.col(f"{key}:weight_sum")).alias("pro_score"),
            pl.col(f"{key}:n").alias("n"),
            pl.col(f"{key}:weight_sum").alias("weight_sum"),
        )
        for key in item_keys
    )
    return (
        long.filter(pl.col("n") > 0)
        .sort(pl.col("level").cast(pl.Enum(LEVELS)), "group", "item")
        .select(pl.col(name).cast(dtype) for name, dtype in GROUND_TRUTH_SCHEMA.items())
    )


def _item_keys(respondents: pl.DataFrame) -> list[str]:
    return [column for column in respondents.columns if column not in ("country", "language", "weight")]


def survey_consistency(
    respondents: pl.DataFrame,
    countries: list[str],
    *,
    k: int = 10,
    repeats: int = 200,
    resamples: int = 200,
    resample_repeats: int = 50,
    seed: int = 0,
) -> pl.DataFrame:
    """The survey's self-consistency: the ceiling a model describing k people can reach.

    Per population and repeat: two disjoint samples of k respondents per item, drawn with
    probability proportional to the survey weight so that each sample represents the population
    as the k people of one model answer do; each sample's share of affirmative respondents per
    item; Pearson correlation across items. `consistency` is the mean over repeats;
    `ci_low`/`ci_high` a sampling interval, from `resamples` bootstrap resamples of each item's
    respondents (`resample_repeats` draws each, two samples never holding one respondent and a
    resampled copy); `draw_low`/`draw_high` the middle 95 % of single repeats (how far one paired
    draw may fall from the mean).
    """
    item_keys = _item_keys(respondents)
    members = populations(respondents, countries).group_by("level", "group", maintain_order=True).agg("row")
    weights = respondents.get_column("weight").to_numpy()
    # As floats, missing answers are NaN.
    answers = {key: respondents.get_column(key).cast(pl.Float64).to_numpy() for key in item_keys}
    rows = []
    for level, group, member_rows in members.iter_rows():
        items = _population_items(np.asarray(member_rows), weights, answers, k)
        rng = random_stream(seed, level, group)
        summary = disjoint_sample_consistency(
            items, k, repeats, resamples, resample_repeats, rng, "bootstrap over respondents"
        )
        rows.append(summary | {"level": level, "group": group, "k": k})
    return pl.DataFrame(rows, schema=SURVEY_CONSISTENCY_SCHEMA)


def empty_consistency() -> pl.DataFrame:
    """The consistency table when there is no microdata to draw respondents from."""
    return pl.DataFrame(schema=SURVEY_CONSISTENCY_SCHEMA)


def _population_items(
    member_rows: np.ndarray, weights: np.ndarray, answers: dict[str, np.ndarray], k: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per item with two samples' worth of answers in the population: its respondents' answers
    (1 affirmative, 0 not) and their weights."""
    member_weights = weights[member_rows]
    items = []
    for values in answers.values():
        values = values[member_rows]
        answered = np.flatnonzero(~np.isnan(values))
        if answered.size >= 2 * k:
            items.append((values[answered], member_weights[answered]))
    return items


# Main interview languages (ISO 639-1) of survey countries and their shares of interviews: the
# synthetic survey's design, and what RQ2 knows of an aggregated table, which has no lnge_iso.
INTERVIEW_LANGUAGES: dict[str, dict[str, float]] = {
    "US": {"en": 0.9, "es": 0.1},
    "GB": {"en": 1.0},
    "CA": {"en": 0.78, "fr": 0.22},
    "AU": {"en": 1.0},
    "NZ": {"en": 1.0},
    "IE": {"en": 1.0},
    "DK": {"da": 1.0},
    "NL": {"nl": 1.0},
    "SE": {"sv": 1.0},
    "NO": {"nb": 1.0},
    "FI": {"fi": 0.94, "sv": 0.06},
    "DE": {"de": 1.0},
    "CH": {"de": 0.68, "fr": 0.25, "it": 0.07},
    "PT": {"pt": 1.0},
    "ES": {"es": 0.85, "ca": 0.15},
    "FR": {"fr": 1.0},
    "IT": {"it": 1.0},
    "PL": {"pl": 1.0},
    "BR": {"pt": 1.0},
    "MX": {"es": 1.0},
    "AR": {"es": 1.0},
    "JP": {"ja": 1.0},
    "KR": {"ko": 1.0},
    "CN": {"zh": 1.0},
    "VN": {"vi": 1.0},
    "TH": {"th": 1.0},
    "ID": {"id": 0.85, "jv": 0.15},
    "IN": {"hi": 0.6, "bn": 0.1, "en": 0.1, "mr": 0.1, "ta": 0.1},
    "BD": {"bn": 1.0},
    "EG": {"ar": 1.0},
    "KE": {"sw": 0.55, "en": 0.45},
}
NATIVE_COUNTRIES_SCHEMA = {"language": pl.String, "country": pl.String, "source": pl.String}
# RQ2 compares each language's alignment with the US and with its native countries; English,
# the US's own language, is the one it does not ask about unless configured.
RQ2_REFERENCE_COUNTRY = "US"
RQ2_REFERENCE_LANGUAGE = "en"


def interview_shares(respondents: pl.DataFrame) -> pl.DataFrame:
    """Each country's share of interviews held in each language (lnge_iso)."""
    return (
        respondents.drop_nulls("language")
        .group_by("country", "language")
        .len()
        .select("country", "language", share=pl.col("len") / pl.col("len").sum().over("country"))
    )


def known_interview_shares(countries: Iterable[str]) -> pl.DataFrame:
    """INTERVIEW_LANGUAGES' shares for those of `countries` it knows."""
    rows = [
        (country, language, share)
        for country in countries
        for language, share in INTERVIEW_LANGUAGES.get(country, {}).items()
    ]
    return pl.DataFrame(rows, schema=["country", "language", "share"], orient="row")


def native_countries(
    shares: pl.DataFrame, languages: Iterable[str], configured: Mapping[str, list[str]], source: str
) -> pl.DataFrame:
    """RQ2's native countries of each language (NATIVE_COUNTRIES_SCHEMA): those `configured` for
    it, else the countries that hold most of their interviews in it (`shares`: interview_shares of
    the survey's respondents, or known_interview_shares for an aggregated table, `source` saying
    which), the US left out, as it is what they are compared with. A language with none has no
    row."""
    languages = list(languages)
    rows = [
        {"language": language, "country": country, "source": "config"}
        for language in languages
        for country in configured.get(language, [])
    ]
    main = shares.filter((pl.col("share") > 0.5) & (pl.col("country") != RQ2_REFERENCE_COUNTRY)).sort(
        "country"
    )
    rows += [
        {"language": language, "country": country, "source": source}
        for country, language in main.select("country", "language").iter_rows()
        if language in languages and language not in configured
    ]
    return pl.DataFrame(rows, schema=NATIVE_COUNTRIES_SCHEMA).sort("language", "country")


def native_mapping(table: pl.DataFrame) -> dict[str, list[str]]:
    """A native-countries table as language -> countries."""
    return {
        language: countries
        for language, countries in table.group_by("language", maintain_order=True).agg("country").iter_rows()
    }
