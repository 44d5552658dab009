"""Throughput of the OpenAI-compatible backend against a local server with fixed latency.

    python benchmarks/openai_concurrency.py [--requests 2000] [--concurrency 64] [--latency 0.25]

The server (tests/openai_server.py, a real HTTP server on 127.0.0.1) answers each request after
`--latency` seconds; the ideal wall time is requests / concurrency x latency. Writes
benchmarks/results/openai_concurrency.json. Target (issue 5): within 1.25 x the ideal.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    from openai_server import FakeOpenAI

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
    os.environ["OPENAI_API_KEY"] = "sk-benchmark"
    requests = [
        GenerationRequest(
            f"0-{i}", "f118", "en", 0, ({"role": "user", "content": f"prompt {i}"},), {"max_tokens": 50}
        )
        for i in range(arguments.requests)
    ]
    with FakeOpenAI(api_key="sk-benchmark", latency=arguments.latency) as server:
        backend = create_backend(
            "bench",
            {
                "backend": "openai",
                "model": "gpt-test",
                "base_url": server.base_url,
                "concurrency": arguments.concurrency,
            },
        )
        started = time.perf_counter()
        completions = backend.generate(requests)
        seconds = time.perf_counter() - started
        answered_once = set(server.answered.values()) == {1} and len(server.answered) == arguments.requests
    ideal = arguments.requests / arguments.concurrency * arguments.latency
    report = {
        "requests": arguments.requests,
        "concurrency": arguments.concurrency,
        "latency_seconds": arguments.latency,
        "seconds": seconds,
        "ideal_seconds": ideal,
        "ratio_to_ideal": seconds / ideal,
        "target_ratio": 1.25,
        "met": seconds / ideal <= 1.25,
        "failed": sum(completion.error is not None for completion in completions),
        "each_answered_once": answered_once,
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
