"""The study plan without Snakemake: which runs exist, which are left out and why, the warnings."""

import copy
import json

import polars as pl
import pytest
import yaml

from conftest import REPO
from culturalign.config import sort_keys
from culturalign.plan import Run, SafetyRun, Study, plan_study
from culturalign.safety import SafetyError
from culturalign.safety.sets import COMMON_ATTACKS

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEMO = yaml.safe_load((REPO / "config.yaml").read_text())
LOCAL = "http://127.0.0.1:9/v1"


def planned(config: dict, items) -> Study:
    study, _ = plan_study(copy.deepcopy(config), SCHEMA, REPO / "resources", "study.yaml", items)
    return study


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_the_demo_plans_every_model_language_and_seed(items, in_repo):
    study = planned(DEMO, items)
    assert study.evaluated == ("half-native", "native", "uniform", "us-leaning")
    assert len(study.runs) == 4 * 4 * 3
    assert study.runs[0] == Run("half-native", "en", 0)
    assert study.safety_languages == ("en", "da", "nl", "pt")
    attacks = {run.attack for run in study.safety_runs}
    # the default attacks: those every language has a wrapper for
    assert attacks == {"none", *COMMON_ATTACKS}
    assert len(study.safety_runs) == 4 * 4 * len(attacks)
    assert study.answer_languages["da"] != "da"
    assert study.baselines == ("uniform",)
    assert study.simulated_models == ("half-native", "native", "us-leaning")
    assert study.warnings == ()
    assert study.llm_judges == () and study.unjudged_models == ()
    assert study.safety_reported
    # simulated respondents cost nothing to answer: the jobs that read their answers write them
    assert study.answered_in_scoring == study.evaluated and study.generated_apart == ()
    assert study.safety_runs_answered_by_judge() == study.safety_runs
    assert study.safety_runs_answered_apart() == ()
    # the project wrote the Danish, Dutch and Portuguese resources and no native speaker reviewed
    # them (their files say so); English is their source
    assert study.unreviewed == ("da", "nl", "pt")
    assert study.language_labels == {"da": "unreviewed", "nl": "unreviewed", "pt": "unreviewed"}
    # RQ2 asks about every language but English, with native countries from the survey
    assert study.rq2_languages({}) == ("da", "nl", "pt")
    assert study.rq2_languages({"en": ["GB"]}) == ("en", "da", "nl", "pt")


def test_a_study_of_real_models_without_a_judge_stops_after_generation(items, in_repo):
    config = {
        "survey": {"synthetic": {"enabled": True}},
        "languages": ["en", "da"],
        "seeds": [0],
        "models": {"gpt": {"backend": "openai", "model": "gpt-test", "base_url": LOCAL}},
    }
    study = planned(config, items)
    # the uniform-random baseline is added, and read by the simulated reader
    assert study.evaluated == ("gpt", "uniform")
    assert study.baselines == ("uniform",)
    assert study.unjudged_models == ("gpt",)
    assert study.safety_unjudged_models == ("gpt",)
    assert not study.safety_reported
    assert any("gpt need an LLM judge" in warning for warning in study.warnings)
    assert any("need a safety judge" in warning for warning in study.warnings)
    assert all(warning.startswith("study.yaml: ") for warning in study.warnings)
    targets = study.targets(lambda rule: [f"<{rule}>"])
    assert "results/responses/gpt/da/0.parquet" in targets and "results/ledger.csv" in targets
    assert "<report_figures>" not in targets and "<rq1>" not in targets
    # nothing is scored, so every answer, the baseline's too, comes from a generation job
    assert study.answered_in_scoring == () and study.generated_apart == ("gpt", "uniform")
    assert study.safety_runs_answered_by_judge() == ()


