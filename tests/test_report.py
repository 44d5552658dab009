"""The report: a small simulated study's figures, tables, evidence page and summary, collected by
`snakemake --report` and opened in headless Chromium as a reader would open it."""

import io
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import jinja2
import numpy as np
import polars as pl
import pytest
import yaml
from PIL import Image

from conftest import REPO
from culturalign.report.formatting import with_language_labels
from culturalign.report.notes import (
    HonestyNote,
    caption_banner,
    figure_banner,
    honesty_notes,
)
from culturalign.report.pages import evidence_page, evidence_sample
from culturalign.report.registry import SAFETY_FIGURES, STUDY_FIGURES, TABLE_PAGES, ReportScope, shown_entries
from culturalign.report.summary import summary_markdown
from culturalign.report.tables import displayed_populations, native_scores

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
BANNER_RED = (0xB4, 0x23, 0x18)
STUDY = {
    "survey": {
        "path": "data/survey.sav",
        "countries": ["US", "GB", "DK", "PT", "BR"],
        "synthetic": {"enabled": True, "seed": 3, "respondents_per_country": 1000},
        "consistency": {"repeats": 40},
    },
    "languages": ["en", "da", "pt"],
    "seeds": [0, 1],
    "prompts_per_seed": 200,
    "alignment": {"bootstrap": 200},
    "self_consistency": {"repeats": 40},
    "report": {"evidence_responses": 3, "evidence_filtered": 1},
}
FIGURES = {
    "population_correlations", "alignment_topic", "alignment_response", "consistency",
    "capability_alignment", "rq1_coefficients", "rq2_us_bias", "rq1_residuals", "rq2_residuals",
    "filtering", "language_fidelity", "cost", "safety_rates", "safety_alignment",
}  # fmt: skip
TABLES = {"alignment", "consistency", "rq1", "rq2", "filtering", "ledger", "safety", "judge_validity"}
# what a category's "show" icon opens: a figure, or a page of tables among the figures
FIGURE_OR_PAGE = "img[src^='data:image/png'], iframe"
REPORT_RULES = {
    "report_figures",
    "report_tables",
    "report_evidence",
    "report_summary",
    "report_safety",
    "report_judge_validity",
}


