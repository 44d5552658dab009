"""What a job that holds a GPU engine for hours owes its user: a clean stop when the cluster asks
for one, and a time request sized to the work it has left.

SLURM sends SIGTERM before it kills a job (time limit, preemption, scancel). The job then stops
taking new requests, lets those in flight finish and be recorded for up to a grace period, and
exits non-zero, so that Snakemake (or SLURM's requeue) runs it again; the rerun answers only what
the cache lacks."""

import contextlib
import logging
import math
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

# What a vLLM job asks the scheduler for when its model gives no throughput to derive it from.
DEFAULT_RUNTIME_MINUTES = 360
# Loading weights, compiling and warming up before the first request.
DEFAULT_STARTUP_MINUTES = 15
# Seconds a stopping job waits for the requests in flight (SLURM's KillWait is 30 s by default;
# clusters that give more can say so with `stop_grace_seconds`).
DEFAULT_GRACE_SECONDS = 25

_stop = threading.Event()


class Stopped(Exception):
    """The job was asked to stop and did, keeping every completion it had recorded."""


def stop_requested() -> bool:
    return _stop.is_set()


@contextlib.contextmanager
def stop_on_sigterm(grace_seconds: float, log: logging.Logger) -> Iterator[None]:
    """Within this block SIGTERM does not kill the job at once: engines stop taking new requests
    (stop_requested), and if those in flight are not done within `grace_seconds`, Stopped is
    raised wherever the job is, losing them."""

    def grace_over(signum, frame):
        raise Stopped(f"the requests in flight were not done {grace_seconds:g} s after SIGTERM")

    def on_sigterm(signum, frame):
        if _stop.is_set():
            return
        _stop.set()
        log.warning(
            "SIGTERM: no new requests; recording those in flight for at most %g s, then stopping",
            grace_seconds,
        )
        signal.signal(signal.SIGALRM, grace_over)
        signal.alarm(max(1, math.ceil(grace_seconds)))

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, previous)
        _stop.clear()


def runtime_minutes(requests: int | None, settings: dict, attempt: int = 1) -> int:
    """The minutes a job answering `requests` uncached requests of a model asks for: its startup
    plus the requests at its configured `requests_per_minute`, longer on each retry (a job that ran
    out of time resumes from the cache, but its throughput was overestimated). Without a configured
    throughput, or before the requests can be counted, DEFAULT_RUNTIME_MINUTES."""
    throughput = settings.get("requests_per_minute")
    if not throughput or requests is None:
        return DEFAULT_RUNTIME_MINUTES
    startup = settings.get("startup_minutes", DEFAULT_STARTUP_MINUTES)
    return math.ceil((startup + requests / throughput) * attempt)


def grace_seconds(settings: dict) -> float:
    """How long a stopping job of this model waits for the requests in flight."""
    return settings.get("stop_grace_seconds", DEFAULT_GRACE_SECONDS)


def answers_to_judge(paths: Sequence[str | Path]) -> int:
    """The answers (responses with a text) a judge's one job reads: about one request each."""
    return sum(
        pl.scan_parquet(path).filter(pl.col("text").is_not_null()).select(pl.len()).collect().item()
        for path in paths
    )