def test_a_language_without_a_phrase_bank_or_safety_set_is_left_to_real_models(items, in_repo):
    config = {
        "survey": {"synthetic": {"enabled": True}},
        "languages": ["en", "fi"],
        "seeds": [0, 1],
        "models": {
            "gpt": {"backend": "openai", "model": "gpt-test", "base_url": LOCAL},
            "native": {"backend": "simulated", "respondent": "population", "population": "native"},
        },
        "judges": {"primary": "gpt"},
        "translation": {"translator": "gpt"},
    }
    study = planned(config, items)
    assert study.translated == ("fi",) and study.language_labels == {"fi": "MT"}
    assert Run("gpt", "fi", 1) in study.runs
    assert [run for run in study.runs if run.model == "native"] == [
        Run("native", "en", 0),
        Run("native", "en", 1),
    ]
    assert study.safety_languages == ("en",)
    assert SafetyRun("native", "en", "none") in study.safety_runs
    warnings = "\n".join(study.warnings)
    assert "simulated respondents have no phrase bank in fi" in warnings
    assert "no safety prompts for fi" in warnings
    # the LLM judge reads the real model and the population respondent, not the uniform baseline
    judged = {run.model for run in study.llm_judged_runs()}
    assert judged == {"gpt", "native"}
    # the LLM judge needs the population respondent's answers first; the baseline's are free
    assert study.answered_in_scoring == ("uniform",) and study.generated_apart == ("gpt", "native")
    assert study.api_judges == ("gpt",) and study.gpu_judges == ()


def test_a_judge_on_vllm_reads_all_runs_in_one_job_and_the_safety_judge_follows(items, in_repo):
    config = {
        "survey": {"synthetic": {"enabled": True}},
        "languages": ["en"],
        "seeds": [0],
        "models": {
            "gpt": {"backend": "openai", "model": "gpt-test", "base_url": LOCAL, "batch": True},
            "judge": {"backend": "vllm", "model": "tiny", "evaluate": False, "gpus": 2},
            "second": {"backend": "openai", "model": "judge-2", "base_url": LOCAL, "evaluate": False},
        },
        "judges": {"primary": "judge", "secondary": ["second"]},
    }
    study = planned(config, items)
    assert study.evaluated == ("gpt", "uniform")
    assert study.gpu_judges == ("judge",) and study.api_judges == ("second",)
    assert study.safety_judge == "judge" and study.safety_judge_on_gpu
    assert study.per_judge_and_run("{judge}:{model}") == ["judge:gpt", "second:gpt"]
    assert study.backend("gpt").submits_ahead(study.models["gpt"])
    assert study.backend("gpt").requests_in_flight(study.models["gpt"]) == 0
    assert study.backend("second").requests_in_flight(study.models["second"]) == 16


def test_the_plan_does_not_depend_on_the_order_of_keys(items, in_repo):
    reordered = yaml.safe_load(yaml.safe_dump(DEMO, sort_keys=False))
    reordered["models"] = {
        slug: dict(reversed(reordered["models"][slug].items())) for slug in reversed(DEMO["models"])
    }
    first, second = planned(DEMO, items), planned(reordered, items)
    assert first == second
    assert repr(first.models) == repr(second.models)


def test_sort_keys_sorts_mappings_at_every_depth_and_keeps_lists():
    value = {"b": [{"y": 1, "x": 2}], "a": {"d": 1, "c": 2}}
    assert repr(sort_keys(value)) == repr({"a": {"c": 2, "d": 1}, "b": [{"x": 2, "y": 1}]})


def test_a_reanalysis_plans_the_imported_tables_runs(items, in_repo, tmp_path):
    scored = [key for key, item in items.items() if item.scored][:6]
    table = pl.DataFrame(
        {
            "model": ["m1"] * 12 + ["m2"] * 6,
            "family": ["f"] * 12 + ["simulated"] * 6,
            "language": (["da"] * 6 + ["nl"] * 6) + ["da"] * 6,
            "item": scored * 3,
            "pro_score": [0.2, 0.4, 0.6, 0.8, 1.0, 0.0] * 3,
        }
    )
    path = tmp_path / "released.csv"
    table.write_csv(path)
    aggregated = tmp_path / "aggregated.csv"
    pl.DataFrame(
        {"level": "country", "group": "DK", "item": scored, "pro_score": [0.5] * len(scored)}
    ).write_csv(aggregated)
    config = {
        "survey": {"aggregated": str(aggregated), "countries": ["DK"]},
        "languages": ["da", "nl"],
        "judged_import": str(path),
    }
    study = planned(config, items)
    assert study.imported == str(path)
    assert study.evaluated == ("m1", "m2", "uniform")
    assert study.baselines == ("uniform",)
    # a released table's calibration model is simulated by its family; the added baseline is not named
    assert study.simulated_models == ("m2",)
    assert Run("m1", "nl", 0) in study.runs and Run("m2", "nl", 0) not in study.runs
    assert study.languages == ("da", "nl") and study.seeds == (0,)
    assert study.safety_runs == () and study.llm_judges == ()
    assert study.backend("m1").needs_llm_judge is False
    targets = study.targets(lambda rule: [f"<{rule}>"])
    assert "<report_evidence>" not in targets and "results/ledger.csv" not in targets
    assert "<rq1>" in targets