def run_snakemake(workflow: Path, study: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(workflow / "Snakefile"),
        "--directory", str(study), "--configfile", str(study / "config.yaml"), "--cores", "2", *arguments,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def planned_rules(workflow: Path, study: Path) -> set[str]:
    stdout = run_snakemake(workflow, study, "--dry-run", "--quiet", "rules").stdout
    return {rule for rule, _ in re.findall(r"^(\w+)\s+(\d+)$", stdout, flags=re.M)} - {"total", "job"}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The default models on a small study, run from a copy of the workflow (so that a test may
    edit the report code), then `snakemake --report`."""
    root = tmp_path_factory.mktemp("report")
    workflow = root / "workflow-copy"
    workflow.mkdir()
    shutil.copy(REPO / "Snakefile", workflow / "Snakefile")
    for folder in ("rules", "workflow", "resources", "envs", "profiles"):
        shutil.copytree(
            REPO / folder, workflow / folder, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    folder = root / "study"
    folder.mkdir()
    models = yaml.safe_load((REPO / "config.yaml").read_text())["models"]
    (folder / "config.yaml").write_text(yaml.safe_dump(STUDY | {"models": models}))
    run_snakemake(workflow, folder)
    run_snakemake(workflow, folder, "--report", "results/report.html")
    return workflow, folder


def test_every_part_is_built_and_says_it_is_simulated(study):
    _, folder = study
    report = folder / "results" / "report"
    assert {path.stem for path in (report / "figures").glob("*.png")} == FIGURES
    for path in (report / "figures").glob("*.png"):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 600 and image.height > 300, path
            # the banner band stamped across the top of every figure
            top = image.convert("RGB").crop((0, 0, image.width, 60))
            assert _share_of_colour(top, (0xC6, 0x28, 0x28)) > 0.3, path
    assert {path.stem for path in (report / "tables").glob("*.html")} == TABLES
    for path in [*(report / "tables").glob("*.html"), report / "evidence.html"]:
        text = path.read_text()
        assert "Read with care" in text and "Simulated respondents" in text and "Synthetic survey" in text, (
            path
        )
    summary = (folder / "results" / "summary.md").read_text()
    assert "Simulated respondents" in summary and "Synthetic survey" in summary
    # the start page shows the notes Python decided: the uniform baseline is no simulated respondent
    start_page = re.search(
        r'var workflow_desc = "(.*?)";\n', (folder / "results" / "report.html").read_text()
    )[1]
    assert "not language models): half-native, native, us-leaning.</li>" in start_page
    assert "Every figure, table and caption repeats this banner." in start_page
    # the planted US lean is read out in plain words; the native respondents lean the other way;
    # the languages the project wrote are marked wherever they are named
    assert "not reviewed by a native speaker (marked 'unreviewed'): da, pt." in summary
    for language in ("da (unreviewed)", "pt (unreviewed)"):
        where = re.escape(language)
        assert re.search(rf"- us-leaning in {where}: [\d.]+ \[[\d.]+, [\d.]+\], leans US", summary), summary
        assert re.search(rf"- native in {where}: -[\d.]+ \[-[\d.]+, -[\d.]+\], leans native", summary)
    # the model planted to be less safe in Danish is read out as such, beside the others
    assert re.search(
        r"- us-leaning in da \(unreviewed\): attack success [\d.]+ .*; gap [\d.]+ \[[\d.]+, [\d.]+\], "
        r"less safe than in en",
        summary,
    )
    assert re.search(r"- native in da \(unreviewed\): .*no clear gap", summary)


def test_report_rules_read_result_tables_only(study):
    workflow, folder = study
    assert planned_rules(workflow, folder) == set()
    package = workflow / "workflow" / "culturalign" / "report"
    figures = package / "figures" / "quality.py"
    figures.write_text(figures.read_text() + "\n# a change to how figures are drawn\n")
    assert planned_rules(workflow, folder) == {"report_figures", "report_safety", "all"}
    summary = package / "summary.py"
    summary.write_text(summary.read_text() + "\n# a change to the summary\n")
    assert planned_rules(workflow, folder) == {"report_figures", "report_safety", "report_summary", "all"}
    report = package / "pages.py"
    report.write_text(report.read_text() + "\n# a change to the report's pages\n")
    assert planned_rules(workflow, folder) == REPORT_RULES | {"all"}


@pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (the README's apt line installs them)",
)
def test_a_reader_sees_the_banner_every_figure_and_the_evidence(study, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    _, folder = study
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--window-size=1400,1000",
    ):  # fmt: skip
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        report = (folder / "results" / "report.html").as_uri()
        browser.get(report)
        _wait_for(lambda: "Read with care" in browser.find_element(By.TAG_NAME, "body").text)
        start = _screenshot(browser, tmp_path / "start.png")
        assert _share_of_colour(start, BANNER_RED) > 0.01, "the banner is not visible on the start page"

        shown, pages = set(), []
        for category in ("1. Alignment", "2. Regression", "3. Quality", "4. Survey", "5. Cost", "8. Safety"):
            _open_category(browser, report, category)
            rows = len(browser.find_elements(By.CSS_SELECTOR, "tr a[iconname=eye]"))
            for row in range(rows):
                _open_category(browser, report, category)
                eyes = _eye_icons(browser, rows)
                _click(browser, eyes[row])
                image = _wait_for(lambda: browser.find_element(By.CSS_SELECTOR, FIGURE_OR_PAGE))
                if image.tag_name == "iframe":  # a page of tables among the figures
                    pages.append(category)
                    continue
                _wait_for(lambda image=image: browser.execute_script("return arguments[0].complete", image))
                width = browser.execute_script("return arguments[0].naturalWidth", image)
                assert width > 600, f"a figure in {category} did not load"
                shown.add(image.get_attribute("src")[-64:])
                _screenshot(browser, tmp_path / f"figure-{len(shown)}.png")
        assert len(shown) == len(FIGURES)
        assert pages == ["3. Quality"]  # judges against people

        # a caption carries the banner too
        _open_category(browser, report, "1. Alignment")
        _click(browser, browser.find_elements(By.CSS_SELECTOR, "tr a[iconname=information-circle]")[0])
        _wait_for(lambda: "Simulated respondents" in browser.find_element(By.TAG_NAME, "body").text)

        # from a score down to the responses and labels behind it
        _open_category(browser, report, "7. Evidence")
        _click(browser, browser.find_element(By.CSS_SELECTOR, "tr a[iconname=eye]"))
        browser.switch_to.frame(_wait_for(lambda: browser.find_element(By.TAG_NAME, "iframe")))
        link = _wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "a[href='#evidence-us-leaning-da']"))
        link.click()
        section = browser.find_element(By.ID, "evidence-us-leaning-da")
        _wait_for(lambda: browser.execute_script("return window.scrollY") > 0)
        responses = section.find_elements(By.XPATH, "following-sibling::div[@class='response']")
        assert responses and "status kept" in responses[0].text
        assert browser.find_elements(By.CSS_SELECTOR, ".label-pro") and browser.find_elements(
            By.CSS_SELECTOR, ".label-con"
        )
        browser.switch_to.default_content()
        _screenshot(browser, tmp_path / "evidence.png")
    finally:
        browser.quit()


def _open_category(browser, report: str, name: str) -> None:
    """The report's page of one category, opened afresh from the start page."""
    from selenium.webdriver.common.by import By

    # a blank page first: going to the same address again would keep the app's state
    browser.get("about:blank")
    browser.get(report)
    _click(browser, _wait_for(lambda: browser.find_element(By.XPATH, f"//a[normalize-space()='{name}']")))
    _wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "tr a[iconname=eye]"))


