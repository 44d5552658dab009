# Validation, shared paths, targets and input functions. Shipped inputs are found next to the
# Snakefile; everything a study writes lands under the working directory.
import itertools
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

from culturalign.config import ConfigError, apply_schema, check_config
from culturalign.items import ItemsError, load_items, select_items
from culturalign.phrase_bank import available_languages, phrase_bank_path
from culturalign.prompts import templates_path, topics_path

REPO = Path(workflow.basedir)
RESOURCES = REPO / "resources"
ITEMS_FILE = RESOURCES / "items.yaml"
CONFIG_SOURCE = ", ".join(map(str, workflow.configfiles)) or "config"

try:
    apply_schema(
        config, REPO / "workflow" / "schemas" / "config.schema.yaml", CONFIG_SOURCE
    )
    ITEMS = load_items(ITEMS_FILE)
    check_config(config, ITEMS, RESOURCES, CONFIG_SOURCE)
    SCORED_ITEMS = select_items(ITEMS, config["items"])
except (ConfigError, ItemsError) as error:
    raise WorkflowError(str(error)) from None

SURVEY = config["survey"]
MODELS = config["models"]
LANGUAGES = config["languages"]
SEEDS = config["seeds"]


wildcard_constraints:
    model="|".join(map(re.escape, MODELS)) or "(?!)",
    language="|".join(map(re.escape, LANGUAGES)),
    seed=r"\d+",


report: "../workflow/report/workflow.rst"


def model_language_seeds():
    """Every configured (model, language, seed), in a fixed order."""
    return list(itertools.product(MODELS, LANGUAGES, SEEDS))


def per_model_language_seed(pattern):
    """`pattern` filled in for every configured (model, language, seed), in that order."""
    return [
        pattern.format(model=model, language=language, seed=seed)
        for model, language, seed in model_language_seeds()
    ]


def final_targets():
    targets = [
        "results/survey/ground_truth.parquet",
        "results/survey/consistency.parquet",
    ]
    if MODELS:
        targets += [
            "results/alignment.parquet",
            "results/consistency.parquet",
            "results/filtering.parquet",
        ]
    return targets


def prompt_resources(wildcards):
    """The prompt templates and topic paraphrases of one language."""
    files = [templates_path(RESOURCES, wildcards.language)]
    if wildcards.language != "en":
        files.append(topics_path(RESOURCES, wildcards.language))
    return files


def phrase_banks(wildcards):
    """Simulated respondents may answer in any language that has a phrase bank."""
    return [
        phrase_bank_path(RESOURCES, language)
        for language in available_languages(RESOURCES)
    ]


def generation_inputs(wildcards):
    inputs = {
        "prompts": f"results/prompts/{wildcards.language}/{wildcards.seed}.parquet"
    }
    if MODELS[wildcards.model]["backend"] == "simulated":
        inputs["ground_truth"] = "results/survey/ground_truth.parquet"
        inputs["phrase_banks"] = phrase_banks(wildcards)
    return inputs


def model_family(wildcards):
    settings = MODELS[wildcards.model]
    return settings.get("family", settings["backend"])
