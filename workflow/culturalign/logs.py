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
    Path(path).write_text("")
    # Appending: a library that configures logging (vLLM does, when its engine starts) closes every
    # handler, and a handler in "w" mode then drops all later lines instead of reopening its file.
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
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
    """A progress bar for a rule's log file: one tqdm-formatted line (bar, requests done of all,
    requests per second, time spent < time left, generated tokens per second) each time another
    `every` requests are done (by default a twentieth of them), and at least every `seconds`."""

    def __init__(
        self,
        logger: logging.Logger,
        label: str,
        total: int,
        *,
        every: int | None = None,
        seconds: float = 30.0,
        clock=time.monotonic,
    ):
        self.logger, self.label, self.total = logger, label, total
        self.every = max(1, every or total // 20)
        self.seconds, self.clock = seconds, clock
        self.done = self.tokens = 0
        self.started = self.shown = clock()

    def advance(self, tokens: int | None = 0, extra: str = "") -> None:
        """One request done, which generated `tokens`."""
        self.done += 1
        self.tokens += tokens or 0
        if self.done % self.every == 0 or self.done == self.total:
            self.show(extra)
        else:
            self.tick(extra)

    def tick(self, extra: str = "") -> None:
        """A line if none was written for `seconds`, whether or not a request finished since."""
        if self.clock() - self.shown >= self.seconds:
            self.show(extra)

    def show(self, extra: str = "") -> None:
        from tqdm import tqdm

        now = self.clock()
        self.shown = now
        elapsed = now - self.started
        speed = f"{self.tokens / elapsed:.0f} generated tokens/s" if elapsed > 0 else None
        meter = tqdm.format_meter(
            self.done, self.total, elapsed, ncols=110, prefix=self.label, unit="req", postfix=speed
        )
        self.logger.info("%s%s", meter, extra)