def _click(browser, element) -> None:
    """A click through the page's own JavaScript: the menu's slide-in animation can put another
    entry over the target for a moment, which a pointer click would hit instead."""
    browser.execute_script("arguments[0].click()", element)


def _eye_icons(browser, count: int) -> list:
    """The category's "show" icons, once all `count` rows are there."""
    from selenium.webdriver.common.by import By

    def icons():
        found = browser.find_elements(By.CSS_SELECTOR, "tr a[iconname=eye]")
        return found if len(found) == count else None

    return _wait_for(icons)


def _wait_for(condition, seconds: float = 15.0):
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = condition()
        except Exception:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the report")
        time.sleep(0.1)


def _screenshot(browser, path: Path) -> Image.Image:
    png = browser.get_screenshot_as_png()
    path.write_bytes(png)
    return Image.open(io.BytesIO(png)).convert("RGB")


def _share_of_colour(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 12) -> float:
    distance = np.abs(np.asarray(image, dtype=int) - np.array(colour)).max(axis=2)
    return float((distance <= tolerance).mean())


def test_the_simulated_respondents_note_names_the_models_the_plan_calls_simulated():
    (note,) = honesty_notes(["dk-oracle"], False, [], False)
    assert note == HonestyNote(
        "simulated_respondents",
        "Simulated respondents (calibration models with a known answer, not language models): dk-oracle.",
        ("dk-oracle",),
    )
    # real models beside their uniform baseline, which the plan does not call simulated: no note
    assert honesty_notes([], False, [], False) == ()


def test_honesty_notes_name_what_is_not_real_and_render_for_figures_and_captions():
    notes = honesty_notes(["dk-oracle"], True, ["fi", "sv"], True)
    assert [note.kind for note in notes] == [
        "simulated_respondents", "synthetic_survey", "machine_translated", "bootstrap_observations",
    ]  # fmt: skip
    assert notes[1].text == "Synthetic survey generated by culturalign: no real EVS/WVS respondent is in it."
    assert notes[2].subjects == ("fi", "sv")
    assert notes[2].text == "Machine-translated prompts (marked 'MT'): fi, sv; review them."
    assert figure_banner(notes) == (
        "SIMULATED RESPONDENTS · SYNTHETIC SURVEY · MACHINE-TRANSLATED PROMPTS · RQ1 P-VALUES TOO SMALL"
    )
    assert figure_banner(notes[1:3]) == "SYNTHETIC SURVEY · MACHINE-TRANSLATED PROMPTS"
    banner = caption_banner(notes)
    assert banner.startswith(".. raw:: html\n\n   <div") and banner.endswith("</ul></div>\n\n")
    assert banner.count("<li>") == 4 and "(marked &#x27;MT&#x27;): fi, sv" in banner
    assert figure_banner(()) == "" and caption_banner(()) == ""


