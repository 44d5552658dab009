"""The conda environments of envs/ (for `--sdm conda` on a cluster) agree with what the tests run.

conda-forge cannot be reached from this machine, so the environments are not built here; what can
be checked is that every package is pinned, that the pins satisfy pyproject.toml (the route the
test suite installs), and that every rule names one of them."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from vllm_venv import VLLM

from conftest import REPO

ENVS = {path.stem: yaml.safe_load(path.read_text()) for path in (REPO / "envs").glob("*.yaml")}
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def pip_pins(env: dict) -> dict[str, Requirement]:
    (pip,) = [entry["pip"] for entry in env["dependencies"] if isinstance(entry, dict)]
    return {Requirement(line).name.lower(): Requirement(line) for line in pip}


@pytest.mark.parametrize("name", sorted(ENVS))
def test_every_package_is_pinned_and_the_package_comes_from_the_workflow(name):
    env = ENVS[name]
    conda = [entry for entry in env["dependencies"] if isinstance(entry, str)]
    assert all(re.fullmatch(r"[\w.-]+=[\w.*]+", entry) for entry in conda), conda
    pins = pip_pins(env)
    for requirement in pins.values():
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", requirement
    # an editable install would resolve against the copy Snakemake makes of the env file
    assert "culturalign" not in pins and not any(str(entry).startswith("-e") for entry in env["dependencies"])


def test_rule_scripts_find_the_package_without_an_installed_one():
    # Snakemake appends a script's folder to its sys.path; -S leaves out site-packages, where an
    # installed culturalign would otherwise be found first
    found = subprocess.run(
        [sys.executable, "-S", "-c", "import sys; sys.path.append(sys.argv[1]); import culturalign; "
         "print(culturalign.__file__)", REPO / "workflow/scripts"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(found).resolve() == REPO / "workflow/culturalign/__init__.py"


@pytest.mark.parametrize(
    ("name", "extras"), [("core", []), ("stats", PROJECT["optional-dependencies"]["stats"]), ("vllm", [])]
)
def test_each_environment_has_the_project_dependencies_at_versions_pyproject_allows(name, extras):
    pins = pip_pins(ENVS[name])
    for line in [*PROJECT["dependencies"], *extras]:
        wanted = Requirement(line)
        pinned = pins.get(wanted.name.lower())
        assert pinned is not None, f"envs/{name}.yaml lacks {wanted.name}"
        (version,) = [specifier.version for specifier in pinned.specifier]
        assert wanted.specifier.contains(version), f"envs/{name}.yaml: {pinned} is outside {wanted}"
        assert wanted.extras <= pinned.extras, f"envs/{name}.yaml: {pinned} lacks extras {wanted.extras}"


def test_the_vllm_environment_has_the_release_the_tests_run_on_cpu():
    tested = Requirement(VLLM)
    assert str(pip_pins(ENVS["vllm"])["vllm"].specifier) == str(tested.specifier)


def test_every_rule_that_runs_something_names_an_environment_of_envs():
    named = set()
    for rules in [REPO / "Snakefile", *(REPO / "rules").glob("*.smk")]:
        for block in re.split(r"^\s*rule ", rules.read_text(), flags=re.M)[1:]:
            name = block.split(":")[0]
            environment = re.search(r'conda:\s*\n\s*"\.\./envs/(\w+)\.yaml"', block)
            # target rules (all, generation) run nothing
            runs = re.search(r"^\s*(script|shell|run):", block, flags=re.M)
            assert bool(environment) == bool(runs), f"{rules.name}: rule {name}"
            named |= {environment.group(1)} if environment else set()
    assert named == set(ENVS)
