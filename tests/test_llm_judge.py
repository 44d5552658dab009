"""The LLM judge against a real local OpenAI-compatible server whose judges read the simulated
respondents' text as the simulated reader does (one of them with planted noise and unusable
answers): the known answers of the earlier stages must survive the LLM-judge path."""

import os

import polars as pl
import pytest
from fake_models import StanceJudges
from openai_server import FakeOpenAI

from conftest import REPO, example_study, shipped_phrase_banks, snakemake
from culturalign.items import load_items
from culturalign.llm_judge import judge_parameters, parse_judgement

KEY = "sk-judge-test"
ITEMS = load_items(REPO / "resources" / "items.yaml")
BANKS = shipped_phrase_banks()


def test_parse_judgement_accepts_only_complete_valid_labels():
    assert parse_judgement('{"labels": ["pro", "CON", "null"], "language": "DA"}', 3) == (
        ["pro", "con", "null"],
        "da",
        None,
    )
    assert parse_judgement('```json\n{"labels": ["pro"], "language": "en"}\n```', 1)[2] is None
    assert parse_judgement("They mostly agree.", 2)[2] == "not JSON"
    assert parse_judgement('{"labels": ["pro"], "language": "en"}', 2)[2] == "1 labels for 2 statements"
    assert parse_judgement('{"labels": ["pro", "maybe"], "language": "en"}', 2)[2] == "unknown label 'maybe'"
    assert parse_judgement('["pro"]', 1)[2] == "no labels list"
    assert parse_judgement(None, 1)[2] == "no answer"
    parameters = judge_parameters()
    assert parameters["temperature"] == 0 and parameters["response_format"]["type"] == "json_schema"


CONFIG = example_study("llm_judges")
LANGUAGES = CONFIG["languages"]


TARGETS = [
    "results/alignment.parquet",
    "results/filtering.parquet",
    "results/judge_agreement.csv",
    "results/language_fidelity.csv",
    "results/ledger.csv",
    "results/consistency.parquet",
]


@pytest.fixture(scope="module")
def judged_study(tmp_path_factory):
    study = tmp_path_factory.mktemp("judged")
    judges = StanceJudges()
    os.environ["OPENAI_API_KEY"] = KEY
    with FakeOpenAI(api_key=KEY, models=("reader-model", "noisy-model"), responder=judges) as server:
        config = CONFIG | {
            "models": CONFIG["models"]
            | {slug: CONFIG["models"][slug] | {"base_url": server.base_url} for slug in ("reader", "noisy")}
        }
        # RQ1 and RQ2 need more runs than this small study has
        result = snakemake(study, *TARGETS, config=config)
        assert result.returncode == 0, result.stderr[-4000:]
        yield study, config, judges
    os.environ.pop("OPENAI_API_KEY", None)


def test_the_llm_judge_labels_every_statement_and_keeps_the_known_answers(judged_study):
    study, _, judges = judged_study
    runs = [(model, language) for model in ("native", "half-native") for language in LANGUAGES]
    # the uniform baseline's coin flips cost no judge call: the simulated reader reads them
    assert not (study / "results/judge_labels/reader/uniform").exists()
    uniform = pl.concat(
        pl.read_parquet(study / f"results/responses/uniform/{language}/0.parquet") for language in LANGUAGES
    )
    assert uniform.height and not set(uniform["text"].str.strip_chars()) & judges.summaries
    assert judges.summaries  # the real question: the judges did read the other models
    assert pl.read_parquet(study / "results/judged/uniform/da/0.parquet")["label"].is_not_null().any()
    for model, language in runs:
        labels = pl.read_parquet(study / f"results/judge_labels/reader/{model}/{language}/0.parquet")
        listed = labels.filter(pl.col("status") != "malformed")
        assert listed["label"].null_count() == 0  # the reliable judge labelled every listed statement
        assert (labels["identified_language"].is_not_null()).all()
    assert not (study / "results/responses/reader").exists()  # judges answer no survey prompts
    alignment = pl.read_parquet(study / "results/alignment.parquet").filter(
        level="language", unit="topic", group=pl.col("language")
    )
    native = alignment.filter(model="native")["spearman"]
    uniform = alignment.filter(model="uniform")["spearman"]
    assert native.min() > 0.6 and uniform.abs().max() < 0.4
    filtering = pl.read_parquet(study / "results/filtering.parquet").filter(model="native")
    assert filtering["wrong_language_rate"].mean() == pytest.approx(0.1, abs=0.06)


def test_unusable_judge_answers_are_retried_once_then_counted(judged_study):
    study, _, judges = judged_study
    noisy = pl.concat(
        pl.read_parquet(study / f"results/judge_labels/noisy/native/{language}/0.parquet").unique("prompt_id")
        for language in LANGUAGES
    )
    listed = noisy.filter(pl.col("status").is_in(["kept", "unjudged"]))
    unjudged = listed.filter(status="unjudged")
    assert 0 < unjudged.height < 0.08 * listed.height
    assert set(unjudged["judge_problem"]) == {"not JSON", "1 labels for 10 statements"}
    assert max(judges.seen.values()) == 2  # asked at most twice
    retried = sum(count == 2 for count in judges.seen.values())
    assert retried >= unjudged.height + 5  # the garbage-once answers were fixed by the retry


def test_judge_agreement_measures_the_planted_noise(judged_study):
    study, _, _ = judged_study
    agreement = pl.read_csv(study / "results/judge_agreement.csv")
    assert sorted(agreement["language"]) == LANGUAGES
    assert set(zip(agreement["judge_a"], agreement["judge_b"], strict=True)) == {("noisy", "reader")}
    # 20 % of labels moved to another: raw agreement 0.8, kappa below it
    assert agreement["agreement"].to_list() == pytest.approx([0.8, 0.8], abs=0.03)
    assert (agreement["kappa"] < agreement["agreement"]).all()
    assert (agreement["kappa_low"] < agreement["kappa"]).all()
    assert (agreement["kappa"] < agreement["kappa_high"]).all()


