"""Measure how far honest completions stray from the verifier, to set VerifyConfig.

    python -m inference.calibrate --model DIR [--miner-dtype bfloat16] [--device cpu]

Honest miners run the same model as the verifier but not the same arithmetic: batches of
other sizes, other kernels, other precisions. This runs honest engines (the verifier's own
dtype, and ``--miner-dtype`` as a stand-in for other hardware) over a fixed set of prompts,
greedy and sampled, alone and in batches of 1, 4 and 16, and reports for every figure a
threshold in VerifyConfig bounds: the largest |claimed - verifier| logprob and bias statistic,
the largest greedy gap, the worst rank of sampled tokens and the nucleus slack they need, the largest
end-of-sequence probability an honest sample walked past. Each threshold should sit well
above its figure; the last line is one JSON object with figures, thresholds and margins.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict, replace

from inference.engine import Engine
from inference.judge import bias_statistic
from inference.loading import load_model
from inference.types import GenerationRequest, ModelLoadError, VerifyConfig, VerifyItem
from inference.verify import Verifier

PROMPTS = (
    "the river",
    "Tell me about the sea.",
    "cold morning and the road turns near the old house",
    "Write one sentence about a bird.",
    "a",
    "What is the capital of France?",
    "the wind sings under the bright moon while the small bird sleeps",
    "Explain why the sky is blue.",
)
BATCH_SIZES = (1, 4, 16)
SAMPLING = ((0.7, 0.9), (1.0, 1.0), (1.0, 0.8))  # (temperature, top_p)
MAX_TOKENS = 48
# The search for the nucleus slack honest runs need: up to this many nats, to this precision.
NUCLEUS_SEARCH_MAX = 4.0
NUCLEUS_RESOLUTION = 0.02


def _requests(max_tokens: int) -> list[GenerationRequest]:
    requests = []
    for i, prompt in enumerate(PROMPTS):
        chat = {"messages": [{"role": "user", "content": prompt}]}
        fields = chat if i % 2 else {"prompt": prompt}
        requests.append(GenerationRequest(max_tokens=max_tokens, **fields))
        for j, (temperature, top_p) in enumerate(SAMPLING):
            requests.append(
                GenerationRequest(
                    max_tokens=max_tokens,
                    temperature=temperature,
                    top_p=top_p,
                    seed=1000 * i + j,
                    **fields,
                )
            )
    return requests


async def _generate(engine: Engine, requests: list[GenerationRequest]) -> list:
    """Every request in batches of each size in BATCH_SIZES."""
    out = []
    for size in BATCH_SIZES:
        for start in range(0, len(requests), size):
            chunk = requests[start : start + size]
            completions = await asyncio.gather(*(engine.generate(r) for r in chunk))
            out.extend(zip(chunk, completions, strict=True))
    return out


def measure(verifier: Verifier, pairs: list) -> dict[str, float]:
    """The honest figures that VerifyConfig's thresholds must stay above."""
    items = [VerifyItem.of(r, c) for r, c in pairs]
    figures = dict.fromkeys(("max_abs_diff", "max_bias", "max_greedy_gap", "max_sampled_rank"), 0.0)
    figures["max_skipped_eos_prob"] = 0.0
    figures["needed_nucleus_slack"] = needed_nucleus_slack(verifier, items)
    eos = verifier.eos_token_ids
    for item, (_, ev) in zip(items, verifier.evidence(items), strict=True):
        diffs = [c - v for c, v in zip(item.logprobs, ev.logprobs, strict=True)]
        figures["max_abs_diff"] = max(figures["max_abs_diff"], *map(abs, diffs))
        figures["max_bias"] = max(figures["max_bias"], bias_statistic(diffs))
        request = item.request
        if request.greedy:
            gaps = [b - v for b, v in zip(ev.best_logprobs, ev.logprobs, strict=True)]
            figures["max_greedy_gap"] = max(figures["max_greedy_gap"], *gaps)
            continue
        figures["max_sampled_rank"] = max(figures["max_sampled_rank"], *ev.ranks)
        skipped = [p for t, p in zip(item.token_ids, ev.eos_probs, strict=True) if t not in eos]
        figures["max_skipped_eos_prob"] = max(figures["max_skipped_eos_prob"], *skipped, 0.0)
    return figures


