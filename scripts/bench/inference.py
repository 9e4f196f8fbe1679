"""Benchmark of inference/: engine throughput against plain `generate`, verification cost.

    python scripts/bench/inference.py [--quick] [--model PATH] [--device cuda] [--dtype bfloat16]

Without --model it builds the tiny local model into a temporary directory (no download).

1. Throughput: C requests (C = 1, 4, 16; prompts of mixed lengths, a fixed number of new
   tokens each) sent to the Engine concurrently, against the same requests run one after
   another through the model's own `generate` (greedy, same prompt ids, same lengths), in
   the same run. Aggregate new tokens per second, median of the repeats, and their ratio.
   Target: at least 5x at 16 concurrent requests.
2. Verification cost: the time to verify sampled completions (temperature 0.8, top_p 0.9,
   each with its seed: one forward pass, and the sampler re-derived at every position) as a
   fraction of the time the engine took to generate them, at 128 and 256 new tokens, for one
   completion (target: at most 5%) and for 16 generated concurrently and verified in one go
   (target: at most 25%). On a CPU the batch fraction is the harder one, because 16 rows
   share each decode step's Python overhead while a verification pass costs arithmetic.
3. The sampler's cost per token (inference.sampler.choose on one row of logits) at the tiny
   model's vocabulary and at 152,064 tokens (Qwen2.5-7B's; random logits of that shape time
   the same as a model's), with top_p 1 and 0.9, against the sampler it replaced (a uniform
   draw from a per-request generator and an inverse-CDF search, kept below as the baseline).
4. Engine throughput with the subnet's sampler against the same engine with the replaced
   sampler, 16 concurrent sampled requests, turns alternating. Target: at least 0.95x.

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

from inference import scheduler  # noqa: E402
from inference.engine import Engine, EngineConfig  # noqa: E402
from inference.loading import load_model  # noqa: E402
from inference.sampler import choose  # noqa: E402
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
VERIFY_BATCH_TARGET = 0.25
SAMPLER_SPEED_TARGET = 0.95
# The sampled requests of sections 2 and 4.
TEMPERATURE, TOP_P = 0.8, 0.9
# A real model's vocabulary for the sampler's cost (Qwen2.5-7B's lm_head width).
LARGE_VOCAB = 152_064
SAMPLER_CALLS = 200


def _requests(count: int, max_tokens: int, *, sampled: bool = False) -> list[GenerationRequest]:
    # ignore_eos fixes every completion's length, so both sides produce the same tokens.
    sampling = {"temperature": TEMPERATURE, "top_p": TOP_P} if sampled else {}
    return [
        GenerationRequest(
            prompt=PROMPTS[i % len(PROMPTS)],
            max_tokens=max_tokens,
            ignore_eos=True,
            seed=i,
            **sampling,
        )
        for i in range(count)
    ]


def replaced_sample_rows(
    logits: torch.Tensor, temperature: list[float], top_p: list[float], uniforms: list[float]
) -> list[int]:
    """The sampler before the subnet's: inverse-CDF search of one uniform per row (baseline)."""
    device = logits.device
    probs = torch.softmax(logits.float() / torch.tensor(temperature, device=device)[:, None], -1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    kept = sorted_probs * (mass_before < torch.tensor(top_p, device=device)[:, None])
    cdf = kept.cumsum(dim=-1)
    targets = torch.tensor(uniforms, device=device, dtype=cdf.dtype)[:, None] * cdf[:, -1:]
    picks = torch.searchsorted(cdf, targets, right=True).clamp(max=cdf.shape[-1] - 1)
    return order.gather(-1, picks).squeeze(-1).tolist()


class ReplacedSampler:
    """``choose``'s signature over the replaced sampler, with a generator per seed as the
    engine kept one per request."""

    def __init__(self) -> None:
        self.generators: dict[int, torch.Generator] = {}

    def __call__(self, logits, temperatures, top_ps, seeds, positions) -> list[int]:
        picks = logits.float().argmax(dim=-1).tolist()
        rows = [r for r, t in enumerate(temperatures) if t > 0]
        if rows:
            uniforms = [float(torch.rand((), generator=self._generator(seeds[r]))) for r in rows]
            drawn = replaced_sample_rows(
                logits[rows], [temperatures[r] for r in rows], [top_ps[r] for r in rows], uniforms
            )
            for r, token in zip(rows, drawn, strict=True):
                picks[r] = token
        return picks

    def _generator(self, seed: int) -> torch.Generator:
        if seed not in self.generators:
            self.generators[seed] = torch.Generator().manual_seed(seed)
        return self.generators[seed]


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
            requests = _requests(count, length, sampled=True)
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


def _median_call_ms(call, calls: int) -> float:
    times = []
    for i in range(calls):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def sampler_cost(vocab_sizes: list[int], device: torch.device, calls: int) -> dict:
    """Milliseconds per token of the subnet's sampler and of the replaced one."""
    replaced = ReplacedSampler()
    results = {}
    for vocab in vocab_sizes:
        logits = torch.randn(1, vocab, generator=torch.Generator().manual_seed(vocab)).to(device)
        for top_p in (1.0, TOP_P):
            ours = _median_call_ms(
                lambda i, logits=logits, top_p=top_p: choose(
                    logits, [TEMPERATURE], [top_p], [i], [i]
                ),
                calls,
            )
            theirs = _median_call_ms(
                lambda i, logits=logits, top_p=top_p: replaced(
                    logits, [TEMPERATURE], [top_p], [i], [i]
                ),
                calls,
            )
            key = f"vocab{vocab}_top_p{top_p:g}"
            results[key] = {
                "subnet_sampler_ms": round(ours, 4),
                "replaced_sampler_ms": round(theirs, 4),
                "ratio": round(ours / theirs, 2),
            }
            print(f"sampler {key}: {results[key]}", flush=True)
    return results


async def sampler_throughput(engine: Engine, max_tokens: int, repeats: int) -> dict:
    """Engine tokens/s on sampled requests, the subnet's sampler against the replaced one,
    turns alternating so both see the same machine load."""
    requests = _requests(max(CONCURRENCY), max_tokens, sampled=True)
    tokens = len(requests) * max_tokens
    ours_s, theirs_s = [], []
    await _engine_time(engine, requests)  # warm-up
    for _ in range(repeats):
        ours_s.append(await _engine_time(engine, requests))
        scheduler.choose = ReplacedSampler()
        try:
            theirs_s.append(await _engine_time(engine, requests))
        finally:
            scheduler.choose = choose
    ratios = [t / o for o, t in zip(ours_s, theirs_s, strict=True)]
    result = {
        "subnet_sampler_tokens_per_s": round(tokens / statistics.median(ours_s), 1),
        "replaced_sampler_tokens_per_s": round(tokens / statistics.median(theirs_s), 1),
        "ratio": round(statistics.median(ratios), 3),
    }
    print(f"engine with the subnet's sampler: {result}", flush=True)
    return result


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
            sampled = await sampler_throughput(engine, max_tokens, repeats)
        vocabs = [verifier.vocab_size, LARGE_VOCAB]
        per_token = sampler_cost(vocabs, loaded.device, SAMPLER_CALLS // (4 if args.quick else 1))
    worst_fraction = max(v["fraction"] for k, v in cost.items() if "batch" not in k)
    worst_batch = max(v["fraction"] for k, v in cost.items() if "batch" in k)
    met = {
        "ratio_at_16": speed["16"]["ratio"] >= THROUGHPUT_TARGET,
        "verify_fraction": worst_fraction <= VERIFY_TARGET,
        "verify_batch_fraction": worst_batch <= VERIFY_BATCH_TARGET,
        "sampler_throughput_ratio": sampled["ratio"] >= SAMPLER_SPEED_TARGET,
    }
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
        "sampler_per_token": per_token,
        "ratio_at_16": speed["16"]["ratio"],
        "worst_verify_fraction": worst_fraction,
        "worst_verify_batch_fraction": worst_batch,
        "sampler_throughput_ratio": sampled["ratio"],
        "targets": {
            "ratio_at_16": THROUGHPUT_TARGET,
            "verify_fraction": VERIFY_TARGET,
            "verify_batch_fraction": VERIFY_BATCH_TARGET,
            "sampler_throughput_ratio": SAMPLER_SPEED_TARGET,
        },
        "targets_met": met,
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
