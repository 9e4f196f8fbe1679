"""Benchmark of inference/: engine throughput against plain `generate`, verification cost.

    python scripts/bench/inference.py [--quick] [--model PATH] [--device cuda] [--dtype bfloat16]

Without --model it builds the tiny local model into a temporary directory (no download).

1. Throughput: C requests (C = 1, 4, 16; prompts of mixed lengths, a fixed number of new
   tokens each) sent to the Engine concurrently, against the same requests run one after
   another through the model's own `generate` (greedy, same prompt ids, same lengths), in
   the same run. Aggregate new tokens per second, median of the repeats, and their ratio.
   Target: at least 5x at 16 concurrent requests.
2. Verification cost: the time to verify a completion (one forward pass) as a fraction of
   the time the engine took to generate it, alone, at 128 and 256 new tokens. Target: under
   5%. Also reported, without a target: 16 completions verified in one pass against
   generating them concurrently. On a CPU that fraction is far higher, because a batched
   decode step costs Python overhead while a verification pass costs arithmetic, and 16
   rows share each decode step's overhead; on a GPU both are cheap next to a decode step.

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a file from anywhere
    sys.path.insert(0, str(ROOT))

from inference.engine import Engine, EngineConfig  # noqa: E402
from inference.loading import load_model  # noqa: E402
from inference.tiny import build_tiny_model  # noqa: E402
from inference.types import GenerationRequest, VerifyItem  # noqa: E402
from inference.verify import Verifier  # noqa: E402

PROMPTS = (
    "the river",
    "cold morning sea walks over the hill and the road turns near the old house",
    "a",
    "the wind sings under the bright moon while the small bird sleeps",
    "Tell me a short story about a lighthouse keeper.",
    "green field and",
    "What is the capital of France?",
    "over the water the cloud rests and the star shines",
)
CONCURRENCY = (1, 4, 16)
VERIFY_LENGTHS = (128, 256)
VERIFY_BATCH = 16
THROUGHPUT_TARGET = 5.0
VERIFY_TARGET = 0.05


def _requests(count: int, max_tokens: int) -> list[GenerationRequest]:
    # ignore_eos fixes every completion's length, so both sides produce the same tokens.
    return [
        GenerationRequest(prompt=PROMPTS[i % len(PROMPTS)], max_tokens=max_tokens, ignore_eos=True)
        for i in range(count)
    ]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


async def _engine_time(engine: Engine, requests: list[GenerationRequest]) -> float:
    start = time.perf_counter()
    completions = await asyncio.gather(*(engine.generate(r) for r in requests))
    elapsed = time.perf_counter() - start
    assert all(len(c.token_ids) == r.max_tokens for c, r in zip(completions, requests, strict=True))
    return elapsed


def _sequential_generate_time(loaded, engine: Engine, requests: list[GenerationRequest]) -> float:
    """The same requests one after another through the model's own generate."""
    model, device = loaded.model, loaded.device
    pad = loaded.tokenizer.pad_token_id
    prompts = [engine.prepare(r) for r in requests]
    start = time.perf_counter()
    with torch.inference_mode():
        for request, prompt in zip(requests, prompts, strict=True):
            ids = torch.tensor([prompt], device=device)
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=request.max_tokens,
                min_new_tokens=request.max_tokens,
                do_sample=False,
                pad_token_id=pad,
            )
            assert out.shape[1] - ids.shape[1] == request.max_tokens
    _sync(device)
    return time.perf_counter() - start


async def throughput(loaded, engine: Engine, max_tokens: int, repeats: int) -> dict:
    """Engine and sequential generate take turns, so both see the same machine load; the
    ratio is the median of the per-turn ratios."""
    results = {}
    for concurrency in CONCURRENCY:
        requests = _requests(concurrency, max_tokens)
        tokens = concurrency * max_tokens
        await _engine_time(engine, requests)  # warm-up
        _sequential_generate_time(loaded, engine, requests[:1])
        engine_times, generate_times = [], []
        for _ in range(repeats):
            engine_times.append(await _engine_time(engine, requests))
            generate_times.append(_sequential_generate_time(loaded, engine, requests))
        ratios = [g / e for e, g in zip(engine_times, generate_times, strict=True)]
        results[str(concurrency)] = {
            "engine_tokens_per_s": round(tokens / statistics.median(engine_times), 1),
            "sequential_generate_tokens_per_s": round(
                tokens / statistics.median(generate_times), 1
            ),
            "ratio": round(statistics.median(ratios), 2),
        }
        print(f"{concurrency:>3} concurrent: {results[str(concurrency)]}", flush=True)
    return results


def _verify_time(verifier: Verifier, items: list[VerifyItem]) -> float:
    start = time.perf_counter()
    verdicts = verifier.verify_many(items)
    _sync(verifier.device)
    elapsed = time.perf_counter() - start
    assert all(v.ok for v in verdicts), [v.reasons for v in verdicts if not v.ok][:1]
    return elapsed


async def verification_cost(engine: Engine, verifier: Verifier, repeats: int) -> dict:
    """Per repeat: generate, then verify what was generated; medians, and the median of the
    per-repeat fractions (each taken under the same machine load)."""
    results = {}
    for length in VERIFY_LENGTHS:
        for count in (1, VERIFY_BATCH):
            requests = _requests(count, length)
            generate_times, verify_times, fractions = [], [], []
            for _ in range(repeats):
                start = time.perf_counter()
                completions = await asyncio.gather(*(engine.generate(r) for r in requests))
                generated = time.perf_counter() - start
                items = [VerifyItem.of(r, c) for r, c in zip(requests, completions, strict=True)]
                _verify_time(verifier, items)  # warm-up at this shape
                verified = _verify_time(verifier, items)
                generate_times.append(generated)
                verify_times.append(verified)
                fractions.append(verified / generated)
            key = f"{length}_tokens" + ("" if count == 1 else f"_batch{count}")
            results[key] = {
                "generate_s": round(statistics.median(generate_times), 4),
                "verify_s": round(statistics.median(verify_times), 5),
                "fraction": round(statistics.median(fractions), 4),
            }
            print(f"verify {key}: {results[key]}", flush=True)
    return results


async def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        model_path = args.model or str(build_tiny_model(Path(scratch) / "tiny", seed=0))
        loaded = load_model(model_path, device=args.device, dtype=args.dtype)
        verifier = Verifier.from_loaded(loaded)
        max_tokens = 32 if args.quick else 64
        repeats = 1 if args.quick else 5
        async with Engine(loaded, EngineConfig(max_batch_size=max(CONCURRENCY))) as engine:
            speed = await throughput(loaded, engine, max_tokens, repeats)
            cost = await verification_cost(engine, verifier, repeats)
    worst_fraction = max(v["fraction"] for k, v in cost.items() if "batch" not in k)
    return {
        "bench": "inference",
        "model": args.model or "tiny (built locally)",
        "device": str(loaded.device),
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "torch_threads": torch.get_num_threads(),
        "new_tokens_per_request": max_tokens,
        "repeats": repeats,
        "throughput": speed,
        "verification": cost,
        "ratio_at_16": speed["16"]["ratio"],
        "worst_verify_fraction": worst_fraction,
        "targets": {"ratio_at_16": THROUGHPUT_TARGET, "verify_fraction": VERIFY_TARGET},
        "targets_met": speed["16"]["ratio"] >= THROUGHPUT_TARGET and worst_fraction < VERIFY_TARGET,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens, one repeat")
    parser.add_argument("--model", default=None, help="model directory or hub name")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: best present)")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16 or float16")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: on a shared CPU, more threads spin against other "
        "processes and make every figure noisy)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
