"""A synthetic, WVS-shaped survey for the embedded default: real variable names, scales, missing
codes and weights, with per-country item probabilities known in advance so that the survey stage
can be checked against them.

Countries share a global item profile, a profile of their cultural zone (after Inglehart and
Welzel's map) and a country-specific deviation, on the logit scale, so that their polarity vectors
correlate the way real countries do: highest within a zone, lower across zones.
"""

from pathlib import Path

import numpy as np
import polars as pl
import pycountry

from culturalign.items import Item
from culturalign.survey import INTERVIEW_LANGUAGES, with_hints

CULTURAL_ZONES: dict[str, str] = {
    "US": "english_speaking",
    "GB": "english_speaking",
    "CA": "english_speaking",
    "AU": "english_speaking",
    "NZ": "english_speaking",
    "IE": "english_speaking",
    "DK": "protestant_europe",
    "NL": "protestant_europe",
    "SE": "protestant_europe",
    "NO": "protestant_europe",
    "FI": "protestant_europe",
    "DE": "protestant_europe",
    "CH": "protestant_europe",
    "PT": "catholic_europe",
    "ES": "catholic_europe",
    "FR": "catholic_europe",
    "IT": "catholic_europe",
    "PL": "catholic_europe",
    "BR": "latin_america",
    "MX": "latin_america",
    "AR": "latin_america",
    "JP": "confucian",
    "KR": "confucian",
    "CN": "confucian",
    "VN": "confucian",
    "TH": "west_south_asia",
    "IN": "west_south_asia",
    "ID": "african_islamic",
    "BD": "african_islamic",
    "EG": "african_islamic",
    "KE": "african_islamic",
}
# The zones and countries of each release of the generator, in the order their profiles are drawn.
DRAW_ORDER = (
    (
        ("catholic_europe", "confucian", "english_speaking", "latin_america", "protestant_europe"),
        ("AR", "AU", "BR", "CA", "CH", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IT", "JP", "MX", "NL",
         "NO", "NZ", "PL", "PT", "SE", "US"),
    ),
    (("african_islamic", "west_south_asia"), ("BD", "CN", "EG", "ID", "IN", "KE", "KR", "TH", "VN")),
)  # fmt: skip
# Population in millions (2020s), for the population-size weight pwght.
POPULATION_MILLIONS: dict[str, float] = {
    "US": 333.0, "GB": 67.0, "CA": 39.0, "AU": 26.0, "NZ": 5.1, "IE": 5.1, "DK": 5.9, "NL": 17.6,
    "SE": 10.4, "NO": 5.4, "FI": 5.5, "DE": 83.0, "CH": 8.7, "PT": 10.3, "ES": 47.4, "FR": 68.0,
    "IT": 59.0, "PL": 37.7, "BR": 214.0, "MX": 127.0, "AR": 45.8, "JP": 125.0, "KR": 51.7,
    "CN": 1412.0, "VN": 98.0, "TH": 71.6, "ID": 276.0, "IN": 1417.0, "BD": 171.0, "EG": 109.0,
    "KE": 54.0,
}  # fmt: skip
# Spread of the logit-scale profiles: global item level, zone deviation, country deviation.
ITEM_SPREAD, ZONE_SPREAD, COUNTRY_SPREAD = 1.3, 0.5, 0.45
# WVS missing codes and their share among missing answers.
MISSING_CODES = {
    -1: ("Don't know", 0.6),
    -2: ("No answer", 0.25),
    -5: ("Missing: other", 0.1),
    -4: ("Not asked", 0.05),
}
# SPSS files carry the wall-clock time of writing; a fixed stamp keeps same-seed files byte-identical.
SAV_TIMESTAMP = b"01 Jan 24" + b"00:00:00"  # creation date, then time
SAV_TIMESTAMP_OFFSET = 92


class SyntheticSurveyError(ValueError):
    """A synthetic survey that cannot be built as configured."""


def supported_countries() -> list[str]:
    return sorted(INTERVIEW_LANGUAGES)


def check_countries(countries: list[str]) -> None:
    """The synthetic survey knows the interview languages of a fixed set of countries."""
    unknown = [country for country in countries if country not in INTERVIEW_LANGUAGES]
    if unknown:
        raise SyntheticSurveyError(
            f"survey.countries: the synthetic survey has no interview languages for "
            f"{with_hints(unknown, supported_countries())}; it covers {', '.join(supported_countries())}"
        )


