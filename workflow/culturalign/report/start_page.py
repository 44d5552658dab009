"""What the report's start page says about the study's bill and its audit bundle.

The start page (workflow/report/workflow.rst) is rendered when `snakemake --report` runs and sees
only the config, so these lines are read from results/ when the workflow is parsed (start_page_facts,
handed over in rules/audit.smk): the estimate made before paying (results/cost_estimate.csv), what
the ledger recorded (results/ledger.csv), and the hash of the audit bundle's manifest."""

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from culturalign.audit import manifest_digest

START_PAGE_KEY = "report_start_page"  # where the facts wait in the config for the start page
LEDGER_COUNTS = ("requests", "cached", "failed", "prompt_tokens", "completion_tokens")


def _total(table: pl.DataFrame, column: str) -> float:
    """A column's sum; a CSV column without any value (no price, no GPU) reads as text and sums to 0."""
    return float(table[column].cast(pl.Float64, strict=False).fill_null(0).sum())


def estimated_bill(estimate: pl.DataFrame) -> str:
    """The estimate's total: requests and dollars (as a range where the table has one), GPU-hours
    where a model has them."""
    text = (
        f"{int(_total(estimate, 'requests'))} requests not yet cached when it was made, "
        f"${_total(estimate, 'cost_usd'):.2f} expected"
    )
    if {"usd_low", "usd_high"} <= set(estimate.columns):
        text += f" (${_total(estimate, 'usd_low'):.2f} to ${_total(estimate, 'usd_high'):.2f})"
    gpu_hours = _total(estimate, "gpu_hours") if "gpu_hours" in estimate.columns else 0
    return text + (f", {gpu_hours:.2f} GPU-hours" if gpu_hours else "")


def actual_bill(ledger: pl.DataFrame) -> str:
    """What the ledger recorded: requests (from the cache, failed: a ledger older than that
    column does not say), tokens, dollars and seconds."""
    counts = {column: int(_total(ledger, column)) for column in LEDGER_COUNTS if column in ledger.columns}
    failed = f", {counts['failed']} failed" if "failed" in counts else ""
    return (
        f"{counts['requests']} requests ({counts['cached']} from the cache{failed}), "
        f"{counts['prompt_tokens']} prompt and {counts['completion_tokens']} completion tokens, "
        f"${_total(ledger, 'cost_usd'):.2f}, {_total(ledger, 'seconds'):.0f} s"
    )


def _read(path: Path, describe) -> str | None:
    """`describe` of the table at `path`; None without one, and what went wrong with one that
    cannot be read (a report is still made)."""
    if not path.is_file():
        return None
    try:
        return describe(pl.read_csv(path))
    except (pl.exceptions.PolarsError, OSError, KeyError, ValueError) as error:
        return f"{path} could not be read ({type(error).__name__}: {error})"


def audit_line(bundle: Path, results: list[Path]) -> str | None:
    """The bundle's manifest hash, and whether results changed after it was written."""
    digest = manifest_digest(bundle)
    if digest is None:
        return None
    written = (bundle / "manifest.json").stat().st_mtime
    changed = sum(path.stat().st_mtime > written for path in results if path.is_file())
    when = datetime.fromtimestamp(written, UTC).strftime("%Y-%m-%d %H:%M UTC")
    line = f"results/audit/manifest.json, sha256 {digest} (written {when})"
    if changed:
        line += f"; {changed} results changed since: run snakemake audit again before publishing"
    return line


def start_page_facts(results_folder: Path, targets: list[str]) -> dict[str, str | None]:
    """The bill, estimated and actual, and the audit bundle's manifest hash, as far as they exist."""
    estimate_path, ledger_path = results_folder / "cost_estimate.csv", results_folder / "ledger.csv"
    return {
        "estimated": _read(estimate_path, estimated_bill),
        "actual": _read(ledger_path, actual_bill),
        "audit": audit_line(results_folder / "audit", [Path(target) for target in targets]),
    }
