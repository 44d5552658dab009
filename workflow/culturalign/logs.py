"""Logging for rule scripts: progress and failures go to the rule's `log:` file."""

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def script_log(path: str | Path, name: str = "culturalign") -> Iterator[logging.Logger]:
    """Log to `path` for the duration of a rule script, recording any exception before it propagates."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield logger
    except Exception:
        logger.exception("failed")
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()


class LogProgress:
    """A progress bar for a rule's log file: one tqdm-formatted line (bar, count, rate, time
    left) each time another `step` share of the work is done, or `seconds` have passed."""

    def __init__(
        self, logger: logging.Logger, label: str, total: int, step: float = 0.05, seconds: float = 30.0
    ):
        self.logger, self.label, self.total = logger, label, total
        self.every = max(1, int(total * step))
        self.seconds = seconds
        self.done = 0
        self.started = self.shown = time.monotonic()

    def advance(self, extra: str = "") -> None:
        from tqdm import tqdm

        self.done += 1
        now = time.monotonic()
        if self.done % self.every and self.done != self.total and now - self.shown < self.seconds:
            return
        self.shown = now
        meter = tqdm.format_meter(self.done, self.total, now - self.started, ncols=100, prefix=self.label)
        self.logger.info("%s%s", meter, extra)