def country_probabilities(items: dict[str, Item], countries: list[str], seed: int) -> pl.DataFrame:
    """The designed probability that a respondent of each country is affirmative on each item."""
    check_countries(countries)
    rng = np.random.default_rng([seed, 1])
    keys = sorted(items)
    item_level = rng.normal(0.0, 1.0, size=len(keys))
    # Standardised, so that how strongly countries correlate does not hinge on the seed.
    item_level = ITEM_SPREAD * (item_level - item_level.mean()) / item_level.std()
    # Deviations are drawn for every supported zone and country in the order they joined the
    # generator, so that a country's profile depends neither on which countries are configured
    # nor on countries supported later.
    zone_deviation, country_deviation = {}, {}
    for zones, supported in DRAW_ORDER:
        zone_deviation |= zip(zones, rng.normal(0.0, ZONE_SPREAD, size=(len(zones), len(keys))), strict=True)
        country_deviation |= zip(
            supported, rng.normal(0.0, COUNTRY_SPREAD, size=(len(supported), len(keys))), strict=True
        )
    return pl.DataFrame(
        [
            {"country": country, "item": key, "probability": float(probability)}
            for country in countries
            for key, probability in zip(
                keys,
                _logistic(item_level + zone_deviation[CULTURAL_ZONES[country]] + country_deviation[country]),
                strict=True,
            )
        ]
    )


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def synthetic_microdata(
    items: dict[str, Item],
    countries: list[str],
    respondents_per_country: int,
    seed: int,
    extra_variables: int = 0,
) -> pl.DataFrame:
    """Respondent-level answers in the shape of the EVS/WVS joint file (upper-case IVS names).

    `extra_variables` adds unrelated 4-point variables (A001, A002, ...) to reach the width of a
    real file, for benchmarks.
    """
    probabilities = country_probabilities(items, countries, seed)
    rng = np.random.default_rng([seed, 2])
    n = respondents_per_country * len(countries)
    country = np.repeat(np.array(countries), respondents_per_country)
    columns: dict[str, np.ndarray] = {
        "S002VS": np.full(n, 7.0),
        "S003": np.repeat(
            [float(pycountry.countries.get(alpha_2=c).numeric) for c in countries], respondents_per_country
        ),
        "S020": np.repeat(
            rng.integers(2017, 2023, size=len(countries)).astype(float), respondents_per_country
        ),
        "cntry_AN": country,
        "lnge_iso": np.concatenate(
            [_interview_languages(c, respondents_per_country, rng) for c in countries]
        ),
        "X001": rng.integers(1, 3, size=n).astype(float),
        "X003": rng.integers(18, 86, size=n).astype(float),
    }
    design_weight = rng.lognormal(0.0, 0.3, size=n).reshape(len(countries), respondents_per_country)
    columns["gwght"] = (design_weight / design_weight.mean(axis=1, keepdims=True)).ravel()
    population_share = np.array([POPULATION_MILLIONS[c] for c in countries])
    population_share = population_share / population_share.sum()
    columns["pwght"] = np.repeat(population_share * len(countries), respondents_per_country)
    for key in sorted(items):
        p = probabilities.filter(pl.col("item") == key).get_column("probability").to_numpy()
        columns[items[key].variable] = _answers(items[key], np.repeat(p, respondents_per_country), rng)
    for index in range(1, extra_variables + 1):
        columns[f"A{index:03d}"] = _with_missing(rng.integers(1, 5, size=n).astype(float), 0.03, rng)
    return pl.DataFrame(columns)


def _interview_languages(country: str, size: int, rng: np.random.Generator) -> np.ndarray:
    languages = INTERVIEW_LANGUAGES[country]
    return rng.choice(list(languages), size=size, p=list(languages.values()))


def _answers(item: Item, probability: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    affirmative_codes = np.arange(item.affirmative_low, item.affirmative_high + 1)
    other_codes = np.setdiff1d(np.arange(1, item.scale_max + 1), affirmative_codes)
    affirmative = rng.random(probability.size) < probability
    answers = np.where(
        affirmative,
        rng.choice(affirmative_codes, size=probability.size),
        rng.choice(other_codes, size=probability.size),
    ).astype(float)
    return _with_missing(answers, rng.uniform(0.01, 0.06), rng)


def _with_missing(answers: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    codes = list(MISSING_CODES)
    shares = [share for _, share in MISSING_CODES.values()]
    missing = rng.random(answers.size) < rate
    answers[missing] = rng.choice(codes, size=int(missing.sum()), p=shares)
    return answers


def write_sav(microdata: pl.DataFrame, path: str | Path, items: dict[str, Item]) -> None:
    """Write microdata as an SPSS file with variable and value labels, byte-identical per input."""
    import pyreadstat

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    missing_labels = {code: label for code, (label, _) in MISSING_CODES.items()}
    column_labels = {
        "S002VS": "Chronology of EVS-WVS waves",
        "S003": "ISO 3166-1 numeric country code",
        "S020": "Year survey",
        "cntry_AN": "ISO 3166-1 alpha-2 country code",
        "lnge_iso": "Language in which interview was conducted (ISO 639-1)",
        "X001": "Sex",
        "X003": "Age",
        "gwght": "Original weight",
        "pwght": "Population size weight",
    } | {item.variable: item.label for item in items.values()}
    value_labels = {
        item.variable: missing_labels | {1: "lowest answer code", item.scale_max: "highest answer code"}
        for item in items.values()
        if item.variable in microdata.columns
    }
    pyreadstat.write_sav(
        microdata.to_pandas(),
        str(path),
        file_label="culturalign synthetic EVS/WVS joint file (simulated respondents)",
        column_labels=[column_labels.get(column, column) for column in microdata.columns],
        variable_value_labels=value_labels,
    )
    with path.open("r+b") as handle:
        handle.seek(SAV_TIMESTAMP_OFFSET)
        handle.write(SAV_TIMESTAMP)
