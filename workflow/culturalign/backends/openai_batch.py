"""The OpenAI Batch API: half the price, answers within 24 hours.

Submission, polling and collection are separate steps. Everything needed to resume is written to
a state file the moment it is known (the input file's id before the batch is created, the
batch's id right after), and every batch carries the digest of its request keys in its metadata.
A killed job or a later workflow run therefore picks up the batches already paid for instead of
submitting them again, even if it died between creating a batch and writing its id down.

A batch that expires, is cancelled or fails some of its lines has its answered lines collected,
and only the requests still without an answer are submitted again, up to `max_resubmits` times.
Requests above the per-file limits (`batch_max_requests`, `batch_max_bytes`) are split over
several batches.
"""

import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from culturalign.backends.base import Completion, GenerationRequest
from culturalign.backends.openai_api import BackendError, OpenAISettings, api_key, refusal

FINISHED = {"completed", "expired", "cancelled", "failed"}
log = logging.getLogger("culturalign")


class OpenAIBatchBackend:
    """The OpenAI backend of a model with `batch: true` (made by OpenAIBackend.create)."""

    def __init__(self, settings: OpenAISettings, state_path: str | Path):
        self.settings = settings
        self.state_path = Path(state_path)
        self.state = (
            json.loads(self.state_path.read_text())
            if self.state_path.exists()
            else {"model": self.settings.model, "base_url": self.settings.base_url, "batches": []}
        )
        self._client = None

    @property
    def client(self):
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                api_key=api_key(self.settings.slug, self.settings.key_variable, self.settings.base_url),
                base_url=self.settings.base_url,
                max_retries=5,
            )
        return self._client

    # -- state -------------------------------------------------------------------------------

    def _save(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.state_path.with_suffix(".partial")
        partial.write_text(json.dumps(self.state, indent=1))
        os.replace(partial, self.state_path)

    def pending_keys(self) -> set[str]:
        return {key for batch in self.state["batches"] if not batch["collected"] for key in batch["keys"]}

    def attempts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for batch in self.state["batches"]:
            for key in batch["keys"]:
                counts[key] = counts.get(key, 0) + 1
        return counts

    # -- step 1: submit ----------------------------------------------------------------------

    def submit(self, requests: Sequence[GenerationRequest]) -> int:
        """Submit the requests that are in no unfinished batch and have attempts left; returns how
        many were submitted."""
        pending, attempts = self.pending_keys(), self.attempts()
        chosen = [
            request
            for request in requests
            if request.key not in pending and attempts.get(request.key, 0) <= self.settings.max_resubmits
        ]
        self.resume_unsent()
        for chunk in self._chunks(chosen):
            self._submit_chunk(chunk)
        return len(chosen)

    def _chunks(self, requests: Sequence[GenerationRequest]) -> list[list[tuple[str, bytes]]]:
        chunks, current, size = [], [], 0
        for request in requests:
            line = (json.dumps(self._batch_line(request), ensure_ascii=False) + "\n").encode()
            if current and (
                len(current) == self.settings.batch_max_requests
                or size + len(line) > self.settings.batch_max_bytes
            ):
                chunks.append(current)
                current, size = [], 0
            current.append((request.key, line))
            size += len(line)
        return [*chunks, current] if current else chunks

    def _batch_line(self, request: GenerationRequest) -> dict:
        return {
            "custom_id": request.key,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": self.settings.model, "messages": list(request.messages), **request.parameters},
        }

    def _submit_chunk(self, chunk: list[tuple[str, bytes]]) -> None:
        keys = [key for key, _ in chunk]
        digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]
        upload = self.client.files.create(
            file=(f"culturalign-{digest}.jsonl", io.BytesIO(b"".join(line for _, line in chunk))),
            purpose="batch",
        )
        entry = {
            "digest": digest,
            "keys": keys,
            "input_file_id": upload.id,
            "batch_id": None,
            "status": "unsent",
            "collected": False,
            "submitted_at": time.time(),
        }
        self.state["batches"].append(entry)
        self._save()
        self._create_batch(entry)

    def _create_batch(self, entry: dict) -> None:
        batch = self.client.batches.create(
            input_file_id=entry["input_file_id"],
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"culturalign": entry["digest"]},
        )
        entry |= {"batch_id": batch.id, "status": batch.status}
        self._save()
        log.info("%s: submitted batch %s with %d requests", self.settings.slug, batch.id, len(entry["keys"]))

    def resume_unsent(self) -> None:
        """Entries whose batch may or may not have been created before the last job died: find
        the batch by its metadata, else create it now."""
        for entry in self.state["batches"]:
            if entry["batch_id"] is not None:
                continue
            found = next(
                (
                    batch
                    for batch in self.client.batches.list(limit=100)
                    if (batch.metadata or {}).get("culturalign") == entry["digest"]
                    and batch.input_file_id == entry["input_file_id"]
                ),
                None,
            )
            if found is None:
                self._create_batch(entry)
            else:
                entry |= {"batch_id": found.id, "status": found.status}
                self._save()
                log.info(
                    "%s: found batch %s submitted before the last job stopped", self.settings.slug, found.id
                )

    # -- step 2: poll ------------------------------------------------------------------------

    def poll(self) -> bool:
        """Refresh the status of unfinished batches; True when none is still running."""
        running = False
        for entry in self.state["batches"]:
            if entry["collected"] or entry["status"] in FINISHED:
                continue
            batch = self.client.batches.retrieve(entry["batch_id"])
            entry |= {
                "status": batch.status,
                "output_file_id": batch.output_file_id,
                "error_file_id": batch.error_file_id,
            }
            running |= batch.status not in FINISHED
        self._save()
        return not running

    def wait(self) -> None:
        started = time.monotonic()
        while not self.poll():
            waited = time.monotonic() - started
            if waited > (self.settings.max_wait_hours * 3600):
                raise BackendError(
                    f"models.{self.settings.slug}: batches still running after {waited / 3600:.1f} h; "
                    f"run the workflow again later to collect them (state in {self.state_path})"
                )
            statuses = [e["status"] for e in self.state["batches"] if not e["collected"]]
            log.info(
                "%s: waiting for %d batches (%s)", self.settings.slug, len(statuses), ", ".join(statuses)
            )
            time.sleep(self.settings.poll_seconds)

    # -- step 3: collect ---------------------------------------------------------------------

    def collect(self, record: Callable[[str, Completion], None]) -> dict[str, str]:
        """Read the answers of finished batches, passing each successful one to `record` (by
        request key); returns the error of each request that failed."""
        failures = {}
        for entry in self.state["batches"]:
            if entry["collected"] or entry["status"] not in FINISHED:
                continue
            answered = set()
            for file_id in (entry.get("output_file_id"), entry.get("error_file_id")):
                if file_id is None:
                    continue
                for line in self.client.files.content(file_id).text.splitlines():
                    key, completion = self._parse_line(line)
                    if completion.error is None:
                        record(key, completion)
                        answered.add(key)
                    else:
                        failures[key] = completion.error
            for key in set(entry["keys"]) - answered:
                failures.setdefault(key, f"batch {entry['batch_id']} {entry['status']} without an answer")
            entry["collected"] = True
            self._save()
            log.info(
                "%s: collected batch %s (%s): %d of %d answered",
                self.settings.slug,
                entry["batch_id"],
                entry["status"],
                len(answered),
                len(entry["keys"]),
            )
        return failures

    @staticmethod
    def _parse_line(line: str) -> tuple[str, Completion]:
        result = json.loads(line)
        response = result.get("response") or {}
        if result.get("error") or response.get("status_code") != 200:
            reason = result.get("error") or response.get("body", {}).get("error") or {}
            return result["custom_id"], Completion(
                None, None, error=f"HTTP {response.get('status_code')}: {reason.get('message', reason)}"
            )
        try:
            body = response["body"]
            choice = body["choices"][0]
            usage = body.get("usage") or {}
            return result["custom_id"], Completion(
                text=choice["message"]["content"],
                finish_reason=choice["finish_reason"],
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
                model_id=body.get("model"),
                system_fingerprint=body.get("system_fingerprint"),
            )
        except (KeyError, IndexError, TypeError) as failure:
            return result["custom_id"], Completion(None, None, error=f"malformed batch line: {failure!r}")

    # -- all three ---------------------------------------------------------------------------

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        record: Callable[[GenerationRequest, Completion], None] | None = None,
    ) -> list[Completion]:
        """Submit what is not yet submitted, wait, collect, resubmit what is still missing, until
        every request is answered or out of attempts."""
        import openai

        try:
            return self._generate(requests, record)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as failure:
            raise refusal(self.settings, failure) from None

    def _generate(self, requests, record) -> list[Completion]:
        by_key = {request.key: request for request in requests}
        answers: dict[str, Completion] = {}
        failures: dict[str, str] = {}

        def keep(key: str, completion: Completion) -> None:
            if key in by_key and key not in answers:
                answers[key] = completion
                if record is not None:
                    record(by_key[key], completion)

        while True:
            self.submit([request for request in requests if request.key not in answers])
            if not self.pending_keys():
                break
            self.wait()
            failures |= self.collect(keep)
        completions = [
            answers.get(request.key)
            or Completion(None, None, error=failures.get(request.key, "never answered"))
            for request in requests
        ]
        failed = sum(completion.error is not None for completion in completions)
        if requests and failed / len(requests) > self.settings.max_failure_fraction:
            raise BackendError(
                f"models.{self.settings.slug}: {failed} of {len(requests)} batch requests failed after "
                f"{self.settings.max_resubmits} resubmissions, more than max_failure_fraction "
                f"{self.settings.max_failure_fraction}"
            )
        return completions
