"""Logging for rule scripts: progress and failures go to the rule's `log:` file."""

import contextlib
import logging
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
