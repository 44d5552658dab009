"""The audit bundle (`snakemake audit` writes results/audit/) and its replay (`snakemake verify`):
what a reviewer needs to re-run a study to the last digit without an API key, a GPU or trust in
the evaluator.

The bundle holds the resolved config (its inputs' paths inside the bundle), the versions that ran,
copies of the shipped resources and of the user's input files, every completion of the cache as
JSON lines (with the model id and system fingerprint the API reported), a table of the request
keys, and a copy of every result file; manifest.json holds the hash of each of them.

A replay copies the bundle into an empty folder as `audit/` and runs the study from the bundled
completions only. Before anything runs, the bundle is checked against its manifest and the shipped
resources against their bundled copies; afterwards every result is compared with its copy:
tables on their data (HISTORY_COLUMNS aside), text byte for byte, figures not at all (they are
drawn from tables that are compared; their pixels depend on the machine's fonts). The first
difference of each file is named.
"""

import hashlib
import importlib.metadata
import json
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from copy import deepcopy
from fnmatch import fnmatch
from pathlib import Path

import polars as pl
import yaml

from culturalign.cache import PORTABLE_FIELDS, CompletionCache, restored_cache

FORMAT = 1
REPLAYED_AS = "audit"  # the folder a replay finds the bundle in, in its working directory
COMPLETIONS = "completions.jsonl"
# Columns that record how the original run got its answers (from the API or its own cache, how
# long each took, what it paid): a replay reads every answer from the bundle, at once and free.
HISTORY_COLUMNS = ("cached", "seconds", "cost_usd")
# Result files that are such a history as a whole, kept in the bundle but not compared: the jobs'
# timings, the ledger (the tokens each run paid for: a replay pays for none) and the report's page
# of it, Batch API receipts, a vLLM job's record of what it generated, the estimate and the
# precision plan made before the run (its dollars are the estimate's).
HISTORY_FILES = (
    "results/benchmarks/*",
    "results/ledger.csv",
    "results/ledger/*",
    "results/batches/*",
    "results/vllm/*",
    "results/cost_estimate.csv",
    "results/precision_plan.csv",
    "results/report/tables/ledger.html",
)
# A passage of a text result that is such a history (the summary's cost), between
# <!-- history --> and <!-- /history -->: left out where the text is compared.
HISTORY_MARK = "history"
HISTORY_PASSAGE = re.compile(rf"<!-- {HISTORY_MARK} -->.*?<!-- /{HISTORY_MARK} -->", re.DOTALL)
FIGURE_SUFFIXES = (".png", ".svg", ".pdf", ".jpg")
TABLE_SUFFIXES = (".parquet", ".csv")
PACKAGES = (
    "culturalign",
    "snakemake",
    "polars",
    "numpy",
    "scipy",
    "statsmodels",
    "pymer4",
    "rpy2",
    "matplotlib",
    "jinja2",
    "openai",
    "vllm",
)
# Config keys that name the user's own input files (relative to the working directory).
INPUT_KEYS = (
    ("survey", "path"),
    ("survey", "aggregated"),
    ("survey", "ceiling"),
    ("regression", "capabilities"),
    ("judges", "gold"),
    ("judged_import",),
)
INPUT_LISTS = (("safety", "external"), ("safety", "completions_import"))


class AuditError(RuntimeError):
    """The bundle, the shipped resources or a replayed result differ from what the audit recorded."""


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def result_kind(path: str, canary_date: str) -> str:
    """How a replay checks a result file: `data` (a table, compared on its values with
    HISTORY_COLUMNS left out), `bytes`, `figure` (not compared), `history` (not compared) or
    `record` (an earlier date's drift canary: restored before the replay, which compares with it)."""
    if fnmatch(path, "results/judges/canary/*/*") and Path(path).stem != canary_date:
        return "record"
    if any(fnmatch(path, pattern) for pattern in HISTORY_FILES):
        return "history"
    suffix = Path(path).suffix.lower()
    if suffix in FIGURE_SUFFIXES:
        return "figure"
    return "data" if suffix in TABLE_SUFFIXES else "bytes"


def user_inputs(config: Mapping) -> list[tuple[tuple, str]]:
    """(config keys, path) of every input file the user brought, the keys as a path into the
    config (list positions as numbers). A synthetic survey is generated again from its seed."""
    found = []
    for keys in INPUT_KEYS:
        if keys == ("survey", "path") and config["survey"]["synthetic"]["enabled"]:
            continue
        if value := _lookup(config, keys):
            found.append((keys, value))
    for keys in INPUT_LISTS:
        for index, source in enumerate(_lookup(config, keys) or []):
            found.append(((*keys, index, "path"), source["path"]))
    return found


