"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat completions API, for tests.

It answers each prompt with a numbered list, counts how often it answered each prompt, checks
the bearer key, and injects faults on request: a prompt containing a fault marker meets that
fault on its first attempts (429 with Retry-After, 500, a malformed body, a dropped connection,
a slow answer)."""

import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("[429]", "[500]", "[malformed]", "[drop]", "[slow]")


class FakeOpenAI:
    def __init__(
        self, api_key: str = "sk-test-secret", models: tuple[str, ...] = ("gpt-test",), latency: float = 0.0
    ):
        self.api_key = api_key
        self.models = set(models)
        self.latency = latency
        self.answered: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep connections alive, as real API servers do

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, message: str, headers: dict | None = None):
                self._send(
                    status, json.dumps({"error": {"message": message, "type": "test"}}).encode(), headers
                )

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if self.path != "/v1/chat/completions":
                    return self._error(404, "unknown path")
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._error(401, "Incorrect API key provided")
                if body.get("model") not in fake.models:
                    return self._error(404, f"The model {body.get('model')} does not exist")
                prompt = body["messages"][-1]["content"]
                with fake.lock:
                    fake.attempts[prompt] += 1
                    attempt = fake.attempts[prompt]
                first_attempts = attempt <= 2
                if "[429]" in prompt and first_attempts:
                    return self._error(429, "Rate limit reached", {"Retry-After": "0.05"})
                if "[500]" in prompt and first_attempts:
                    return self._error(500, "Internal server error")
                if "[malformed]" in prompt and first_attempts:
                    return self._send(200, b'{"id": "x", "choices": [')
                if "[drop]" in prompt and first_attempts:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                if "[slow]" in prompt and first_attempts:
                    time.sleep(1.5)
                if fake.latency:
                    time.sleep(fake.latency)
                answer = "Summaries:\n" + "\n".join(
                    f"{n}. Person {n} answers about: {prompt[:40]}" for n in range(1, 11)
                )
                with fake.lock:
                    fake.answered[prompt] += 1
                reply = {
                    "id": f"chatcmpl-{attempt}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": len(prompt.split()),
                        "completion_tokens": len(answer.split()),
                        "total_tokens": 0,
                    },
                }
                return self._send(200, json.dumps(reply).encode())

        return Handler