def needed_nucleus_slack(verifier: Verifier, items: list[VerifyItem]) -> float:
    """The smallest nucleus_slack (to NUCLEUS_RESOLUTION) that passes every honest token."""
    nucleus_items = [i for i in items if not i.request.greedy and i.request.top_p < 1]

    def passes(slack: float) -> bool:
        config = replace(verifier.config, nucleus_slack=slack)
        probe = Verifier(
            verifier.model,
            verifier.tokenizer,
            config,
            context_length=verifier.limits.context_length,
            eos_token_ids=verifier.eos_token_ids,
        )
        return all(
            m < item.request.top_p
            for item, (_, ev) in zip(nucleus_items, probe.evidence(nucleus_items), strict=True)
            for m in ev.nucleus_mass
        )

    if not nucleus_items or passes(0.0):
        return 0.0
    low, high = 0.0, NUCLEUS_SEARCH_MAX
    if not passes(high):
        return float("inf")
    while high - low > NUCLEUS_RESOLUTION:
        middle = (low + high) / 2
        low, high = (low, middle) if passes(middle) else (middle, high)
    return high


def margins(figures: dict[str, float], config: VerifyConfig) -> dict[str, float]:
    """Threshold divided by the honest figure (bigger is safer); for the end-of-sequence
    rule, the probability left before an honest run would fail."""
    ratio = lambda threshold, figure: threshold / figure if figure > 0 else float("inf")  # noqa: E731
    return {
        "logprob_tolerance": ratio(config.logprob_tolerance, figures["max_abs_diff"]),
        "bias_tolerance": ratio(config.bias_tolerance, figures["max_bias"]),
        "greedy_max_gap": ratio(config.greedy_max_gap, figures["max_greedy_gap"]),
        "max_rank": ratio(config.max_rank, figures["max_sampled_rank"]),
        "nucleus_slack": ratio(config.nucleus_slack, figures["needed_nucleus_slack"]),
        "eos_confidence_left": config.eos_confidence - figures["max_skipped_eos_prob"],
    }


async def calibrate(model: str, miner_dtypes: list[str | None], device: str | None) -> dict:
    verifier_model = load_model(model, device=device)
    verifier = Verifier.from_loaded(verifier_model)
    requests = _requests(MAX_TOKENS)
    report: dict = {"model": model, "config": asdict(verifier.config), "runs": {}}
    for dtype in miner_dtypes:
        loaded = verifier_model if dtype is None else load_model(model, device=device, dtype=dtype)
        async with Engine(loaded) as engine:
            pairs = await _generate(engine, requests)
        figures = await asyncio.to_thread(measure, verifier, pairs)
        name = dtype or str(verifier_model.dtype).removeprefix("torch.")
        report["runs"][name] = {
            "completions": len(pairs),
            "figures": figures,
            "margins": margins(figures, verifier.config),
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference.calibrate", description=__doc__)
    parser.add_argument("--model", required=True, help="model directory or hub name")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: best present)")
    parser.add_argument(
        "--miner-dtype",
        action="append",
        default=None,
        help="dtype of a simulated miner besides the verifier's own (repeatable)",
    )
    args = parser.parse_args(argv)
    dtypes = [None, *(args.miner_dtype or ["bfloat16"])]
    try:
        report = asyncio.run(calibrate(args.model, dtypes, args.device))
    except ModelLoadError as exc:
        parser.error(str(exc))
    for name, run in report["runs"].items():
        print(f"miner {name}: " + ", ".join(f"{k}={v:.3g}" for k, v in run["figures"].items()))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