def config_key(keys: tuple) -> str:
    """How an error message names a config key: safety.external[0].path."""
    return "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in keys).lstrip(".")


def _lookup(config, keys: tuple):
    for key in keys:
        config = config[key] if isinstance(key, int) else (config or {}).get(key)
    return config


def bundled_config(config: Mapping, canary_date: str, moved: Mapping[tuple, str]) -> dict:
    """The resolved config a replay runs: the user's inputs at their place in the bundle
    (`moved`: config keys -> bundle path), the canary's date fixed, and the replay switched on."""
    resolved = deepcopy(dict(config))
    for keys, path in moved.items():
        _lookup(resolved, keys[:-1])[keys[-1]] = path
    resolved["judges"]["canary"]["date"] = canary_date
    resolved["audit"] = {**resolved.get("audit", {}), "replay": REPLAYED_AS}
    return resolved


def versions(repo: Path) -> dict:
    """What ran: Python, the packages, R and lme4, and the code's commit and content hash."""
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": packages,
        "r": _r_versions(),
        "commit": _commit(repo),
        "code_sha256": code_digest(repo),
    }


def code_digest(repo: Path) -> str:
    """One hash of the workflow's code (the Snakefile, rules, package, scripts, report templates)."""
    digest = hashlib.sha256()
    files = [repo / "Snakefile", *sorted((repo / "rules").glob("*.smk"))]
    files += sorted(path for path in (repo / "workflow").rglob("*") if path.is_file() and _is_code(path))
    for path in files:
        digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _is_code(path: Path) -> bool:
    return "__pycache__" not in path.parts and ".egg-info" not in str(path) and path.suffix != ".pyc"


