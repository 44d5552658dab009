"""A real HTTP server on 127.0.0.1 that speaks the OpenAI API, for tests and benchmarks:
`/v1/chat/completions`, `/v1/files` and `/v1/batches`.

It answers each prompt with a numbered list, counts how often it answered each prompt (directly
or in a batch), checks the bearer key, and injects faults on request. A prompt containing a fault
marker meets that fault on its first two attempts: 429 with Retry-After, 500, a malformed body,
a dropped connection, a slow answer; a prompt that starts with `[400]` is refused every time
(a request the API rejects; a judge's prompt that quotes it is not);
in a batch, `[batch-500]` fails that line. Batches complete
`batch_seconds` after they are created; `expire_after` makes a batch expire after answering only
that many of its lines; `responder` writes the answers a test needs (a judge's JSON, a
translation); files and batches above `max_batch_requests`/`max_batch_bytes` are
refused, as the real API refuses them.

Run it in a thread (`with FakeOpenAI() as server`), or as its own process for benchmarks:
`python tests/openai_server.py --port 8765 --latency 0.25`; `GET /_test/answered` then returns
the counts.
"""

import argparse
import asyncio
import json
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from itertools import count

from aiohttp import web

FAULTS = ("[429]", "[500]", "[malformed]", "[drop]", "[slow]")
FAULTY_ATTEMPTS = 2