def test_attacks_run_in_the_languages_whose_safety_file_has_their_wrapper(items, in_repo):
    config = {
        "survey": {"synthetic": {"enabled": True}, "countries": ["US", "KR"]},
        "languages": ["en", "ko", "ja"],
        "seeds": [0],
        "safety": {"attacks": ["none", "code_switching", "transliteration"]},
        "models": {"native": {"backend": "simulated", "respondent": "population", "population": "native"}},
    }
    study = planned(config, items)
    assert study.safety_attacks == {
        "en": ("none",),
        "ko": ("none", "code_switching", "transliteration"),
        "ja": ("none", "code_switching"),
    }
    attacks = {(run.language, run.attack) for run in study.safety_runs if run.model == "native"}
    assert attacks == {("en", "none"), ("ko", "none"), ("ko", "code_switching"), ("ko", "transliteration"),
                       ("ja", "none"), ("ja", "code_switching")}  # fmt: skip
    warnings = "\n".join(study.warnings)
    assert "code_switching has no wrapper in the safety file of en" in warnings
    assert "transliteration has no wrapper in the safety file of en, ja" in warnings


def test_an_external_set_brings_the_safety_stage_to_a_language_without_our_safety_file(items, tmp_path):
    lines = [
        {
            "id": f"{kind}-{n}",
            "prompt": f"{kind} {n}",
            "language": language,
            "category": "crime",
            "label": kind,
        }
        for language in ("en", "fi")
        for kind in ("harmful", "benign")
        for n in (1, 2)
    ]
    (tmp_path / "set.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n")
    config = {
        "survey": {"synthetic": {"enabled": True}},
        "languages": ["en", "fi", "pt"],
        "seeds": [0],
        "safety": {"external": [{"path": str(tmp_path / "set.jsonl"), "format": "jsonl"}]},
        "models": {"gpt": {"backend": "openai", "model": "gpt-test", "base_url": LOCAL}},
        "judges": {"primary": "gpt"},
        "translation": {"translator": "gpt"},
    }
    study = planned(config, items)
    assert study.safety_languages == ("en", "fi", "pt")
    # no wrapper to put fi's prompts under, and no other language to ask for
    assert study.safety_attacks["fi"] == ("none",) and study.answer_languages["fi"] == "fi"
    assert [run for run in study.safety_runs if run.language == "fi"] == [SafetyRun("gpt", "fi", "none")]
    assert study.safety_set_input("fi") == {} and "safety_set" in study.safety_set_input("pt")
    warnings = "\n".join(study.warnings)
    assert (
        "no safety file (resources/languages/<language>/safety.yaml) for fi: the external sets' prompts"
        in warnings
    )
    assert "no safety prompts" not in warnings

    # without our own prompts, a language that no external set covers has none
    config["safety"]["builtin"] = False
    study = planned(config, items)
    assert study.safety_languages == ("en", "fi")
    assert study.safety_attacks["en"] == tuple(["none", *COMMON_ATTACKS])
    assert "no safety prompts for pt" in "\n".join(study.warnings)


def test_an_unreadable_external_set_fails_the_plan_naming_key_and_file(items, tmp_path):
    (tmp_path / "multijail.csv").write_text("tags,en\nfraud,Request one\n")
    config = {
        "survey": {"synthetic": {"enabled": True}},
        "languages": ["en"],
        "safety": {"external": [{"path": str(tmp_path / "multijail.csv"), "format": "multijail"}]},
    }
    with pytest.raises(SafetyError, match=r"safety.external\[0\]: .*multijail.csv: no column 'id'"):
        planned(config, items)


def test_planning_a_study_imports_no_heavy_statistics_or_drawing():
    """Every job parses the workflow again, so what planning imports is paid once per job."""
    import subprocess
    import sys

    heavy = ("statsmodels", "matplotlib", "sklearn", "pymer4", "rpy2")
    code = (
        "import sys, culturalign.plan, culturalign.report.registry, culturalign.report.notes; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
