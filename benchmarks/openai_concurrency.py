"""Throughput of the OpenAI-compatible backend against a local server with fixed latency.

    python benchmarks/openai_concurrency.py [--requests 2000] [--concurrency 64] [--latency 0.25]

The server (tests/openai_server.py, a real HTTP server on 127.0.0.1) runs in its own process, as
a remote API would, and answers each request after `--latency` seconds; the ideal wall time is
requests / concurrency x latency. The clock runs from the backend's first request (client start
included) to its last answer; the SDK's one-off import is timed apart. Writes
benchmarks/results/openai_concurrency.json. Target (issue 5): within 1.25 x the ideal.
"""

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
API_KEY = "sk-benchmark"


@contextlib.contextmanager
def serving(latency: float):
    """The test server in a process of its own; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tests" / "openai_server.py"),
            f"--port={port}",
            f"--latency={latency}",
            f"--api-key={API_KEY}",
        ]
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    from culturalign.backends import GenerationRequest, create_backend

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument(
        "--output", type=Path, default=REPO / "benchmarks" / "results" / "openai_concurrency.json"
    )
    arguments = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = API_KEY
    requests = [
        GenerationRequest(
            f"0-{i}", "f118", "en", 0, ({"role": "user", "content": f"prompt {i}"},), {"max_tokens": 50}
        )
        for i in range(arguments.requests)
    ]
    # The SDK's import is a once-per-process cost, not throughput: timed on its own.
    import_started = time.perf_counter()
    import openai  # noqa: F401
    from openai.types.chat import ChatCompletion  # noqa: F401

    import_seconds = time.perf_counter() - import_started
    with serving(arguments.latency) as server:
        backend = create_backend(
            "bench",
            {
                "backend": "openai",
                "model": "gpt-test",
                "base_url": f"{server}/v1",
                "concurrency": arguments.concurrency,
            },
        )
        started = time.perf_counter()
        completions = backend.generate(requests)
        seconds = time.perf_counter() - started
        with urllib.request.urlopen(f"{server}/_test/answered") as reply:
            answered = json.load(reply)
    ideal = arguments.requests / arguments.concurrency * arguments.latency
    report = {
        "requests": arguments.requests,
        "concurrency": arguments.concurrency,
        "latency_seconds": arguments.latency,
        "seconds": round(seconds, 3),
        "sdk_import_seconds": round(import_seconds, 3),
        "ideal_seconds": ideal,
        "ratio_to_ideal": round(seconds / ideal, 3),
        "target_ratio": 1.25,
        "met": seconds / ideal <= 1.25,
        "failed": sum(completion.error is not None for completion in completions),
        "each_answered_once": set(answered.values()) == {1} and len(answered) == arguments.requests,
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
