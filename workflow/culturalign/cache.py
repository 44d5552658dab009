"""A content-addressed cache of completions: a paid or GPU-hour answer is stored the moment it
arrives, keyed by everything that determines it, and never requested again.

One SQLite file under results/ serves every job; write-ahead logging and a busy timeout let
several jobs read and write it at once.

A request whose latest attempt failed is noted with its error (failures are not completions: a
later run asks again). A replay of an audit bundle opens a cache restored from the bundle: it
answers from what the bundle holds, the noted failures included, and never asks anything.

A long job (one engine answering a model's whole study) opens the cache under its name: each
completion it stores is also noted as its own until the job finishes. When a killed attempt is run
again, what the earlier attempt generated is read back as this job's fresh work (not as a cache
hit), with the seconds it took, so that the ledger and the outputs equal an uninterrupted run's.
"""

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
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
    stored_at REAL NOT NULL,
    model_id TEXT,
    system_fingerprint TEXT
);
CREATE TABLE IF NOT EXISTS failures (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    error TEXT NOT NULL,
    stored_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS replay (source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS unfinished (
    job TEXT NOT NULL,
    key TEXT NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (job, key)
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
    def __init__(self, path: str | Path, timeout: float = 120.0, *, job: str | None = None):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        self.connection.executescript(SCHEMA)
        _add_missing_columns(self.connection)
        self.job = job
        # the audit bundle this cache was restored from: it answers, nothing is asked
        self.replay_source: str | None = next(
            (source for (source,) in self.connection.execute("SELECT source FROM replay")), None
        )
        # what failed in this job, by request key, with the reason
        self.errors: dict[str, str] = {}
        # what this job's earlier, unfinished attempts generated: key -> seconds it took
        self.earlier: dict[str, float] = (
            dict(self.connection.execute("SELECT key, seconds FROM unfinished WHERE job = ?", (job,)))
            if job
            else {}
        )
        self._last_record = time.perf_counter()

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
                cached = key not in self.earlier
                found[key] = Completion(text, finish_reason, prompt_tokens, completion_tokens, cached=cached)
            if self.replay_source:
                failed = self.connection.execute(
                    f"SELECT key, error FROM failures WHERE key IN ({','.join('?' * len(chunk))})", chunk
                )
                for key, error in failed:
                    found.setdefault(key, Completion(None, None, cached=True, error=error))
        return found

    def put(self, key: str, request: dict, completion: Completion) -> None:
        """Store one successful completion at once (its own transaction). A failure is only noted
        (the latest error of a request without a completion): it is asked again next time."""
        stored = json.dumps(request, sort_keys=True, ensure_ascii=False)
        if completion.error is not None or completion.text is None:
            self.connection.execute(
                "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?)",
                (key, stored, completion.error or "no text", time.time()),
            )
            return
        self.connection.execute(
            "INSERT OR IGNORE INTO completions "
            "(key, request, text, finish_reason, prompt_tokens, completion_tokens, stored_at, model_id, "
            "system_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                stored,
                completion.text,
                completion.finish_reason,
                completion.prompt_tokens,
                completion.completion_tokens,
                time.time(),
                completion.model_id,
                completion.system_fingerprint,
            ),
        )
        self.connection.execute("DELETE FROM failures WHERE key = ?", (key,))

    def record(self, request: GenerationRequest, completion: Completion) -> None:
        """Store a request's completion under its key, with the request it answers; a failure is
        noted in `errors`. A named job notes the completion as its own, with the seconds since its
        previous one, in the same transaction."""
        if completion.error is not None:
            self.errors[request.key] = completion.error
        now = time.perf_counter()
        seconds, self._last_record = now - self._last_record, now
        self.connection.execute("BEGIN")
        self.put(request.key, {"messages": request.messages, "parameters": request.parameters}, completion)
        if self.job is not None and completion.error is None:
            self.connection.execute(
                "INSERT OR REPLACE INTO unfinished VALUES (?, ?, ?)", (self.job, request.key, seconds)
            )
        self.connection.execute("COMMIT")

    def earlier_seconds(self) -> float:
        """Seconds this job's earlier, unfinished attempts spent on what they generated."""
        return sum(self.earlier.values())

    def finish_job(self) -> None:
        """The job's outputs are written: what it generated is no longer unfinished work."""
        self.connection.execute("DELETE FROM unfinished WHERE job = ?", (self.job,))

    def close(self) -> None:
        self.connection.close()

    def records(self) -> Iterator[dict]:
        """Every completion, then every noted failure, each in key order: the cache as portable
        records (PORTABLE_FIELDS; a failure has its error and no text)."""
        for row in self.connection.execute(
            f"SELECT {', '.join(COMPLETION_FIELDS)} FROM completions ORDER BY key"
        ):
            yield dict(zip(COMPLETION_FIELDS, row, strict=True)) | {"error": None}
        for key, request, error in self.connection.execute(
            "SELECT key, request, error FROM failures ORDER BY key"
        ):
            yield dict.fromkeys(COMPLETION_FIELDS) | {"key": key, "request": request, "error": error}


COMPLETION_FIELDS = (
    "key",
    "request",
    "text",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "model_id",
    "system_fingerprint",
)
PORTABLE_FIELDS = (*COMPLETION_FIELDS, "error")


def restored_cache(path: str | Path, records: Iterable[dict], source: str) -> None:
    """A cache at `path` (replacing any) that holds exactly `records` (CompletionCache.records) and
    answers only from them: the replay of the audit bundle `source`."""
    path = Path(path)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    cache = CompletionCache(path)
    cache.connection.execute("BEGIN")
    for record in records:
        if record["error"] is None:
            cache.connection.execute(
                f"INSERT INTO completions ({', '.join(COMPLETION_FIELDS)}, stored_at) "
                f"VALUES ({', '.join('?' * len(COMPLETION_FIELDS))}, 0)",
                [record[field] for field in COMPLETION_FIELDS],
            )
        else:
            failure = (record["key"], record["request"], record["error"])
            cache.connection.execute("INSERT INTO failures VALUES (?, ?, ?, 0)", failure)
    cache.connection.execute("INSERT INTO replay VALUES (?)", (source,))
    cache.connection.execute("COMMIT")
    cache.close()


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """Caches written before completions kept what answered them gain the columns (empty)."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(completions)")}
    for column in ("model_id", "system_fingerprint"):
        if column not in present:
            connection.execute(f"ALTER TABLE completions ADD COLUMN {column} TEXT")