def test_the_start_page_shows_the_banner_the_report_rules_received():
    """workflow.rst rendered as Snakemake renders a workflow description: it sees the config, and
    each file marked for the report with its job, whose params carry the banner."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["translation"] = {"translator": None}
    banner = caption_banner(honesty_notes(["dk-oracle"], True, [], False))
    template = jinja2.Environment(trim_blocks=True, lstrip_blocks=True).from_string(
        (REPO / "workflow" / "report" / "workflow.rst").read_text()
    )

    def start_page(*params):
        files = [SimpleNamespace(job=SimpleNamespace(params=SimpleNamespace(**values))) for values in params]
        return template.render(snakemake=SimpleNamespace(config=config), categories={}, files=files)

    shown = start_page({"unit": "topic"}, {"banner": banner}, {"banner": banner})
    assert shown.count(banner) == 1 and "Every figure, table and caption repeats this banner." in shown
    assert "not language models): dk-oracle.</li>" in shown and "uniform." not in shown
    assert "Read with care" not in start_page({"banner": ""}) and "repeats this banner" not in start_page()
    # the bill and the audit bundle, as far as they exist (culturalign.report.start_page)
    assert "Bill, actual (results/ledger.csv): nothing recorded yet." in start_page()
    assert "Audit bundle (``snakemake audit``): none written yet." in start_page()
    config["report_start_page"] = {"estimated": "12 requests", "actual": "3 requests", "audit": "sha256 ab"}
    shown = start_page()
    assert "``snakemake -f estimate_cost``): 12 requests." in shown
    assert "results/ledger.csv): 3 requests." in shown
    assert "Audit bundle (``snakemake audit``): sha256 ab." in shown


def test_the_report_shows_what_the_study_measured():
    def names(entries, units=("topic", "response"), imported=False, secondary_judges=True):
        return {
            entry.name for entry in shown_entries(entries, ReportScope(units, imported, secondary_judges))
        }

    every = names(STUDY_FIGURES)
    assert len(every) == len(STUDY_FIGURES) == 13
    assert every - names(STUDY_FIGURES, units=("topic",)) == {"alignment_response"}
    assert every - names(STUDY_FIGURES, units=("response",)) == {"alignment_topic"}
    assert every - names(STUDY_FIGURES, secondary_judges=False) == {"judge_agreement"}
    assert every - names(STUDY_FIGURES, imported=True) == {"language_fidelity", "cost"}
    pages = names(TABLE_PAGES)
    assert pages == {"alignment", "consistency", "rq1", "rq2", "filtering", "judge_agreement", "ledger"}
    assert pages - names(TABLE_PAGES, imported=True, secondary_judges=False) == {"ledger", "judge_agreement"}


def test_every_registry_entry_has_a_caption_and_a_path_of_its_own():
    figures, pages = [*STUDY_FIGURES, *SAFETY_FIGURES], TABLE_PAGES
    assert len({entry.path for entry in [*figures, *pages]}) == len(figures) + len(pages)
    assert all(entry.path == f"results/report/figures/{entry.name}.png" for entry in figures)
    assert all(entry.path == f"results/report/tables/{entry.name}.html" for entry in pages)
    for entry in [*figures, *pages]:
        assert (REPO / "workflow" / "report" / entry.caption).is_file(), entry.caption


def test_machine_translated_and_unreviewed_languages_are_marked():
    frame = pl.DataFrame({"language": ["en", "fi", "da"], "value": [1, 2, 3]})
    labelled = with_language_labels(frame, {"fi": "MT", "da": "unreviewed"})
    assert labelled["language"].to_list() == ["en", "fi (MT)", "da (unreviewed)"]
    assert with_language_labels(frame, {}).equals(frame)


def test_unreviewed_languages_get_their_note():
    *_, note = honesty_notes([], False, ["fi"], False, unreviewed_languages=["ko", "th"])
    assert note.kind == "unreviewed_language" and note.subjects == ("ko", "th")
    assert note.text.endswith("not reviewed by a native speaker (marked 'unreviewed'): ko, th.")


def _judged_runs() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two (model, language) pairs: `a` has 6 kept and 2 malformed responses, `b` 5 kept."""
    rows, texts = [], []
    for model, kept, malformed in (("a", 6, 2), ("b", 5, 0)):
        for index in range(kept + malformed):
            status = "kept" if index < kept else "malformed"
            prompt = f"{index:03d}"
            texts.append((model, "da", 0, prompt, f"text {model} {prompt}"))
            for statement in range(3 if status == "kept" else 1):
                label = ("pro", "con", "null")[statement] if status == "kept" else None
                rows.append(
                    (model, "da", 0, prompt, "f118", statement + 1, f"s{statement}", label, "da", status)
                )
    judged = pl.DataFrame(
        rows,
        schema=["model", "language", "seed", "prompt_id", "item", "statement_idx", "statement", "label",
                "response_language", "status"],
        orient="row",
    )  # fmt: skip
    responses = pl.DataFrame(texts, schema=["model", "language", "seed", "prompt_id", "text"], orient="row")
    return judged, responses


