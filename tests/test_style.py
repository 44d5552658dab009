"""The code style checks the project keeps clean."""

import shutil
import subprocess
import sys

import pytest

from conftest import REPO


def run(*command):
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("snakefmt", "--check", "Snakefile", "rules"),
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_formatters_and_linters_are_clean(command):
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is not installed; install the dev extra: pip install -e '.[dev]'")
    result = run(*command)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakemake_lint_is_clean():
    result = run(sys.executable, "-m", "snakemake", "--lint", "--cores", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr
