"""Throughput of the vLLM backend's chunked generation against one `LLM.chat` call for the same
requests, on the CPU build with the tests' tiny model (tests/vllm_venv.py, tests/tiny_llm.py).

    python benchmarks/vllm_chunks.py [--requests 4096] [--repeats 3] [--chunk-size 1024]

The chunked path (culturalign.backends.vllm_offline) keeps at most `chunk_size` requests in the
engine and caches each completion as it finishes; the one-call path is what the job did before
(every request in one `LLM.chat`, nothing recorded until it returns). Both run in one engine,
alternating, over the same seeded requests; tokens per second are generated tokens over wall time.
Writes benchmarks/results/vllm_chunks.json. Target (issue 18): chunked / one call >= 0.95 at the
default chunk size.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.95


def measure(arguments) -> dict:
    """Runs inside the vLLM virtualenv."""
    sys.path.insert(0, str(REPO / "tests"))
    from tiny_llm import build_tiny_model
    from vllm_venv import ENGINE

    from culturalign.backends import create_backend
    from culturalign.backends.vllm_offline import DEFAULT_CHUNK_SIZE, completion_of, sampling_params
    from culturalign.calls import keyed_request

    chunk_size = arguments.chunk_size or DEFAULT_CHUNK_SIZE
    with tempfile.TemporaryDirectory() as folder:
        settings = {
            "backend": "vllm",
            "model": str(build_tiny_model(Path(folder))),
            # a CPU build needs this to take hundreds of seeded requests in one batch (NOTES.md)
            "engine": ENGINE | {"max_num_batched_tokens": 32768},
            "chunk_size": chunk_size,
        }
        parameters = {"temperature": 0.7, "top_p": 0.95, "max_tokens": arguments.max_tokens}
        requests = [
            keyed_request(
                settings,
                f"Question {number}: how important is family in your life?",
                parameters,
                f"benchmark/{number}",
                prompt_id=str(number),
                item="a001",
                language="en",
                seed=0,
            )
            for number in range(arguments.requests)
        ]
        backend = create_backend("tiny", settings)

        def chunked():
            return backend.generate(requests, lambda request, completion: None)

        def one_call():
            outputs = backend._llm().chat(
                [[dict(message) for message in request.messages] for request in requests],
                sampling_params=[sampling_params(request) for request in requests],
                use_tqdm=False,
            )
            return [completion_of(output) for output in outputs]

        backend._llm()  # load before timing
        timings = {"chunked": [], "one_call": []}
        texts = {}
        for _ in range(arguments.repeats):
            for name, generate in (("one_call", one_call), ("chunked", chunked)):
                started = time.perf_counter()
                completions = generate()
                seconds = time.perf_counter() - started
                tokens = sum(completion.completion_tokens or 0 for completion in completions)
                speed = tokens / seconds
                timings[name].append({"seconds": seconds, "tokens": tokens, "tokens_per_second": speed})
                texts[name] = [completion.text for completion in completions]
        backend.close()
    medians = {name: statistics.median(r["tokens_per_second"] for r in rs) for name, rs in timings.items()}
    ratio = medians["chunked"] / medians["one_call"]
    return {
        "requests": arguments.requests,
        "max_tokens": arguments.max_tokens,
        "chunk_size": chunk_size,
        "repeats": arguments.repeats,
        "runs": timings,
        "median_tokens_per_second": medians,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO,
        "same_texts": texts["chunked"] == texts["one_call"],
        "machine": f"{os.cpu_count()} CPUs, vLLM CPU build, tiny random Llama",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=4096)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=None, help="default: the backend's default")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "vllm_chunks.json")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.inside:
        arguments.output.write_text(json.dumps(measure(arguments), indent=1) + "\n")
        return
    sys.path.insert(0, str(REPO / "tests"))
    from vllm_venv import ENVIRONMENT, OFFLINE, vllm_python

    python = vllm_python(REPO)
    forwarded = [argument for argument in sys.argv[1:] if argument != "--inside"]
    subprocess.run(
        [str(python), __file__, "--inside", "--output", str(arguments.output), *forwarded],
        env=ENVIRONMENT | dict(os.environ) | OFFLINE,
        check=True,
    )
    result = json.loads(arguments.output.read_text())
    speeds = result["median_tokens_per_second"]
    print(
        f"{result['requests']} requests, chunk size {result['chunk_size']}: one call "
        f"{speeds['one_call']:.0f} tokens/s, chunked {speeds['chunked']:.0f} tokens/s, "
        f"ratio {result['ratio']:.3f} (target >= {TARGET_RATIO}); same texts: {result['same_texts']}"
    )


if __name__ == "__main__":
    main()
