"""Adding a model, a language or a seed plans exactly the new runs' jobs and the study-wide
aggregates; the runs already done are not touched."""

import re

import pytest
import yaml

from conftest import example_study, snakemake

BASE = example_study("partial_reruns")
# simulated respondents read by the simulated reader: one job per run answers and scores it
PER_RUN = ("answer_and_score_run",)
AGGREGATES = {
    "alignment": 1,
    "consistency": 1,
    "filtering": 1,
    "language_fidelity": 1,
    "ledger": 1,
    "rq1": 1,
    "rq2": 1,
    "report_figures": 1,
    "report_tables": 1,
    "report_evidence": 1,
    "report_summary": 1,
    "safety_alignment": 1,
    "report_safety": 1,
    "all": 1,
}
# A safety answer's judging is one job over all runs (a vLLM judge loads once); it and the rates
# rerun. Simulated respondents' safety answers are written by that job, not by safety_generate.
# The judge-validity page (here the refusal matcher's) names the study's models and languages.
SAFETY_AGGREGATES = {"safety_judge": 1, "safety_rates": 1, "report_judge_validity": 1}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("partial")
    result = snakemake(folder, config=BASE)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def planned(folder, config=None) -> dict[str, int]:
    result = snakemake(folder, "--dry-run", config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout.split("Job stats:", 1)[1] if "Job stats:" in result.stdout else ""
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M))
    return {rule: int(count) for rule, count in jobs.items() if rule != "total"}


def test_nothing_changed_plans_nothing(study):
    assert planned(study, BASE) == {}


def test_a_new_model_plans_its_runs_and_the_aggregates(study):
    extra = {"backend": "simulated", "respondent": "population", "population": "US"}
    config = BASE | {"models": BASE["models"] | {"us": extra | {"capability": {"en": 0.6, "da": 0.5}}}}
    runs = 2 * 2  # two languages, two seeds
    assert planned(study, config) == dict.fromkeys(PER_RUN, runs) | AGGREGATES | SAFETY_AGGREGATES


def test_a_new_language_plans_its_prompts_runs_and_the_aggregates(study):
    config = BASE | {"languages": ["en", "da", "pt"]}
    runs = 3 * 2  # three models, two seeds
    # and the new language's native countries, for RQ2, and the refusal matcher measured in it too
    own = {"prompts": 2, "safety_prompts": 1, "native_countries": 1, "matcher_validity": 1}
    assert planned(study, config) == own | dict.fromkeys(PER_RUN, runs) | AGGREGATES | SAFETY_AGGREGATES


def test_a_new_seed_plans_its_prompts_runs_and_the_aggregates(study):
    config = BASE | {"seeds": [0, 1, 2]}
    runs = 3 * 2  # three models, two languages
    assert planned(study, config) == {"prompts": 2} | dict.fromkeys(PER_RUN, runs) | AGGREGATES


def reversed_keys(value):
    """`value` with every mapping's keys in reverse sorted order: the same study, laid out otherwise."""
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in sorted(value, reverse=True)}
    return value


def test_reordered_keys_plan_nothing(study):
    (study / "config.yaml").write_text(yaml.safe_dump(reversed_keys(BASE), sort_keys=False))
    assert planned(study) == {}


def test_a_reformatted_file_with_comments_plans_nothing(study):
    text = "# the same study, in flow style\n" + yaml.safe_dump(BASE, default_flow_style=True, width=60)
    (study / "config.yaml").write_text(text)
    assert planned(study) == {}


def test_a_new_model_in_a_file_laid_out_otherwise_plans_only_its_runs(study):
    # the study ran from a file with sorted keys (yaml.safe_dump); the user's file orders them otherwise
    extra = {"backend": "simulated", "respondent": "population", "population": "US"}
    config = BASE | {"models": BASE["models"] | {"us": extra | {"capability": {"en": 0.6, "da": 0.5}}}}
    (study / "config.yaml").write_text(yaml.safe_dump(reversed_keys(config), sort_keys=False))
    assert planned(study) == dict.fromkeys(PER_RUN, 4) | AGGREGATES | SAFETY_AGGREGATES
