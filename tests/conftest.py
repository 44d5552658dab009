import hashlib
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from culturalign.calls import sampling_parameters
from culturalign.generate import generation_requests
from culturalign.items import load_items
from culturalign.phrase_bank import PhraseBank, available_languages, load_phrase_banks, phrase_bank_path

REPO = Path(__file__).resolve().parents[1]


TEST_STUDIES = REPO / "tests" / "configs"


def example_study(name: str) -> dict:
    """A test study from tests/configs/: each is also a runnable example."""
    return yaml.safe_load((TEST_STUDIES / f"{name}.yaml").read_text())


def snakemake_command(study, *arguments):
    return [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(study),
        "--configfile", str(study / "config.yaml"),
        "--cores", "2",
        *arguments,
    ]  # fmt: skip


def snakemake(study, *arguments, config=None):
    if config is not None:
        (study / "config.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run(snakemake_command(study, *arguments), capture_output=True, text=True, timeout=600)


def prompts(texts):
    """A prompt sample of these texts, all on item f118."""
    return pl.DataFrame({"prompt_id": [f"0-{i}" for i in range(len(texts))], "item": "f118", "text": texts})


def requests_for(texts, settings=None, seed=0):
    """Survey requests of these texts to an OpenAI model."""
    settings = settings or {"backend": "openai", "model": "gpt-test"}
    return generation_requests(
        prompts(texts),
        language="en",
        seed=seed,
        settings=settings,
        parameters=sampling_parameters({}, settings),
    )


def judge_sections(prompt: str, *names: str) -> list[str]:
    """The data sections of a judge's prompt (`<summary>`, `<statements>`, `<request>`,
    `<answer>`), as the evaluated model wrote them: each must be opened and closed exactly once,
    whatever the answer holds (culturalign.judge_injection.fence), and its text is unescaped."""
    texts = []
    for name in names:
        tags = prompt.count(f"<{name}>"), prompt.count(f"</{name}>")
        assert tags == (1, 1), f"<{name}> opened and closed {tags} times in a judge's prompt"
        texts.append(html.unescape(re.search(rf"<{name}>\n(.*)\n</{name}>", prompt, flags=re.S).group(1)))
    return texts


def unit_draw(*parts) -> float:
    """A reproducible number in [0, 1) from text: the fake models' coin."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:12], 16) / 16**12


def shipped_phrase_banks() -> dict[str, PhraseBank]:
    """The phrase bank of every language folder in the repository's resources/ that has one."""
    resources = REPO / "resources"
    languages = available_languages(resources)
    return load_phrase_banks([phrase_bank_path(resources, language) for language in languages])


@pytest.fixture(autouse=True)
def restore_environment():
    """Undo what a test changed in the environment: fitting with lme4 in-process starts R, which
    puts R's and the system's library folders on LD_LIBRARY_PATH, and a Python started after that
    (every Snakemake a later test runs) would load the system's libpython and miss our packages."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def items():
    return load_items(REPO / "resources" / "items.yaml")


@pytest.fixture
def hand_built() -> pl.DataFrame:
    """Seven respondents whose ground truth is worked out by hand in test_survey.py.

    Weights (gwght x pwght): r1 2, r2 4, r3 2, r4 1, r5 1, r6 3, r7 1. Negative answers are missing codes.
    """
    return pl.DataFrame(
        {
            "cntry_AN": ["DK", "DK", "DK", "DK", "US", "US", "US"],
            "lnge_iso": ["da", "da", "da", "en", "en", "es", "en_US"],
            "gwght": [1.0, 2.0, 1.0, 0.5, 1.0, 3.0, 1.0],
            "pwght": [2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0],
            "D059": [1.0, 4.0, -1.0, 2.0, 3.0, 1.0, -2.0],
            "C001_01": [3.0, 2.0, 1.0, -2.0, 5.0, 4.0, 1.0],
            "F118": [10.0, 5.0, 6.0, -4.0, 7.0, 1.0, 10.0],
            "E035": [5.0, 6.0, 1.0, 10.0, -5.0, 3.0, 7.0],
            "F028": [4.0, 5.0, 8.0, 1.0, 2.0, -1.0, 6.0],
        }
    )