def test_the_evidence_sample_draws_kept_and_filtered_responses_reproducibly():
    judged, responses = _judged_runs()
    sample = evidence_sample(judged, responses, kept=4, filtered=1, seed=7)
    per_response = sample.unique(["model", "prompt_id"])
    counts = dict(
        per_response.group_by("model", "status")
        .len()
        .select(pl.concat_str("model", "status"), "len")
        .iter_rows()
    )
    assert counts == {"akept": 4, "amalformed": 1, "bkept": 4}
    # every statement of a drawn response comes with it, with its label and the response's text
    kept = sample.filter(pl.col("status") == "kept")
    assert kept.group_by("model", "prompt_id").len()["len"].to_list() == [3] * 8
    expected_text = pl.concat_str(pl.lit("text "), "model", pl.lit(" "), "prompt_id")
    assert kept.select((pl.col("text") == expected_text).all()).item()
    assert sample.equals(evidence_sample(judged, responses, kept=4, filtered=1, seed=7))
    assert not sample.equals(evidence_sample(judged, responses, kept=4, filtered=1, seed=8))


def test_the_evidence_page_links_each_score_to_its_responses():
    judged, responses = _judged_runs()
    sample = evidence_sample(judged, responses, kept=2, filtered=1, seed=0)
    scores = pl.DataFrame(
        {
            "model": ["a", "b"],
            "language": ["da", "da"],
            "alignment": [0.5, 0.25],
            "ci_low": [0.1, -0.2],
            "ci_high": [0.8, 0.6],
            "consistency": [0.4, 0.3],
            "kept_share": [0.75, 1.0],
        }
    )
    template = (REPO / "workflow" / "report" / "page.html.jinja").read_text()
    positions = {
        "f118": ("Homosexuality", "Homosexuality is justifiable.", "Homosexuality is never justifiable.")
    }
    notes = [HonestyNote("simulated_respondents", "Simulated respondents: a, b.")]
    html = evidence_page(template, scores, sample, positions, notes, [])
    for model in ("a", "b"):
        assert f'href="#evidence-{model}-da"' in html and f'id="evidence-{model}-da"' in html
    assert html.count('class="response"') == 5  # a: 2 kept + 1 malformed; b: 2 kept
    assert "0.500" in html and "[0.100, 0.800]" in html
    assert "Simulated respondents: a, b." in html
    # the positions the judge read each statement against, beside every response
    assert html.count("Homosexuality is never justifiable.") == 5