class FakeOpenAI:
    def __init__(
        self,
        api_key: str = "sk-test-secret",
        models: tuple[str, ...] = ("gpt-test",),
        latency: float = 0.0,
        *,
        port: int = 0,
        batch_seconds: float = 0.0,
        expire_after: int | None = None,
        max_batch_requests: int = 50_000,
        max_batch_bytes: int = 200_000_000,
        responder: Callable[[dict], str] | None = None,
        tokens: Callable[[str], int] = lambda text: len(text.split()),
    ):
        self.api_key = api_key
        self.models = set(models)
        self.latency = latency
        self.port = port
        self.batch_seconds = batch_seconds
        self.expire_after = expire_after
        self.max_batch_requests = max_batch_requests
        self.max_batch_bytes = max_batch_bytes
        self.responder = responder
        self.tokens = tokens  # the tokens the server counts in a text (default: its words)
        self.answered: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.ids = count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def batch_lines_submitted(self) -> int:
        return sum(batch["request_counts"]["total"] for batch in self.batches.values())

    def __enter__(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self.app(), access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._authenticate], client_max_size=2**31)
        app.add_routes(
            [
                web.post("/v1/chat/completions", self._chat),
                web.post("/v1/files", self._upload),
                web.get("/v1/files/{id}", self._file),
                web.get("/v1/files/{id}/content", self._file_content),
                web.post("/v1/batches", self._create_batch),
                web.get("/v1/batches", self._list_batches),
                web.get("/v1/batches/{id}", self._batch),
                web.post("/v1/batches/{id}/cancel", self._cancel_batch),
                web.get("/_test/answered", self._answered),
            ]
        )
        return app

    @web.middleware
    async def _authenticate(self, request: web.Request, handler):
        if request.path.startswith("/v1/") and request.headers.get("Authorization") != (
            f"Bearer {self.api_key}"
        ):
            return error(401, "Incorrect API key provided")
        return await handler(request)

    def completion(self, body: dict) -> dict:
        """The answer to one chat request, counted: from `responder` (the request body in, the
        assistant's text out) when the test gives one, else a numbered list about the prompt."""
        prompt = body["messages"][-1]["content"]
        answer = self.responder(body) if self.responder else numbered_list(prompt)
        self.answered[prompt] += 1
        return {
            "id": f"chatcmpl-{next(self.ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": f"fp_{zlib.crc32(body['model'].encode()):08x}",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": self.tokens(prompt),
                "completion_tokens": self.tokens(answer),
                "total_tokens": self.tokens(prompt) + self.tokens(answer),
            },
        }

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body.get("model") not in self.models:
            return error(404, f"The model {body.get('model')} does not exist")
        prompt = body["messages"][-1]["content"]
        self.attempts[prompt] += 1
        faulty = self.attempts[prompt] <= FAULTY_ATTEMPTS
        if prompt.startswith("[400]"):
            return error(400, "Invalid prompt")
        if faulty and "[429]" in prompt:
            return error(429, "Rate limit reached", {"Retry-After": "0.05"})
        if faulty and "[500]" in prompt:
            return error(500, "Internal server error")
        if faulty and "[malformed]" in prompt:
            return web.Response(body=b'{"id": "x", "choices": [', content_type="application/json")
        if faulty and "[drop]" in prompt:
            request.transport.close()
            return web.Response()
        if faulty and "[slow]" in prompt:
            await asyncio.sleep(1.5)
        if self.latency:
            await asyncio.sleep(self.latency)
        return web.json_response(self.completion(body))

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        content = form["file"].file.read()
        if len(content) > self.max_batch_bytes:
            return error(400, f"File is larger than {self.max_batch_bytes} bytes")
        file_id = self._store(content, form["file"].filename, form["purpose"])
        return web.json_response(self.files[file_id]["object"])

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["id"] not in self.files:
            return error(404, "No such file")
        return web.json_response(self.files[request.match_info["id"]]["object"])

    async def _file_content(self, request: web.Request) -> web.Response:
        if request.match_info["id"] not in self.files:
            return error(404, "No such file")
        return web.Response(body=self.files[request.match_info["id"]]["content"])

    async def _create_batch(self, request: web.Request) -> web.Response:
        body = await request.json()
        source = self.files.get(body["input_file_id"])
        if source is None:
            return error(404, "No such file")
        lines = source["content"].decode().splitlines()
        if len(lines) > self.max_batch_requests:
            return error(400, f"A batch holds at most {self.max_batch_requests} requests")
        batch_id = f"batch_{next(self.ids)}"
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "input_file_id": body["input_file_id"],
            "completion_window": body["completion_window"],
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(time.time()),
            "metadata": body.get("metadata"),
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "_lines": lines,
            "_due": time.monotonic() + self.batch_seconds,
        }
        return web.json_response(public(self.batches[batch_id]))

    def _advance(self, batch: dict) -> None:
        """Batches move on when looked at: validating, in progress, then finished once due."""
        if batch["status"] == "validating":
            batch["status"] = "in_progress"
        if batch["status"] != "in_progress" or time.monotonic() < batch["_due"]:
            return
        lines = [json.loads(line) for line in batch["_lines"]]
        expiring = self.expire_after is not None and self.expire_after < len(lines)
        answered, failed = [], []
        for line in lines[: self.expire_after] if expiring else lines:
            prompt = line["body"]["messages"][-1]["content"]
            self.attempts[prompt] += 1
            if "[batch-500]" in prompt and self.attempts[prompt] <= FAULTY_ATTEMPTS:
                failed.append(batch_line(line, 500, {"error": {"message": "server error"}}))
            else:
                answered.append(batch_line(line, 200, self.completion(line["body"])))
        if answered:
            batch["output_file_id"] = self._store(jsonl(answered), "batch_output.jsonl", "batch_output")
        if failed:
            batch["error_file_id"] = self._store(jsonl(failed), "batch_errors.jsonl", "batch_output")
        batch["request_counts"] |= {"completed": len(answered), "failed": len(failed)}
        batch["status"] = "expired" if expiring else "completed"

    def _store(self, content: bytes, filename: str, purpose: str) -> str:
        file_id = f"file-{next(self.ids)}"
        self.files[file_id] = {
            "object": {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": filename,
                "purpose": purpose,
                "status": "processed",
            },
            "content": content,
        }
        return file_id

    async def _batch(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return error(404, "No such batch")
        self._advance(batch)
        return web.json_response(public(batch))

    async def _list_batches(self, request: web.Request) -> web.Response:
        newest_first = sorted(self.batches.values(), key=lambda batch: batch["id"], reverse=True)
        after = request.query.get("after")
        if after:
            newest_first = newest_first[[batch["id"] for batch in newest_first].index(after) + 1 :]
        limit = int(request.query.get("limit", 20))
        page = newest_first[:limit]
        return web.json_response(
            {
                "object": "list",
                "data": [public(batch) for batch in page],
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(newest_first) > limit,
            }
        )

    async def _cancel_batch(self, request: web.Request) -> web.Response:
        batch = self.batches[request.match_info["id"]]
        batch["status"] = "cancelled"
        return web.json_response(public(batch))

    async def _answered(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self.answered))


def numbered_list(prompt: str) -> str:
    return "Summaries:\n" + "\n".join(f"{n}. Person {n} answers about: {prompt[:40]}" for n in range(1, 11))


def error(status: int, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "test"}}, status=status, headers=headers)


def jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def public(batch: dict) -> dict:
    return {name: value for name, value in batch.items() if not name.startswith("_")}


def batch_line(line: dict, status: int, body: dict) -> dict:
    return {
        "id": f"batch_req_{line['custom_id'][:12]}",
        "custom_id": line["custom_id"],
        "response": {"status_code": status, "request_id": "req", "body": body},
        "error": None,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the test OpenAI API on 127.0.0.1.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--api-key", default="sk-test-secret")
    arguments = parser.parse_args()
    server = FakeOpenAI(api_key=arguments.api_key, latency=arguments.latency, port=arguments.port)
    web.run_app(server.app(), host="127.0.0.1", port=arguments.port, access_log=None, print=None)
