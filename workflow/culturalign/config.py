"""Configuration checks that run before any job: the JSON schema (with its defaults) and the facts a
schema cannot express (country and language codes, references between keys, files that must exist)."""

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import polars as pl
import pycountry

from culturalign.backends import backend_class, backend_names
from culturalign.backends.simulated import GLOBAL, NATIVE, UNIFORM
from culturalign.items import Item
from culturalign.phrase_bank import available_languages, phrase_bank_problems
from culturalign.prompts import prompt_bank_problems, translated_languages
from culturalign.survey import SurveyError, survey_columns
from culturalign.survey_tables import read_ceiling, read_table, validate_aggregated
from culturalign.synthetic_survey import SyntheticSurveyError, check_countries
from culturalign.yaml_io import read_yaml


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the config file, the key and the expectation."""


def _extend_with_defaults(validator_class):
    # The jsonschema documentation's recipe: fill each missing property with its schema default
    # before validating it, so nested defaults apply too.
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def apply_schema(config: dict, schema_path: str | Path, source: str) -> dict:
    """Fill defaults into `config` in place and raise one ConfigError listing every violation."""
    schema = read_yaml(schema_path)
    validator_class = _extend_with_defaults(jsonschema.validators.validator_for(schema))
    errors = sorted(validator_class(schema).iter_errors(config), key=lambda e: list(map(str, e.path)))
    if errors:
        raise ConfigError(
            f"{source}: invalid configuration:\n" + "\n".join(f"  {_describe(error)}" for error in errors)
        )
    return config


def _describe(error: jsonschema.ValidationError) -> str:
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
    key = key.lstrip(".") or "(top level)"
    if error.validator == "additionalProperties":
        allowed = ", ".join(error.schema.get("properties", {}))
        return f"{key}: {error.message}; allowed keys: {allowed}"
    if error.validator in ("required", "if"):
        return f"{key}: {error.message}"
    message = f"{error.instance!r} is not valid" if error.validator in ("oneOf", "anyOf") else error.message
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    return f"{key}: {message}" + (f" (expected: {' '.join(description.split())})" if description else "")


def add_uniform_baseline(config: dict) -> str | None:
    """Add a uniform-random respondent under the slug regression.rq2.reference to a study of
    models that has none: it is free and seeded, and every alignment is read against its floor.
    Returns the added slug (None when the study already has one, imports its models, or judges
    imported completions)."""
    models = config["models"]
    slug = config["regression"]["rq2"]["reference"]
    if (
        not models
        or config["safety"]["completions_import"]
        or slug in models
        or any(model.get("respondent") == "uniform" for model in models.values())
    ):
        return None
    models[slug] = {"backend": "simulated", "respondent": "uniform"}
    return slug


def sort_keys(value: Any) -> Any:
    """`value` with every mapping's keys in sorted order, recursively; lists keep their order."""
    if isinstance(value, Mapping):
        return {key: sort_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [sort_keys(element) for element in value]
    return value


def canonicalize(config: dict) -> None:
    """Sort the keys of every mapping in the config, in place. Rules receive parts of it as params,
    and Snakemake compares params by their text: a file whose keys were reordered or reformatted
    means the same study and must not rerun a job."""
    canonical = sort_keys(config)
    config.clear()
    config.update(canonical)


def check_config(config: dict, items: dict[str, Item], resources: str | Path, source: str) -> None:
    """Checks beyond the schema, on a config the schema has already filled in."""
    problems = list(_problems(config, items, Path(resources)))
    if problems:
        raise ConfigError(f"{source}: invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))


def _problems(config: dict, items: dict[str, Item], resources: Path) -> Iterator[str]:
    unknown_backends = list(_backend_problems(config["models"]))
    if unknown_backends:
        # every later check asks a model's backend what it is
        yield from unknown_backends
        return
    survey = config["survey"]
    if config["safety"]["completions_import"]:
        # a safety re-analysis reads no survey, prompts or capabilities
        yield from _model_problems(config, survey["countries"])
        yield from _safety_problems(config)
        return
    # Country codes are the survey's own (cntry_AN spells Northern Ireland NIR): whether each has
    # respondents is checked against the survey source below, or in the ingest job for microdata.
    countries = survey["countries"]
    languages_valid = True
    for index, code in enumerate(config["languages"]):
        if len(code) != 2 or pycountry.languages.get(alpha_2=code) is None:
            languages_valid = False
            yield f"languages[{index}]: {code!r} is not an ISO 639-1 language code (e.g. da)"
    if config["items"] == "scored":
        item_keys = [key for key, item in items.items() if item.scored]
    else:
        item_keys = [key for key in config["items"] if key in items]
        unknown = [key for key in config["items"] if key not in items]
        if unknown:
            yield f"items: unknown item keys {unknown}; known keys are in resources/items.yaml"
    if config["judged_import"] is not None and config["models"]:
        yield "judged_import: a re-analysis takes its models from the imported table; leave models empty"
    yield from _model_problems(config, countries)
    yield from _translation_problems(config)
    yield from _safety_problems(config)
    if config["models"] and languages_valid:
        selected = {key: items[key] for key in item_keys}
        translated = translated_languages(resources, config["languages"], config["translation"]["translator"])
        yield from prompt_bank_problems(resources, config["languages"], selected, translated)
        if any(backend_class(model["backend"]).simulated for model in config["models"].values()):
            # A language without a phrase bank is one simulated respondents do not answer in.
            banked = [
                language for language in config["languages"] if language in available_languages(resources)
            ]
            yield from phrase_bank_problems(resources, banked, item_keys)
    yield from _regression_problems(config)
    yield from _survey_source_problems(
        survey, item_keys, list(items), reanalysis=config["judged_import"] is not None
    )
    yield from _ceiling_problems(survey, config["languages"])


def _regression_problems(config: dict) -> Iterator[str]:
    regression = config["regression"]
    models = config["models"]
    if not models:
        return  # re-analysis: the models come from the imported table
    for index, slug in enumerate(regression["rq1"]["models"] or []):
        if slug not in models:
            yield f"regression.rq1.models[{index}]: {slug!r} is not a model slug under models"
    countries = config["survey"]["countries"]
    for language, natives in regression["rq2"]["native_countries"].items():
        absent = [country for country in [*natives, "US"] if country not in countries]
        if language in config["languages"] and absent:
            yield f"regression.rq2.native_countries.{language}: {absent} not in survey.countries"


def _backend_problems(models: dict) -> Iterator[str]:
    configurable = backend_names()
    for slug, model in models.items():
        if model["backend"] not in configurable:
            yield f"models.{slug}.backend: {model['backend']!r} is not one of the backends {configurable}"


def _model_problems(config: dict, countries: list[str]) -> Iterator[str]:
    populations = {*countries, NATIVE, GLOBAL, UNIFORM}
    for slug, model in config["models"].items():
        named = [model["population"]] if model.get("respondent") == "population" else []
        named += list(model.get("mixture", {})) if model.get("respondent") == "mixture" else []
        for population in named:
            if population not in populations:
                yield (
                    f"models.{slug}: population {population!r} is neither one of survey.countries "
                    f"{countries} nor {NATIVE!r}, {GLOBAL!r} or {UNIFORM!r}"
                )
    judges = config["judges"]
    for key, slug in [("primary", judges["primary"])] + [
        (f"secondary[{i}]", s) for i, s in enumerate(judges["secondary"])
    ]:
        if slug is None:
            continue
        yield from _tool_model_problems(f"judges.{key}", slug, config["models"], offline=True)
    if config["regression"]["rq1"]["consistency"] == "corrected" and not judges["secondary"]:
        yield (
            "regression.rq1.consistency: 'corrected' needs judges.secondary, whose agreement with the "
            "primary judge measures its reliability"
        )
    if judges["secondary"] and judges["primary"] is None:
        yield "judges.secondary: secondary judges need a primary judge (judges.primary)"
    if judges["primary"] in judges["secondary"]:
        yield f"judges.secondary: {judges['primary']!r} is already the primary judge"
    if judges["gold"] is not None and not Path(judges["gold"]).is_file():
        yield f"judges.gold: file {judges['gold']} not found (relative to the working directory)"


def _translation_problems(config: dict) -> Iterator[str]:
    slug = config["translation"]["translator"]
    if slug is None:
        return
    yield from _tool_model_problems("translation.translator", slug, config["models"])


def _safety_problems(config: dict) -> Iterator[str]:
    safety = config["safety"]
    if not safety["enabled"]:
        return
    if safety["judge"] is not None:
        yield from _tool_model_problems("safety.judge", safety["judge"], config["models"], offline=True)
    for index, source in enumerate(safety["completions_import"]):
        if not Path(source["path"]).is_file():
            yield (
                f"safety.completions_import[{index}].path: file {source['path']} not found "
                "(relative to the working directory)"
            )
    if safety["completions_import"]:
        if config["judged_import"] is not None:
            yield "safety.completions_import: re-analyse survey answers (judged_import) or safety completions"
        evaluated = [slug for slug, model in config["models"].items() if model.get("evaluate", True)]
        if evaluated:
            yield (
                f"safety.completions_import: models {evaluated} would be evaluated; a re-analysis of "
                "completions only judges them (set evaluate: false on its judges)"
            )
    for index, source in enumerate(safety["external"]):
        if not Path(source["path"]).is_file():
            yield (
                f"safety.external[{index}].path: file {source['path']} not found "
                "(relative to the working directory)"
            )
    for slug, model in config["models"].items():
        for language in model.get("safety", {}).get("languages", {}):
            if language not in config["languages"]:
                yield (
                    f"models.{slug}.safety.languages: {language!r} is not one of the study's "
                    f"languages {config['languages']}"
                )


def _tool_model_problems(key: str, slug: str, models: dict, offline: bool = False) -> Iterator[str]:
    """A judge or translator is a real model under models reached through an API; a judge may
    also run as one job over all it reads (`offline`, vLLM)."""

    def allowed(backend) -> bool:
        return backend.serves_as_tool and (offline or not backend.one_job_per_model)

    if slug not in models:
        yield f"{key}: {slug!r} is not a model slug under models"
    elif not allowed(backend_class(models[slug]["backend"])):
        yield (
            f"{key}: {slug!r} has backend {models[slug]['backend']!r}; it must be one of "
            f"{backend_names(allowed)} (serve an open-weight model with `vllm serve` and give its "
            "base_url, or run it with vllm)"
        )


def _survey_source_problems(
    survey: dict, item_keys: list[str], bank: list[str], reanalysis: bool
) -> Iterator[str]:
    if survey["aggregated"] is not None:
        path = Path(survey["aggregated"])
        if path.suffix.lower() not in (".csv", ".parquet"):
            yield f"survey.aggregated: {path} must be a .csv or .parquet table"
        elif not path.is_file():
            yield f"survey.aggregated: file {path} not found (relative to the working directory)"
        else:
            # A released table is small: its items and countries are checked before any job. A
            # re-analysis takes its items from the imported table: any item may be there, none must.
            kept, required = (bank, []) if reanalysis else (item_keys, item_keys)
            try:
                validate_aggregated(read_table(path), kept, path, survey["countries"], required)
            except (SurveyError, pl.exceptions.PolarsError) as error:
                yield f"survey.aggregated: {error}"
        return
    path = Path(survey["path"])
    if survey["synthetic"]["enabled"]:
        if path.suffix.lower() != ".sav":
            yield f"survey.path: the synthetic survey is written as .sav, got {path}"
        try:
            # The demo must know a country's interview languages and cultural zone to simulate it.
            check_countries(survey["countries"])
        except SyntheticSurveyError as error:
            yield str(error)
    elif path.suffix.lower() not in (".sav", ".zsav", ".dta", ".csv"):
        yield f"survey.path: {path} must be a .sav, .zsav, .dta or .csv file"
    elif not path.is_file():
        yield (
            f"survey.path: file {path} not found (relative to the working directory); point it at "
            f"your EVS/WVS file or set survey.synthetic.enabled: true for the demo survey"
        )
    else:
        # Reading the variable names costs milliseconds; a missing variable should not wait for a job.
        # Whether each configured country has respondents needs the data: the ingest job checks it.
        try:
            present = {column.lower() for column in survey_columns(path)}
        except SurveyError as error:
            yield f"survey.path: {error}"
            return
        needed = [survey["country_variable"], survey["language_variable"], *survey["weights"], *item_keys]
        missing = [variable for variable in needed if variable.lower() not in present]
        if missing:
            yield (
                f"survey.path: {path} lacks variables {', '.join(missing)} (matched case-insensitively); "
                f"set survey.country_variable, survey.language_variable, survey.weights or items"
            )


def _ceiling_problems(survey: dict, languages: list[str]) -> Iterator[str]:
    if survey["ceiling"] is None:
        return
    path = Path(survey["ceiling"])
    if path.suffix.lower() not in (".csv", ".parquet"):
        yield f"survey.ceiling: {path} must be a .csv or .parquet table"
    elif not path.is_file():
        yield f"survey.ceiling: file {path} not found (relative to the working directory)"
    else:
        try:
            read_ceiling(path, survey["countries"], languages)
        except (SurveyError, pl.exceptions.PolarsError) as error:
            yield f"survey.ceiling: {error}"