def _commit(repo: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def _r_versions() -> dict:
    if not shutil.which("Rscript"):
        return {}
    script = 'cat(R.version$major, ".", R.version$minor, " ", as.character(packageVersion("lme4")), sep="")'
    try:
        done = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    r_version, _, lme4 = done.stdout.strip().partition(" ")
    return {"R": r_version, "lme4": lme4} if done.returncode == 0 else {}


def produced_results(folder: Path, patterns: Iterable[str]) -> list[str]:
    """The files under `folder` (results/) that one of the rules' output `patterns` (regular
    expressions) matches: a file another design left there (a model or seed since removed) is no
    result of this study; the bundle itself is none either."""
    compiled = [re.compile(pattern) for pattern in patterns]
    return [
        str(path)
        for path in _files(folder)
        if not path.is_relative_to(folder / "audit") and any(rule.fullmatch(str(path)) for rule in compiled)
    ]


def shipped_resources(resources: Path) -> list[Path]:
    """The shipped resource files (the item bank, prompts, judges' templates, prices), without
    what a study generates there (the demo's synthetic survey)."""
    return sorted(
        path
        for path in resources.rglob("*")
        if path.is_file() and "demo" not in path.relative_to(resources).parts[:1]
    )


def write_bundle(
    bundle: Path,
    *,
    config: Mapping,
    canary_date: str,
    repo: Path,
    results: Iterable[str],
    cache_path: str | Path,
) -> str:
    """Write the audit bundle into `bundle` (replacing it); returns the manifest's hash."""
    if bundle.exists():
        shutil.rmtree(bundle)
    bundle.mkdir(parents=True)
    kinds = {}
    for path in sorted(set(results)):
        _copy(Path(path), bundle / path)
        kinds[path] = result_kind(path, canary_date)
    resources = repo / "resources"
    for path in shipped_resources(resources):
        _copy(path, bundle / "resources" / path.relative_to(resources))
    moved = {}
    for keys, path in user_inputs(config):
        # the file keeps its name: an external set's prompts are named after it
        target = f"inputs/{len(moved)}/{Path(path).name}"
        _copy(Path(path), bundle / target)
        moved[keys] = f"{REPLAYED_AS}/{target}"
    (bundle / "config.yaml").write_text(
        yaml.safe_dump(bundled_config(config, canary_date, moved), sort_keys=False, allow_unicode=True)
    )
    (bundle / "versions.json").write_text(json.dumps(versions(repo), indent=1, sort_keys=True) + "\n")
    lines = _write_completions(bundle, CompletionCache(cache_path) if Path(cache_path).exists() else None)
    manifest = {
        "format": FORMAT,
        "inputs": {config_key(keys): path for keys, path in moved.items()},
        "survey": _survey_file(config, moved),
        "canary_date": canary_date,
        "results": kinds,
        "files": {str(path.relative_to(bundle)): sha256(path) for path in _files(bundle)},
        "completion_lines": lines,
    }
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    (bundle / "manifest.json").write_text(text)
    return hashlib.sha256(text.encode()).hexdigest()


def _survey_file(config: Mapping, moved: Mapping[tuple, str]) -> dict | None:
    """The survey file's hash, at the path the replay reads it from (a synthetic survey: where the
    replay writes it again from its seed); None for a study of an aggregated table."""
    path = Path(config["survey"]["path"])
    if config["survey"]["aggregated"] or not path.is_file():
        return None
    return {"path": moved.get(("survey", "path"), str(path)), "sha256": sha256(path)}


def _files(folder: Path) -> list[Path]:
    """The files of a folder, without the marker Snakemake leaves in a directory it wrote."""
    return sorted(
        path for path in folder.rglob("*") if path.is_file() and path.name != ".snakemake_timestamp"
    )


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _write_completions(bundle: Path, cache: CompletionCache | None) -> list[str]:
    """completions.jsonl (every completion and noted failure, in key order) and requests.csv (each
    request key with what answered it); returns each line's hash, so that a replay can name the
    first line that changed."""
    records = list(cache.records()) if cache else []
    lines = [json.dumps(record, sort_keys=True, ensure_ascii=False) for record in records]
    (bundle / COMPLETIONS).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    pl.DataFrame(
        [{field: record[field] for field in PORTABLE_FIELDS if field != "request"} for record in records],
        schema={
            "key": pl.String,
            "text": pl.String,
            "finish_reason": pl.String,
            "prompt_tokens": pl.Int64,
            "completion_tokens": pl.Int64,
            "model_id": pl.String,
            "system_fingerprint": pl.String,
            "error": pl.String,
        },
    ).drop("text").write_csv(bundle / "requests.csv")
    return [_line_digest(line) for line in lines]


def _line_digest(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()[:16]


def manifest_digest(bundle: Path) -> str | None:
    """The hash of a bundle's manifest (what the report's start page shows), None without one."""
    path = bundle / "manifest.json"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


# -- replay ----------------------------------------------------------------------------------------


def read_manifest(bundle: Path) -> dict:
    path = bundle / "manifest.json"
    if not path.is_file():
        raise AuditError(f"{path}: no manifest; copy results/audit/ of the audited study here as {bundle}/")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise AuditError(f"{path}: format {manifest.get('format')!r}, this culturalign reads format {FORMAT}")
    return manifest


def bundle_problems(bundle: Path, manifest: Mapping, resources: Path) -> list[str]:
    """Every way the bundle differs from its manifest, and the shipped resources from their
    bundled copies (as the manifest hashed them), each naming the file and its first differing
    value."""
    problems = []
    for name, digest in manifest["files"].items():
        path = bundle / name
        if not path.is_file():
            problems.append(f"{path}: missing from the bundle")
        elif sha256(path) != digest:
            problems.append(_changed_in_bundle(bundle, name, manifest))
    listed = set(manifest["files"]) | {"manifest.json"}
    for path in _files(bundle):
        if str(path.relative_to(bundle)) not in listed:
            problems.append(f"{path}: not in the manifest")
    shipped = {str(path.relative_to(resources)): path for path in shipped_resources(resources)}
    bundled = {name.removeprefix("resources/") for name in manifest["files"] if name.startswith("resources/")}
    for name in sorted(bundled | set(shipped)):
        here, copy = shipped.get(name), bundle / "resources" / name
        if here is None:
            problems.append(f"{resources / name}: missing here (the audited study had it)")
        elif name not in bundled:
            problems.append(f"{here}: not a resource of the audited study")
        elif copy.is_file() and sha256(here) != manifest["files"][f"resources/{name}"]:
            difference = _first_line_difference(copy, here)
            problems.append(f"{here}: differs from the audited study's copy ({copy}): {difference}")
    return problems


def _changed_in_bundle(bundle: Path, name: str, manifest: Mapping) -> str:
    path = bundle / name
    if name != COMPLETIONS:
        return f"{path}: differs from the manifest (sha256)"
    lines = path.read_text(encoding="utf-8").splitlines()
    recorded = manifest["completion_lines"]
    for number, (line, digest) in enumerate(zip(lines, recorded, strict=False), start=1):
        if _line_digest(line) != digest:
            record = json.loads(line)
            shown = record.get("text") if record.get("error") is None else record.get("error")
            return (
                f"{path}: line {number} (request {record.get('key')}) differs from the manifest; "
                f"it now reads {_shown(shown)}"
            )
    return f"{path}: {len(lines)} completions, the manifest recorded {len(recorded)}"


def prepare_replay(bundle: Path, manifest: Mapping, resources: Path, cache_path: str | Path) -> int:
    """Before a replay runs: the bundle checked against its `manifest` and the shipped resources
    against their bundled copies (AuditError naming every difference), then the completion cache
    restored from the bundle (it answers, nothing is asked) and the earlier dates' drift canary
    labels put back in results/. Returns the completions restored."""
    problems = bundle_problems(bundle, manifest, resources)
    if problems:
        raise AuditError(f"the audit bundle {bundle}/ does not match its manifest:\n" + "\n".join(problems))
    with open(bundle / COMPLETIONS, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    restored_cache(cache_path, records, str(bundle))
    for path, kind in manifest["results"].items():
        if kind == "record":
            _copy(bundle / path, Path(path))
    return len(records)


def code_difference(bundle: Path, repo: Path) -> str | None:
    """Whether the code replaying the bundle differs from the code that wrote it (a warning: the
    results decide)."""
    recorded = json.loads((bundle / "versions.json").read_text())
    if recorded.get("code_sha256") == code_digest(repo):
        return None
    return (
        f"this culturalign ({_commit(repo) or 'no commit'}) is not the code that wrote {bundle}/ "
        f"(commit {recorded.get('commit')}): differences may come from the code"
    )


def result_differences(bundle: Path, manifest: Mapping) -> list[dict]:
    """Each result of the manifest against its replayed counterpart in the working directory:
    path, check (its kind) and the first difference (None where it matches or is not compared)."""
    outcomes = []
    for path, kind in sorted(manifest["results"].items()):
        replayed, recorded = Path(path), bundle / path
        difference = None
        if kind in ("data", "bytes", "figure") and not replayed.is_file():
            difference = "not produced by the replay"
        elif kind == "data":
            difference = table_difference(recorded, replayed)
        elif kind == "bytes" and sha256(recorded) != sha256(replayed):
            difference = _first_line_difference(recorded, replayed, without_history=True)
        outcomes.append({"path": path, "check": kind, "difference": difference})
    if survey := manifest.get("survey"):
        here = Path(survey["path"])
        digest = sha256(here) if here.is_file() else "none"
        difference = f"sha256 {survey['sha256']} in the audit, {digest} here"
        difference = None if digest == survey["sha256"] else difference
        outcomes.append({"path": survey["path"], "check": "survey", "difference": difference})
    return outcomes


def table_difference(recorded: Path, replayed: Path) -> str | None:
    """The first difference between two tables' values (HISTORY_COLUMNS left out), or None."""
    expected, actual = (_read_exact(path) for path in (recorded, replayed))
    expected = expected.drop(HISTORY_COLUMNS, strict=False)
    actual = actual.drop(HISTORY_COLUMNS, strict=False)
    if expected.columns != actual.columns:
        return f"columns {expected.columns} in the audit, {actual.columns} replayed"
    if expected.height != actual.height:
        return f"{expected.height} rows in the audit, {actual.height} replayed"
    for column in expected.columns:
        left, right = expected[column], actual[column]
        if left.dtype != right.dtype:
            return f"column {column}: {left.dtype} in the audit, {right.dtype} replayed"
        same = left.eq_missing(right)
        if left.dtype.is_float():
            same = same | (left.is_nan() & right.is_nan()).fill_null(False)
        if not same.all():
            row = int((~same).arg_true()[0])
            values = f"{_shown(left[row])} in the audit, {_shown(right[row])} replayed"
            return f"row {row + 1}, column {column}: {values}"
    return None


def _read_exact(path: Path) -> pl.DataFrame:
    """A table as written: a CSV's cells as text (no parsing that could hide a digit)."""
    return pl.read_csv(path, infer_schema=False) if path.suffix == ".csv" else pl.read_parquet(path)


def _first_line_difference(recorded: Path, replayed: Path, *, without_history: bool = False) -> str | None:
    """The first line that differs between two texts (their HISTORY_PASSAGEs left out if asked),
    None where none does."""
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in (recorded, replayed)]
    if without_history:
        texts = [HISTORY_PASSAGE.sub("", text) for text in texts]
    expected, actual = (text.splitlines() for text in texts)
    for number, (left, right) in enumerate(zip(expected, actual, strict=False), start=1):
        if left != right:
            start = next(
                (index for index, (a, b) in enumerate(zip(left, right, strict=False)) if a != b),
                min(len(left), len(right)),
            )
            return f"line {number}: {_shown(left[max(0, start - 20) : start + 40])} in the audit, " + (
                f"{_shown(right[max(0, start - 20) : start + 40])} now"
            )
    if len(expected) == len(actual):
        return None
    return f"{len(expected)} lines in the audit, {len(actual)} now"


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def differences_table(outcomes: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(outcomes, schema={"path": pl.String, "check": pl.String, "difference": pl.String})
