# Validation, shared paths, targets and input functions. Shipped inputs are found next to the
# Snakefile; everything a study writes lands under the working directory.
import itertools
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from culturalign.backends.openai_api import DEFAULTS as OPENAI_DEFAULTS
from culturalign.config import (
    ConfigError,
    add_uniform_baseline,
    apply_schema,
    check_config,
)
from culturalign.items import ItemsError, load_items, select_items
from culturalign.phrase_bank import available_languages, phrase_bank_path
from culturalign.prompts import templates_path, topics_path, translated_languages
from culturalign.regression import (
    RegressionError,
    load_capabilities,
    model_capabilities,
)
from culturalign.reanalysis import (
    JudgedImportError,
    read_judged_import,
    runs_of,
    with_uniform_baseline,
)
from culturalign.report.notes import baseline_models, caption_banner, honesty_notes
from culturalign.report.registry import (
    SAFETY_FIGURES,
    STUDY_FIGURES,
    TABLE_PAGES,
    ReportScope,
    shown_entries,
)
from culturalign.safety import load_other_language, safety_set_path

REPO = Path(workflow.basedir)
RESOURCES = REPO / "resources"
ITEMS_FILE = RESOURCES / "items.yaml"
CONFIG_SOURCE = ", ".join(map(str, workflow.configfiles)) or "config"

