import os
from pathlib import Path

import polars as pl
import pytest

from culturalign.items import load_items
from culturalign.phrase_bank import PhraseBank, available_languages, load_phrase_banks, phrase_bank_path

REPO = Path(__file__).resolve().parents[1]


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
