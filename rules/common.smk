# Validation, the study plan (STUDY, culturalign.plan) and the input functions that format its
# paths. Shipped inputs are found next to the Snakefile; everything a study writes lands under the
# working directory. What runs and why something is left out is decided in the plan, not here.
import re
from datetime import UTC, datetime
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from culturalign.cache import CompletionCache
from culturalign.calls import uncached
from culturalign.config import ConfigError
from culturalign.generate import model_requests
from culturalign.items import ItemsError, load_items, select_items
from culturalign.long_jobs import answers_to_judge, runtime_minutes
from culturalign.plan import plan_study
from culturalign.prompts import templates_path, topics_path
from culturalign.reanalysis import JudgedImportError
from culturalign.regression import RegressionError
from culturalign.safety import SafetyError

REPO = Path(workflow.basedir)
RESOURCES = REPO / "resources"
ITEMS_FILE = RESOURCES / "items.yaml"
CONFIG_SOURCE = ", ".join(map(str, workflow.configfiles)) or "config"
try:
    ITEMS = load_items(ITEMS_FILE)
except ItemsError as error:
    raise WorkflowError(str(error)) from None

try:
    STUDY, BASELINE_ADDED = plan_study(
        config,
        REPO / "workflow" / "schemas" / "config.schema.yaml",
        RESOURCES,
        CONFIG_SOURCE,
        ITEMS,
    )
except (ConfigError, JudgedImportError) as error:
    raise WorkflowError(str(error)) from None
except (RegressionError, SafetyError) as error:
    raise WorkflowError(f"{CONFIG_SOURCE}: {error}") from None
if BASELINE_ADDED:
    logger.info(
        f"{CONFIG_SOURCE}: added the uniform-random baseline {BASELINE_ADDED!r} "
        "(simulated, free, seeded)"
    )
SCORED_ITEMS = select_items(ITEMS, config["items"])
for warning in STUDY.warnings:
    logger.warning(warning)

SURVEY = config["survey"]
SAFETY = config["safety"]
SAFETY_SAMPLING = {**config["generation"], **SAFETY["sampling"]}
REGRESSION = config["regression"]
CAPABILITIES_FILE = REGRESSION["capabilities"] or RESOURCES / "capabilities.csv"
PRICES_FILE = RESOURCES / "prices.csv"
COMPLETION_CACHE = "results/cache/completions.sqlite"
JUDGE_TEMPLATE = RESOURCES / "judge" / "prompt.jinja"
TRANSLATE_TEMPLATE = RESOURCES / "translate" / "prompt.jinja"
SAFETY_JUDGE_TEMPLATE = RESOURCES / "safety" / "judge.jinja"
# The drift canary's date: it asks each judge again once per date.
CANARY_DATE = config["judges"]["canary"]["date"] or datetime.now(UTC).date().isoformat()
VLLM_MANIFEST = "results/vllm/{model}.json"
JUDGE_MANIFEST = "results/vllm/judge/{judge}.json"


def alternatives(names):
    """A wildcard pattern matching exactly these names (nothing when there are none)."""
    return "|".join(map(re.escape, names)) or "(?!)"


wildcard_constraints:
    model=alternatives(STUDY.models),
    language=alternatives(STUDY.languages),
    seed=r"\d+",
    judge=alternatives(STUDY.llm_judges),
    attack=alternatives(SAFETY["attacks"]),


report: "../workflow/report/workflow.rst"


def prompt_resources(wildcards):
    """The prompt templates and topic paraphrases of one language, hand-written or translated."""
    if wildcards.language in STUDY.translated:
        return [
            f"results/translations/{wildcards.language}/templates.yaml",
            f"results/translations/{wildcards.language}/topics.yaml",
        ]
    files = [templates_path(RESOURCES, wildcards.language)]
    if wildcards.language != "en":
        files.append(topics_path(RESOURCES, wildcards.language))
    return files


def answering_inputs(wildcards, prompts):
    """What a model's job answering `prompts` reads: a simulated respondent's phrase banks, the
    manifest of the one job that answered all runs of its model."""
    inputs = {"prompts": prompts}
    kind = STUDY.backend(wildcards.model)
    if kind.simulated:
        inputs["phrase_banks"] = STUDY.phrase_banks()
    if kind.one_job_per_model:
        # ancient: a language added later reruns the model's job for the new prompts only,
        # without marking the runs already answered as out of date.
        inputs["manifest"] = ancient(VLLM_MANIFEST.format(model=wildcards.model))
    return inputs