try:
    SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
    apply_schema(config, SCHEMA, CONFIG_SOURCE)
    BASELINE_ADDED = add_uniform_baseline(config)
    if BASELINE_ADDED:
        # the added model's own defaults
        apply_schema(config, SCHEMA, CONFIG_SOURCE)
        logger.info(
            f"{CONFIG_SOURCE}: added the uniform-random baseline {BASELINE_ADDED!r} "
            "(simulated, free, seeded)"
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
JUDGED_IMPORT = config["judged_import"]
# Models with evaluate: false are tools only (judges, translators): they answer no survey prompts.
EVALUATED = [
    slug for slug, settings in MODELS.items() if settings.get("evaluate", True)
]
# Simulated respondents write from phrase banks: none in a language without one.
PHRASE_BANK_LANGUAGES = available_languages(RESOURCES)
RUNS = [
    (model, language, seed)
    for model, language, seed in itertools.product(EVALUATED, LANGUAGES, SEEDS)
    if MODELS[model]["backend"] != "simulated" or language in PHRASE_BANK_LANGUAGES
]
JUDGES = config["judges"]
LLM_JUDGES = [JUDGES["primary"], *JUDGES["secondary"]] if JUDGES["primary"] else []
# A vLLM judge is one job over all runs (its weights load once); API judges, one job per run.
VLLM_JUDGES = [judge for judge in LLM_JUDGES if MODELS[judge]["backend"] == "vllm"]
API_JUDGES = [judge for judge in LLM_JUDGES if judge not in VLLM_JUDGES]
if JUDGED_IMPORT:
    # A re-analysis: models, languages and seeds are those of the imported table.
    try:
        IMPORTED = with_uniform_baseline(
            read_judged_import(JUDGED_IMPORT, set(ITEMS)),
            config["regression"]["rq2"]["reference"],
            seed=config["alignment"]["seed"],
        )
    except JudgedImportError as error:
        raise WorkflowError(str(error)) from None
    RUNS = runs_of(IMPORTED)
    LLM_JUDGES = []
    MODELS = {
        model: {"backend": "imported", "family": family}
        for model, family in IMPORTED.select("model", "family").unique().iter_rows()
    }
    EVALUATED = list(MODELS)
    LANGUAGES = sorted({language for _, language, _ in RUNS})
    SEEDS = sorted({seed for _, _, seed in RUNS})
CAPABILITIES_FILE = (
    config["regression"]["capabilities"] or RESOURCES / "capabilities.csv"
)
PRICES_FILE = RESOURCES / "prices.csv"
COMPLETION_CACHE = "results/cache/completions.sqlite"
JUDGE_TEMPLATE = RESOURCES / "judge" / "prompt.jinja"
TRANSLATOR = config["translation"]["translator"]
# Languages whose prompt resources are machine-translated (results/translations/); a report must
# say so beside their results.
TRANSLATED_LANGUAGES = translated_languages(RESOURCES, config["languages"], TRANSLATOR)
TRANSLATE_TEMPLATE = RESOURCES / "translate" / "prompt.jinja"
# Not a Snakemake output: a killed job's state must survive for the next run to resume its batches.
BATCH_STATE = "results/batches/{model}/{language}/{seed}.json"
VLLM_MANIFEST = "results/vllm/{model}.json"


SAFETY = config["safety"]
# The safety stage runs in the study's languages that have a safety file (its attack templates
# and refusal phrases); each language's `other_language` attack asks for an answer in another one.
SAFETY_LANGUAGES = (
    [
        language
        for language in LANGUAGES
        if safety_set_path(RESOURCES, language).is_file()
    ]
    if SAFETY["enabled"] and not JUDGED_IMPORT
    else []
)
ANSWER_LANGUAGES = {
    language: load_other_language(safety_set_path(RESOURCES, language)).code
    for language in SAFETY_LANGUAGES
}
SAFETY_RUNS = [
    (model, language, attack)
    for model, language, attack in itertools.product(
        EVALUATED, SAFETY_LANGUAGES, SAFETY["attacks"]
    )
    if MODELS[model]["backend"] != "simulated"
    or {language, ANSWER_LANGUAGES[language]} <= set(PHRASE_BANK_LANGUAGES)
]
SAFETY_JUDGE = SAFETY["judge"] or JUDGES["primary"]
SAFETY_JUDGE_ON_GPU = bool(SAFETY_JUDGE) and MODELS[SAFETY_JUDGE]["backend"] == "vllm"
SAFETY_JUDGE_TEMPLATE = RESOURCES / "safety" / "judge.jinja"


PAGE_TEMPLATE = REPO / "workflow" / "report" / "page.html.jinja"
REPORT_PACKAGE = REPO / "workflow" / "culturalign" / "report"
SUMMARY_CODE = REPORT_PACKAGE / "summary.py"
REPORT_CODE = sorted(set(REPORT_PACKAGE.glob("*.py")) - {SUMMARY_CODE})
FIGURES_CODE = sorted((REPORT_PACKAGE / "figures").glob("*.py"))


def alternatives(names):
    """A wildcard pattern matching exactly these names (nothing when there are none)."""
    return "|".join(map(re.escape, names)) or "(?!)"


wildcard_constraints:
    model=alternatives(MODELS),
    language="|".join(map(re.escape, LANGUAGES)),
    seed=r"\d+",
    judge=alternatives(LLM_JUDGES),
    attack=alternatives(SAFETY["attacks"]),


report: "../workflow/report/workflow.rst"


def model_language_seeds():
    """Every (model, language, seed) run, in a fixed order."""
    return RUNS


def per_model_language_seed(pattern):
    """`pattern` filled in for every configured (model, language, seed), in that order."""
    return [
        pattern.format(model=model, language=language, seed=seed)
        for model, language, seed in model_language_seeds()
    ]


def unjudged_models():
    """Real models, whose answers need an LLM judge (judges.primary); simulated respondents are
    read by the simulated reader."""
    if LLM_JUDGES:
        return []
    return [
        slug
        for slug in EVALUATED
        if MODELS[slug]["backend"] not in ("simulated", "imported")
    ]


def read_by_llm_judge(model):
    """A uniform respondent's coin flips buy nothing from a paid judge: the simulated reader
    reads them for free. Every other model's answers go to the LLM judges, when there are any.
    """
    return bool(LLM_JUDGES) and MODELS[model].get("respondent") != "uniform"


def llm_judged_runs():
    """The runs the LLM judges read, in a fixed order."""
    return [run for run in model_language_seeds() if read_by_llm_judge(run[0])]


def per_llm_judged_run(pattern):
    """`pattern` filled in for every run the LLM judges read."""
    return [
        pattern.format(model=model, language=language, seed=seed)
        for model, language, seed in llm_judged_runs()
    ]


def per_judge_and_run(pattern):
    """`pattern` filled in for every LLM judge and every run it reads."""
    return [
        pattern.format(judge=judge, model=model, language=language, seed=seed)
        for judge in LLM_JUDGES
        for model, language, seed in llm_judged_runs()
    ]


def final_targets():
    targets = [
        "results/survey/ground_truth.parquet",
        "results/survey/consistency.parquet",
    ]
    if unjudged_models():
        # Without a judge the study stops after generation (see the warning printed at parse time).
        return (
            targets
            + per_model_language_seed(
                "results/responses/{model}/{language}/{seed}.parquet"
            )
            + ["results/ledger.csv"]
            + safety_targets()
        )
    if MODELS:
        targets += ["results/language_fidelity.csv"] if not JUDGED_IMPORT else []
        targets += ["results/judge_agreement.csv"] if JUDGES["secondary"] else []
        targets += ["results/judge_gold.csv"] if JUDGES["gold"] else []
        targets += [
            "results/alignment.parquet",
            "results/consistency.parquet",
            "results/filtering.parquet",
            "results/regression/rq1.csv",
            "results/regression/rq2.csv",
            "results/regression/rq2_totals.csv",
        ]
    if MODELS and not JUDGED_IMPORT:
        targets.append("results/ledger.csv")
    if MODELS:
        # the report's parts; `snakemake --report results/report.html` collects them
        targets += [*rules.report_figures.output, *rules.report_tables.output]
        targets.append(rules.report_summary.output[0])
        targets += [] if JUDGED_IMPORT else [rules.report_evidence.output[0]]
    return targets + safety_targets()


def prompt_resources(wildcards):
    """The prompt templates and topic paraphrases of one language, hand-written or translated."""
    if wildcards.language in TRANSLATED_LANGUAGES:
        return [
            f"results/translations/{wildcards.language}/templates.yaml",
            f"results/translations/{wildcards.language}/topics.yaml",
        ]
    files = [templates_path(RESOURCES, wildcards.language)]
    if wildcards.language != "en":
        files.append(topics_path(RESOURCES, wildcards.language))
    return files


def translation_ledgers():
    """The translator's ledger part of every translated language."""
    return [
        f"results/ledger/translate/{language}.csv" for language in TRANSLATED_LANGUAGES
    ]


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
    settings = MODELS[wildcards.model]
    if settings["backend"] == "simulated":
        inputs["ground_truth"] = "results/survey/ground_truth.parquet"
        inputs["phrase_banks"] = phrase_banks(wildcards)
    if settings.get("batch", False):
        inputs["submitted"] = (
            "results/batches/{model}/{language}/{seed}.submitted.json".format(
                **wildcards
            )
        )
    if settings["backend"] == "vllm":
        # ancient: a language added later reruns the model's job for the new prompts only,
        # without marking the runs already generated as out of date.
        inputs["manifest"] = ancient(VLLM_MANIFEST.format(model=wildcards.model))
    return inputs


def vllm_prompts(wildcards):
    """All prompt samples a vLLM model answers in its one job, by language and seed, and the
    safety prompts of each language it answers them in (`safety_<language>`)."""
    prompts = {
        f"{language}_{seed}": f"results/prompts/{language}/{seed}.parquet"
        for model, language, seed in model_language_seeds()
        if model == wildcards.model
    }
    prompts |= {
        f"safety_{language}": f"results/safety/prompts/{language}.parquet"
        for model, language, _ in SAFETY_RUNS
        if model == wildcards.model
    }
    return prompts


def per_safety_run(pattern):
    """`pattern` filled in for every (model, language, attack) safety run, in a fixed order."""
    return [
        pattern.format(model=model, language=language, attack=attack)
        for model, language, attack in SAFETY_RUNS
    ]


def safety_unjudged_models():
    """Real models whose safety answers need an LLM judge (safety.judge or judges.primary)."""
    if SAFETY_JUDGE:
        return []
    return sorted(
        {
            model
            for model, _, _ in SAFETY_RUNS
            if MODELS[model]["backend"] != "simulated"
        }
    )


def safety_reported():
    """Whether the safety stage runs to its co-analysis with alignment and its report pages: its
    answers and the survey answers are all judged."""
    return bool(SAFETY_RUNS) and not safety_unjudged_models() and not unjudged_models()


def safety_targets():
    """What the safety stage delivers: rates, gaps and judge agreement, and their co-analysis with
    alignment; only the answers while a real model has no judge."""
    if not SAFETY_RUNS:
        return []
    if safety_unjudged_models():
        return per_safety_run(
            "results/safety/responses/{model}/{language}/{attack}.parquet"
        )
    targets = list(rules.safety_rates.output)
    if SAFETY_REPORTED:
        targets += [*rules.safety_alignment.output, *rules.report_safety.output]
    return targets


def safety_generation_inputs(wildcards):
    inputs = {"prompts": f"results/safety/prompts/{wildcards.language}.parquet"}
    backend = MODELS[wildcards.model]["backend"]
    if backend == "simulated":
        inputs["phrase_banks"] = phrase_banks(wildcards)
    if backend == "vllm":
        inputs["manifest"] = ancient(VLLM_MANIFEST.format(model=wildcards.model))
    return inputs


def safety_judge_inputs(wildcards):
    """Every safety answer, the prompts they answer, the refusal phrases of every language an
    answer may be in, and the LLM judge's template or the simulated reader's phrase banks.
    """
    languages = sorted(
        {*SAFETY_LANGUAGES, *ANSWER_LANGUAGES.values()}
        & {path.stem for path in (RESOURCES / "safety").glob("*.yaml")}
    )
    inputs = {
        "responses": per_safety_run(
            "results/safety/responses/{model}/{language}/{attack}.parquet"
        ),
        "prompts": [
            f"results/safety/prompts/{language}.parquet"
            for language in SAFETY_LANGUAGES
        ],
        "safety_sets": [safety_set_path(RESOURCES, language) for language in languages],
    }
    if SAFETY_JUDGE:
        inputs |= {"template": SAFETY_JUDGE_TEMPLATE, "prices": PRICES_FILE}
    else:
        inputs["phrase_banks"] = phrase_banks(wildcards)
    return inputs


def judged_models_only(wildcards):
    """The simulated reader reads simulated respondents only; real models need the LLM judge."""
    if wildcards.model in unjudged_models():
        raise WorkflowError(
            f"{CONFIG_SOURCE}: models.{wildcards.model} is a real model; its responses need an LLM "
            f"judge: set judges.primary to a model slug under models. "
            f"`snakemake generation` collects its responses without judging them."
        )
    return []


def scoring_inputs(wildcards):
    """What one run's score_run reads: the imported judged table, the primary LLM judge's labels,
    or the responses and the phrase banks the simulated reader reads them with."""
    if JUDGED_IMPORT:
        return {"table": JUDGED_IMPORT}
    if read_by_llm_judge(wildcards.model):
        return {
            "labels": "results/judge_labels/{judge}/{model}/{language}/{seed}.parquet".format(
                judge=JUDGES["primary"], **wildcards
            )
        }
    return {
        "responses": "results/responses/{model}/{language}/{seed}.parquet".format(
            **wildcards
        ),
        "phrase_banks": phrase_banks(wildcards),
        "real_model_check": judged_models_only(wildcards),
    }


def imported_settings():
    """What score_run needs to read an imported judged table (nothing otherwise)."""
    if not JUDGED_IMPORT:
        return {}
    return {
        "known_items": list(ITEMS),
        "reference": config["regression"]["rq2"]["reference"],
    }


def gpus(model_key):
    """A vLLM job's GPUs, from its model's `gpus` (default 1): its tensor parallel size, and what
    profiles/slurm asks the cluster for."""
    return lookup(dpath=f"models/{{{model_key}}}/gpus", within=config, default=1)


def requests_in_flight(slug):
    """Requests a job of this model keeps in flight against an API: its concurrency for direct
    calls, none for Batch API, vLLM or simulated models. profiles/default caps their sum.
    """
    settings = MODELS[slug]
    if settings["backend"] != "openai" or settings.get("batch", False):
        return 0
    return settings.get("concurrency", OPENAI_DEFAULTS["concurrency"])


def api_requests(model_key):
    """requests_in_flight of the model named by the wildcard `model_key`."""
    return lambda wildcards: requests_in_flight(wildcards[model_key])


def model_family(wildcards):
    settings = MODELS[wildcards.model]
    return settings.get("family", settings["backend"])


def rq1_models():
    """The models RQ1 is fitted on: as configured, else all but the RQ2 reference."""
    chosen = config["regression"]["rq1"]["models"]
    reference = config["regression"]["rq2"]["reference"]
    return chosen or [slug for slug in EVALUATED if slug != reference]


def capability_names():
    """Each RQ1 model's name in the capability table."""
    names = config["regression"]["capability_names"]
    return {
        slug: MODELS[slug].get("capability_name", names.get(slug, slug))
        for slug in rq1_models()
    }


def given_capabilities():
    """Capabilities configured directly on a model (simulated models), by language."""
    return {
        slug: MODELS[slug]["capability"]
        for slug in rq1_models()
        if "capability" in MODELS[slug]
    }


def rq1_runs():
    """The (model, language, seed) runs of the RQ1 models."""
    chosen = set(rq1_models())
    return [run for run in model_language_seeds() if run[0] in chosen]


def rq1_model_languages():
    """The (model, language) pairs RQ1 needs a capability for."""
    return sorted({(model, language) for model, language, _ in rq1_runs()})


def rq1_inputs(wildcards):
    inputs = {
        "alignment": "results/alignment.parquet",
        "consistency": "results/consistency.parquet",
        "capabilities": CAPABILITIES_FILE,
    }
    if config["regression"]["rq1"]["observations"] == "bootstrap":
        inputs["ground_truth"] = "results/survey/ground_truth.parquet"
        inputs["polarity"] = [
            f"results/polarity/{model}/{language}/{seed}.parquet"
            for model, language, seed in rq1_runs()
        ]
    return inputs


def rq2_runs():
    """The runs in languages that RQ2 compares with the US."""
    native = config["regression"]["rq2"]["native_countries"]
    return [run for run in model_language_seeds() if run[1] in native]


def rq1_left_out():
    """The (model, language) pairs RQ1 leaves out for want of a capability, described."""
    if not MODELS:
        return []
    try:
        return model_capabilities(
            load_capabilities(CAPABILITIES_FILE),
            capability_names(),
            given_capabilities(),
            rq1_model_languages(),
        )[1]
    except RegressionError as error:
        raise WorkflowError(f"{CONFIG_SOURCE}: {error}") from None


SKIPPED_SIMULATED = sorted(
    {
        (model, language)
        for model, language in itertools.product(EVALUATED, LANGUAGES)
        if MODELS[model]["backend"] == "simulated"
        and language not in PHRASE_BANK_LANGUAGES
    }
)
if SKIPPED_SIMULATED and not JUDGED_IMPORT:
    logger.warning(
        "{}: simulated respondents have no phrase bank in {}: they do not answer there ({})".format(
            CONFIG_SOURCE,
            ", ".join(sorted({language for _, language in SKIPPED_SIMULATED})),
            ", ".join(sorted({model for model, _ in SKIPPED_SIMULATED})),
        )
    )
if unjudged_models():
    logger.warning(
        "{}: {} need an LLM judge (set judges.primary to a model slug under models): "
        "the study stops after generation (results/responses/, results/ledger.csv).".format(
            CONFIG_SOURCE, ", ".join(unjudged_models())
        )
    )
# read once: the capability table behind this warning and the report's RQ1 captions
RQ1_LEFT_OUT = [] if unjudged_models() else rq1_left_out()
if RQ1_LEFT_OUT:
    logger.warning(
        "{}: RQ1 leaves out, without a capability (regression.capabilities, capability_name): "
        "{}".format(CONFIG_SOURCE, "; ".join(RQ1_LEFT_OUT))
    )
SAFETY_REPORTED = safety_reported()
if safety_unjudged_models():
    logger.warning(
        "{}: {} need a safety judge (safety.judge or judges.primary): the safety stage stops "
        "after their answers (results/safety/responses/).".format(
            CONFIG_SOURCE, ", ".join(safety_unjudged_models())
        )
    )
LANGUAGES_WITHOUT_SAFETY_SET = [
    language
    for language in LANGUAGES
    if SAFETY["enabled"] and not JUDGED_IMPORT and language not in SAFETY_LANGUAGES
]
if LANGUAGES_WITHOUT_SAFETY_SET:
    logger.warning(
        "{}: no safety file (resources/safety/<language>.yaml) for {}: the safety stage skips "
        "them".format(CONFIG_SOURCE, ", ".join(LANGUAGES_WITHOUT_SAFETY_SET))
    )


def result_tables():
    """The study-wide results tables the report is drawn from, by name."""
    tables = {
        "ground_truth": "results/survey/ground_truth.parquet",
        "survey_consistency": "results/survey/consistency.parquet",
        "alignment": "results/alignment.parquet",
        "consistency": "results/consistency.parquet",
        "filtering": "results/filtering.parquet",
        "rq1": "results/regression/rq1.csv",
        "rq1_fit": "results/regression/rq1_fit.csv",
        "rq1_residuals": "results/regression/rq1_residuals.csv",
        "rq2": "results/regression/rq2.csv",
        "rq2_totals": "results/regression/rq2_totals.csv",
        "rq2_residuals": "results/regression/rq2_residuals.csv",
    }
    if not JUDGED_IMPORT:
        tables["language_fidelity"] = "results/language_fidelity.csv"
        tables["ledger"] = "results/ledger.csv"
    if JUDGES["secondary"]:
        tables["judge_agreement"] = "results/judge_agreement.csv"
    return tables


# What every report page must say before a number is trusted (simulated respondents, a synthetic
# survey, machine-translated prompts, bootstrap p-values), and what the report rules draw with.
EVALUATED_MODELS = {slug: MODELS[slug] for slug in EVALUATED}
BASELINES = baseline_models(
    EVALUATED_MODELS,
    imported_reference=(
        config["regression"]["rq2"]["reference"] if JUDGED_IMPORT else None
    ),
)
HONESTY_NOTES = honesty_notes(
    EVALUATED_MODELS,
    BASELINES,
    synthetic_survey=SURVEY["synthetic"]["enabled"],
    translated_languages=TRANSLATED_LANGUAGES,
    bootstrap_observations=config["regression"]["rq1"]["observations"] == "bootstrap",
)
REPORT_TABLES = result_tables()
REPORT_SCOPE = ReportScope(
    units=tuple(config["alignment"]["units"]),
    imported=bool(JUDGED_IMPORT),
    secondary_judges=bool(JUDGES["secondary"]),
)
REPORT_PARAMS = {
    "notes": HONESTY_NOTES,
    "banner": caption_banner(HONESTY_NOTES),
    "translated": TRANSLATED_LANGUAGES,
    "unit": config["regression"]["unit"],
    "rq1_formula": config["regression"]["rq1"]["formula"],
    "rq1_left_out": RQ1_LEFT_OUT,
    # one seed per (model, language): RQ2's OLS has no residual degrees of freedom
    "rq2_single_seed": len(SEEDS) == 1,
    "baselines": BASELINES,
    "native_countries": config["regression"]["rq2"]["native_countries"],
    "backends": {slug: MODELS[slug]["backend"] for slug in EVALUATED},
}


def reported(entries):
    """The registry's entries this study's report shows, as outputs marked for the report."""
    return {
        entry.name: report(
            entry.path,
            caption=f"../workflow/report/{entry.caption}",
            category=entry.category,
            labels=entry.labels,
        )
        for entry in shown_entries(entries, REPORT_SCOPE)
    }