def test_language_fidelity_and_the_judge_ledger(judged_study):
    study, _, _ = judged_study
    fidelity = pl.read_csv(study / "results/language_fidelity.csv")
    native = fidelity.filter(model="native")
    assert native["in_prompted_language"].to_list() == pytest.approx([0.9, 0.9], abs=0.06)
    assert native["list_format"].to_list() == pytest.approx([0.95, 0.95], abs=0.05)
    assert fidelity.filter(model="uniform")["in_prompted_language"].to_list() == [1.0, 1.0]
    assert fidelity["judge_identifier_disagreement"].max() < 0.1
    ledger = pl.read_csv(study / "results/ledger.csv")
    judging = ledger.filter(pl.col("stage").str.starts_with("judge:"))
    assert set(judging["stage"]) == {"judge:reader", "judge:noisy"}
    # two models read by the judges (the uniform baseline is not), two languages, 160 prompts each
    assert judging.filter(stage="judge:reader")["requests"].sum() > 0.9 * 2 * 2 * 160


def test_self_consistency_is_corrected_by_the_measured_judge_reliability(judged_study):
    study, _, _ = judged_study
    kappa = dict(pl.read_csv(study / "results/judge_agreement.csv").select("language", "kappa").iter_rows())
    consistency = pl.read_parquet(study / "results/consistency.parquet")
    assert consistency["judge_reliability"].to_list() == [
        kappa[language] for language in consistency["language"]
    ]
    stances = consistency["stances_per_response"]
    assert stances.is_between(5, 10).all()
    reliability = (
        stances * consistency["judge_reliability"] / (1 + (stances - 1) * consistency["judge_reliability"])
    )
    expected = (consistency["consistency"] / reliability).clip(-1, 1)
    assert consistency["consistency_corrected"].to_list() == pytest.approx(expected.to_list())
    native = consistency.filter(model="native")
    assert (native["consistency_corrected"] > native["consistency"]).all()


def test_judges_are_scored_against_hand_labelled_statements(judged_study):
    study, config, _ = judged_study
    reader = pl.read_parquet(study / "results/judge_labels/reader/native/da/0.parquet")
    gold = (
        reader.filter(status="kept")
        .select("item", "statement", "label")
        .unique(maintain_order=True)
        .head(300)
    )
    gold.with_columns(language=pl.lit("da")).write_csv(study / "gold.csv")
    config["judges"] = config["judges"] | {"gold": "gold.csv"}
    result = snakemake(study, "results/judge_gold.csv", "results/judges/canary.csv", config=config)
    assert result.returncode == 0, result.stderr[-4000:]
    # the drift canary's first date: each judge labels 40 gold statements, its baseline
    canary = pl.read_csv(study / "results/judges/canary.csv")
    assert sorted(canary["judge"]) == ["noisy", "reader"] and set(canary["kind"]) == {"stance"}
    assert canary.filter(judge="reader")["n"].item() == 40 and not canary["drifted"].any()
    scores = pl.read_csv(study / "results/judge_gold.csv").filter(language="da")
    accuracy = dict(scores.select("judge", "accuracy").iter_rows())
    assert accuracy["reader"] == 1.0
    assert accuracy["noisy"] == pytest.approx(0.8, abs=0.06)
    noisy = scores.filter(judge="noisy")
    assert noisy["accuracy_low"].item() < 0.8 < noisy["accuracy_high"].item()


def test_a_judge_on_the_batch_api_labels_the_same_as_directly(tmp_path, monkeypatch):
    from culturalign.backends import create_backend
    from culturalign.backends.simulated import SimulatedRespondent
    from culturalign.cache import CompletionCache
    from culturalign.calls import generate_responses, sampling_parameters
    from culturalign.generate import generation_requests
    from culturalign.language_id import identify_language
    from culturalign.llm_judge import judge_with_llm, load_judge_template

    items = {key: ITEMS[key] for key in ("f118", "e035", "d059")}
    prompts = pl.DataFrame({"prompt_id": [f"0-{i}" for i in range(12)], "item": list(items) * 4, "text": "x"})
    respondent = SimulatedRespondent("sim", {"respondent": "uniform"}, banks=BANKS, ground_truth=None)
    settings = {"backend": "simulated"}
    requests = generation_requests(
        prompts, language="da", seed=0, settings=settings, parameters=sampling_parameters({}, settings)
    )
    responses, _ = generate_responses(requests, respondent)
    template = load_judge_template(REPO / "resources" / "judge" / "prompt.jinja")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI(
        api_key=KEY, models=("reader-model",), responder=StanceJudges(), batch_seconds=0.1
    ) as server:
        labelled = {}
        for batch in (False, True):
            judge = {"backend": "openai", "model": "reader-model", "base_url": server.base_url}
            judge |= {"batch": True, "poll_seconds": 0.05} if batch else {}
            backend = create_backend("reader", judge, batch_state=tmp_path / "state.json")
            labelled[batch], calls = judge_with_llm(
                responses,
                items,
                template,
                backend,
                CompletionCache(tmp_path / f"cache-{batch}.sqlite"),
                settings=judge,
                language="da",
                seed=0,
                min_statements=5,
                language_from="judge",
                identify=identify_language,
            )
            assert calls.height == 12 and calls["error"].null_count() == 12
    assert server.batch_lines_submitted == 12
    assert labelled[True].equals(labelled[False]) and labelled[True]["label"].null_count() == 0
    assert set(labelled[True]["status"]) == {"kept"}