def generation_inputs(wildcards):
    """answering_inputs of one survey run, the populations a simulated respondent reproduces,
    and a Batch API model's submission."""
    inputs = answering_inputs(
        wildcards, "results/prompts/{language}/{seed}.parquet".format(**wildcards)
    )
    kind = STUDY.backend(wildcards.model)
    if kind.simulated:
        inputs["ground_truth"] = "results/survey/ground_truth.parquet"
    if kind.submits_ahead(STUDY.models[wildcards.model]):
        inputs["submitted"] = (
            "results/batches/{model}/{language}/{seed}.submitted.json".format(
                **wildcards
            )
        )
    return inputs


def safety_generation_inputs(wildcards):
    return answering_inputs(
        wildcards, "results/safety/prompts/{language}.parquet".format(**wildcards)
    )


def scoring_inputs(wildcards):
    """What one run's score_run reads: the imported judged table, the primary LLM judge's labels,
    or the responses and the phrase banks the simulated reader reads them with."""
    if STUDY.imported:
        return {"table": STUDY.imported}
    if STUDY.read_by_llm_judge(wildcards.model):
        return {
            "labels": "results/judge_labels/{judge}/{model}/{language}/{seed}.parquet".format(
                judge=STUDY.primary_judge, **wildcards
            )
        }
    if wildcards.model in STUDY.answered_in_scoring:
        # the run's answers are written by its score_run job (answer_and_score_run)
        return {
            "prompts": "results/prompts/{language}/{seed}.parquet".format(**wildcards),
            "phrase_banks": STUDY.phrase_banks(),
            "prices": PRICES_FILE,
        }
    if wildcards.model in STUDY.unjudged_models:
        raise WorkflowError(
            f"{CONFIG_SOURCE}: models.{wildcards.model} is a real model; its responses need an LLM "
            "judge: set judges.primary to a model slug under models. `snakemake generation` "
            "collects its responses without judging them."
        )
    return {
        "responses": "results/responses/{model}/{language}/{seed}.parquet".format(
            **wildcards
        ),
        "phrase_banks": STUDY.phrase_banks(),
    }


def model_settings(model_key):
    """The settings of the model named by the wildcard `model_key`."""
    return lambda wildcards: STUDY.models[wildcards[model_key]]


def gpus(model_key):
    """A GPU job's GPUs, from its model's `gpus` (default 1): its tensor parallel size, and what
    profiles/slurm asks the cluster for."""
    return lambda wildcards: STUDY.models[wildcards[model_key]].get("gpus", 1)


def gpu_runtime(model_of, requests_of):
    """A GPU job's time request in minutes (culturalign.long_jobs.runtime_minutes): its model's
    startup plus `requests_of(wildcards, input)` requests at its `requests_per_minute`. Snakemake
    evaluates it again once the job's inputs exist; until then the requests are not counted.
    A job without a model (the simulated reader's safety_judge) runs locally, where it is unused.
    """

    def runtime(wildcards, input, attempt):
        ready = all(Path(path).exists() for path in input)
        requests = requests_of(wildcards, input) if ready else None
        return runtime_minutes(
            requests, STUDY.models.get(model_of(wildcards), {}), attempt
        )

    return runtime


def vllm_generation_left(wildcards, input):
    """The requests a model's generate_vllm job has left: those the cache does not hold."""
    requests = model_requests(
        STUDY.as_params(STUDY.runs_of(wildcards.model)),
        input.prompts,
        dict(zip(STUDY.safety_languages_of(wildcards.model), input.safety_prompts)),
        settings=STUDY.models[wildcards.model],
        sampling=config["generation"],
        safety_sampling=SAFETY_SAMPLING,
        attacks=STUDY.safety_attacks,
    )
    every = [request for run in requests.values() for request in run]
    return len(uncached(every, CompletionCache(COMPLETION_CACHE)))


def vllm_answers_to_judge(wildcards, input):
    """The answers a GPU judge's one job reads (about a request each; cached ones included)."""
    return answers_to_judge(input.responses)


def api_requests(model_key):
    """Requests in flight of the model named by the wildcard `model_key`: profiles cap their sum."""
    return lambda wildcards: STUDY.requests_in_flight(wildcards[model_key])


def reported(entries):
    """Registry entries (culturalign.report.registry) as outputs marked for the report."""
    return {
        entry.name: report(
            entry.path,
            caption=f"../workflow/report/{entry.caption}",
            category=entry.category,
            labels=entry.labels,
        )
        for entry in entries
    }


def final_targets():
    """What `snakemake` delivers (culturalign.plan.Study.targets), given the rules' outputs."""
    return STUDY.targets(lambda rule: list(getattr(rules, rule).output))