def test_native_scores_and_the_summary_read_the_tables():
    alignment = pl.DataFrame(
        {
            "model": ["m"] * 4,
            "language": ["da"] * 4,
            "seed": [0, 1, 0, 1],
            "level": ["language", "language", "country", "language"],
            "group": ["da", "da", "DK", "da"],
            "unit": ["topic", "topic", "topic", "response"],
            "spearman": [0.6, 0.8, 0.1, 0.2],
            "ci_low": [0.4, 0.6, 0.0, 0.0],
            "ci_high": [0.8, 1.0, 0.2, 0.4],
        }
    )
    consistency = pl.DataFrame(
        {"model": ["m", "m"], "language": ["da", "da"], "seed": [0, 1], "consistency": [0.5, 0.7]}
    )
    filtering = pl.DataFrame(
        {"model": ["m", "m"], "language": ["da", "da"], "seed": [0, 1], "responses": [10, 10], "kept": [9, 7]}
    )
    scores = native_scores(alignment, consistency, filtering, "topic")
    row = scores.row(0, named=True)
    assert row["alignment"] == pytest.approx(0.7) and row["ci_low"] == pytest.approx(0.5)
    assert row["consistency"] == pytest.approx(0.6) and row["kept_share"] == pytest.approx(0.8)
    totals = pl.DataFrame(
        {
            "model": ["m", "n", "o"],
            "language": ["da"] * 3,
            "us_minus_native": [0.1, -0.1, 0.0],
            "ci_low": [0.05, -0.2, -0.1],
            "ci_high": [0.2, -0.05, 0.1],
        }
    )
    survey = pl.DataFrame({"level": ["country", "country"], "group": ["DK", "US"], "consistency": [0.7, 0.8]})
    rq1 = pl.DataFrame(
        {"term": ["capability:language=da"], "estimate": [0.3], "ci_low": [0.1], "ci_high": [0.5],
         "p_value": [0.01], "engine": ["lme4"]}
    )  # fmt: skip
    fit = pl.DataFrame(
        {"engine": ["lme4"], "left_out": [None], "note": [None]},
        schema_overrides={"left_out": pl.String, "note": pl.String},
    )
    rq2 = pl.DataFrame(
        {"term": ["us:model=m:language=da"], "note": [None]}, schema_overrides={"note": pl.String}
    )
    summary = summary_markdown(scores, survey, rq1, fit, rq2, totals, None, [], [])
    assert "| m | da | 0.700 [0.500, 0.900] | 0.600 | 0.80 |" in summary
    assert "from 0.700 to 0.800" in summary and "`capability:language=da`: 0.300 [0.100, 0.500]" in summary
    assert "m in da: 0.100 [0.050, 0.200], leans US" in summary
    assert "n in da: -0.100 [-0.200, -0.050], leans native" in summary
    assert "o in da: 0.000 [-0.100, 0.100], no clear lean" in summary
    assert "Read with care" not in summary
    # An aggregated ground truth without survey.ceiling: said in words, not as a range of dashes.
    without = summary_markdown(scores, survey.clear(), rq1, fit, rq2, totals, None, [], [])
    assert "own consistency (the ceiling a model is compared with) is unavailable" in without
    assert "set survey.ceiling" in without and "ranges from" not in without
    assert "Left out" not in summary and "degrees of freedom" not in summary


def test_summary_says_what_each_analysis_left_out_and_why():
    scores = pl.DataFrame(
        {"model": ["m"], "language": ["da"], "alignment": [0.5], "ci_low": [0.2], "ci_high": [0.7],
         "consistency": [0.4], "kept_share": [1.0]}
    )  # fmt: skip
    survey = pl.DataFrame(
        {"level": ["country"], "group": ["DK"], "consistency": [0.7], "interval": [None]},
        schema_overrides={"interval": pl.String},
    )
    rq1 = pl.DataFrame(
        schema=dict.fromkeys(["term", "estimate", "ci_low", "ci_high", "p_value", "engine"], pl.String)
    )
    fit = pl.DataFrame(
        {"engine": [None], "left_out": ["x ('X') in da"], "note": ["RQ1 not fitted: fewer than two models"]}
    )
    rq2 = pl.DataFrame({"term": ["us:model=m:language=da"], "note": ["no residual degrees of freedom (...)"]})
    totals = pl.DataFrame(
        {"model": ["m"], "language": ["da"], "us_minus_native": [0.1], "ci_low": [0.0], "ci_high": [0.2],
         "note": ["RQ2 compares over the 30 items that the US and DK all hold"]}
    )  # fmt: skip
    summary = summary_markdown(scores, survey, rq1, fit, rq2, totals, None, [], [])
    assert "(from the released ceiling table)" in summary
    assert "- RQ1 not fitted: fewer than two models" in summary
    assert "- Left out, without a capability score: x ('X') in da" in summary
    assert "- da: RQ2 compares over the 30 items that the US and DK all hold" in summary
    assert "- OLS coefficients (rq2.csv): no residual degrees of freedom" in summary


def test_a_large_study_shows_the_populations_that_answer_the_questions():
    countries = ["US", "GB", "DK", "NL", "PT", "BR", "DE", "FR", "ES", "IT", "SE", "FI", "CA", "AU"]
    rows = [("country", country) for country in countries] + [
        ("language", lang) for lang in ("en", "da", "pt")
    ]
    alignment = pl.DataFrame([*rows, ("global", "global")], schema=["level", "group"], orient="row")
    native = {"da": ["DK"], "pt": ["PT", "BR"]}
    assert displayed_populations(alignment, native) == [
        "US", "BR", "DK", "PT", "lang:da", "lang:en", "lang:pt", "global",
    ]  # fmt: skip
    assert displayed_populations(alignment.head(10), native) is None
