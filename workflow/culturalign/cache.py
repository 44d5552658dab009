"""A content-addressed cache of completions: a paid or GPU-hour answer is stored the moment it
arrives, keyed by everything that determines it, and never requested again.

One SQLite file under results/ serves every job; write-ahead logging and a busy timeout let
several jobs read and write it at once.
"""

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from culturalign.backends.base import Completion, GenerationRequest

SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    text TEXT,
    finish_reason TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    stored_at REAL NOT NULL
)
"""


def request_key(
    backend: str, model: str, base_url: str | None, messages: Iterable[dict], parameters: dict, replicate: str
) -> str:
    """A stable hash of everything that determines a completion. `replicate` tells apart draws of
    the same messages that must be sampled independently (another seed, another prompt slot)."""
    payload = {
        "backend": backend,
        "model": model,
        "base_url": base_url,
        "messages": list(messages),
        "parameters": parameters,
        "replicate": replicate,
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class CompletionCache:
    def __init__(self, path: str | Path, timeout: float = 120.0):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        self.connection.execute(SCHEMA)

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = self.connection.execute(
                "SELECT key, text, finish_reason, prompt_tokens, completion_tokens FROM completions "
                f"WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for key, text, finish_reason, prompt_tokens, completion_tokens in rows:
                found[key] = Completion(text, finish_reason, prompt_tokens, completion_tokens, cached=True)
        return found

    def put(self, key: str, request: dict, completion: Completion) -> None:
        """Store one successful completion at once (its own transaction); failures are not cached,
        so that they are asked again next time."""
        if completion.error is not None or completion.text is None:
            return
        self.connection.execute(
            "INSERT OR IGNORE INTO completions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                json.dumps(request, sort_keys=True, ensure_ascii=False),
                completion.text,
                completion.finish_reason,
                completion.prompt_tokens,
                completion.completion_tokens,
                time.time(),
            ),
        )

    def record(self, request: GenerationRequest, completion: Completion) -> None:
        """Store a request's completion under its key, with the request it answers."""
        self.put(request.key, {"messages": request.messages, "parameters": request.parameters}, completion)

    def close(self) -> None:
        self.connection.close()
