"""Measure how far honest completions stray from the verifier, to set VerifyConfig.

    python -m inference.calibrate --model DIR [--scale N | --quick] [--device cpu]

Honest miners run the same model as the verifier but not the same arithmetic: other
precisions, kernels, batch shapes and thread counts. This runs honest engines in every
combination of ``DTYPES`` (the verifier's own float32, and bfloat16 and float16 as stand-ins
for GPUs), ``BATCH_SIZES`` and ``THREADS`` over the same tasks (the validator's own task
generator: greedy and sampled, chat and text, each with its own seed), verifies every answer
with a float32 verifier, and reports what VerifyConfig's thresholds must stay above:

- ``max_gap``: the largest distance (nats of logits) between an honest token's sampler score
  and the best score, which ``sampler_margin`` must exceed; ``max_spread``: the largest spread
  of the honest-minus-verifier logprobs over each position's 20 likeliest tokens, which bounds
  any gap the same noise could make (a gap needs a near-tie, so it is rarely realised);
- ``needed_nucleus_slack``: the least ``nucleus_slack`` that keeps every honest token inside
  its nucleus (to ``NUCLEUS_RESOLUTION``);
- ``max_abs_diff`` and ``max_bias``: the largest |claimed - verifier| logprob and bias statistic;
- ``exact_share``: the share of honest tokens that are exactly the verifier's sampler choice.

The last line is one JSON object with the figures per configuration, overall, and the margins
the current thresholds leave. tests/inference/test_verify_honest_sweep.py runs the same sweep
(``honest_sweep``) and requires 0 failures under the production thresholds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import torch

from inference.engine import Engine
from inference.judge import bias_statistic
from inference.loading import LoadedModel, load_model
from inference.types import (
    Completion,
    GenerationRequest,
    ModelLoadError,
    VerifyConfig,
    VerifyItem,
)
from inference.verify import Verifier

DTYPES = ("float32", "bfloat16", "float16")
BATCH_SIZES = (1, 4, 16)
THREADS = (1, 2)
# Honest answers per setting, by batch size: 18 settings, 2,040 answers in all (the bar is at
# least 2,000, none failing). Batches of one are the slowest to run on a CPU, so they take
# fewer answers; every setting still gets tasks of its own.
ANSWERS_PER_BATCH_SIZE = {1: 40, 4: 100, 16: 200}
DEFAULT_MAX_TOKENS = 24
# Alternatives per position whose logprob noise makes the spread figure.
SPREAD_TOP = 20
# The search for the nucleus slack honest runs need: up to this many nats, to this precision.
NUCLEUS_SEARCH_MAX = 4.0
NUCLEUS_RESOLUTION = 0.01


@dataclass(frozen=True)
class Setting:
    """One honest miner's arithmetic."""

    dtype: str
    batch_size: int
    threads: int

    @property
    def name(self) -> str:
        return f"{self.dtype}/batch{self.batch_size}/threads{self.threads}"


SETTINGS = tuple(Setting(d, b, t) for d in DTYPES for b in BATCH_SIZES for t in THREADS)


@dataclass(frozen=True)
class HonestAnswer:
    setting: Setting
    request: GenerationRequest
    completion: Completion

    @property
    def item(self) -> VerifyItem:
        return VerifyItem.of(self.request, self.completion)


def sweep_requests(count: int, max_tokens: int) -> list[GenerationRequest]:
    """``count`` requests drawn as a validator draws its tasks (neurons/tasks.py)."""
    from neurons import translate  # the validator's own path from task to request
    from neurons.checking import wire_request
    from neurons.tasks import make_tasks

    tasks = make_tasks(2024, count, max_tokens)
    return [translate.generation_request(wire_request(t, "calibration")) for t in tasks]


async def _answers(loaded: LoadedModel, setting: Setting, requests) -> list[HonestAnswer]:
    out = []
    async with Engine(loaded) as engine:
        for start in range(0, len(requests), setting.batch_size):
            chunk = requests[start : start + setting.batch_size]
            completions = await asyncio.gather(*(engine.generate(r) for r in chunk))
            out.extend(HonestAnswer(setting, r, c) for r, c in zip(chunk, completions, strict=True))
    return out


def load_settings_models(
    model: str, device: str | None = None, dtypes: Sequence[str] = DTYPES
) -> dict[str, LoadedModel]:
    return {dtype: load_model(model, device=device, dtype=dtype) for dtype in dtypes}


def honest_sweep(
    models: dict[str, LoadedModel],
    max_tokens: int = DEFAULT_MAX_TOKENS,
    settings: Sequence[Setting] = SETTINGS,
    per_batch_size: dict[int, int] = ANSWERS_PER_BATCH_SIZE,
) -> list[HonestAnswer]:
    """Honest answers from every setting (``per_batch_size`` answers each, on tasks of its
    own), from ``models``: one loaded model per dtype of the settings."""
    counts = [per_batch_size[s.batch_size] for s in settings]
    requests = sweep_requests(sum(counts), max_tokens)
    threads = torch.get_num_threads()
    out: list[HonestAnswer] = []
    try:
        start = 0
        for setting, count in zip(settings, counts, strict=True):
            torch.set_num_threads(setting.threads)
            mine = requests[start : start + count]
            start += count
            out.extend(asyncio.run(_answers(models[setting.dtype], setting, mine)))
    finally:
        torch.set_num_threads(threads)
    return out


def measure(
    verifier: Verifier, models: dict[str, LoadedModel], answers: Sequence[HonestAnswer]
) -> dict[str, float]:
    """The honest figures VerifyConfig's thresholds must stay above (module docstring)."""
    items = [a.item for a in answers]
    figures = dict.fromkeys(("max_gap", "max_abs_diff", "max_bias", "max_spread"), 0.0)
    tokens = exact = 0
    for item, (_, ev) in zip(items, verifier.evidence(items), strict=True):
        diffs = [c - v for c, v in zip(item.logprobs, ev.logprobs, strict=True)]
        figures["max_abs_diff"] = max(figures["max_abs_diff"], *map(abs, diffs))
        figures["max_bias"] = max(figures["max_bias"], bias_statistic(diffs))
        figures["max_gap"] = max(figures["max_gap"], *ev.gaps)
        tokens += len(item.token_ids)
        exact += sum(c == t for c, t in zip(ev.choice_ids, item.token_ids, strict=True))
    figures["max_spread"] = max_spread(verifier, models, answers)
    figures["needed_nucleus_slack"] = needed_nucleus_slack(verifier, items)
    figures["exact_share"] = exact / max(tokens, 1)
    figures["tokens"] = tokens
    return figures


def max_spread(
    verifier: Verifier, models: dict[str, LoadedModel], answers: Sequence[HonestAnswer]
) -> float:
    """The largest spread of (honest - verifier) logprobs over a position's likeliest tokens:
    each answer teacher-forced once more through its own setting's model."""
    worst = 0.0
    for dtype, loaded in models.items():
        items = [a.item for a in answers if a.setting.dtype == dtype]
        if not items:
            continue
        honest = Verifier.from_loaded(loaded, verifier.config)
        for mine, reference in zip(
            honest.completion_logprobs(items), verifier.completion_logprobs(items), strict=True
        ):
            delta = mine - reference
            top = delta.gather(-1, reference.topk(SPREAD_TOP, dim=-1).indices)
            worst = max(worst, float((top.max(-1).values - top.min(-1).values).max()))
    return worst


def needed_nucleus_slack(verifier: Verifier, items: list[VerifyItem]) -> float:
    """The smallest nucleus_slack (to NUCLEUS_RESOLUTION) that keeps every honest token in."""
    nucleus_items = [i for i in items if not i.request.greedy and i.request.top_p < 1]

    def passes(slack: float) -> bool:
        probe = Verifier(
            verifier.model,
            verifier.tokenizer,
            replace(verifier.config, nucleus_slack=slack),
            context_length=verifier.limits.context_length,
            eos_token_ids=verifier.eos_token_ids,
        )
        return all(all(ev.possible) for _, ev in probe.evidence(nucleus_items))

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
    """Threshold divided by the honest figure it must exceed (bigger is safer)."""
    ratio = lambda threshold, figure: threshold / figure if figure > 0 else float("inf")  # noqa: E731
    return {
        "sampler_margin/max_gap": ratio(config.sampler_margin, figures["max_gap"]),
        "sampler_margin/max_spread": ratio(config.sampler_margin, figures["max_spread"]),
        "nucleus_slack": ratio(config.nucleus_slack, figures["needed_nucleus_slack"]),
        "logprob_tolerance": ratio(config.logprob_tolerance, figures["max_abs_diff"]),
        "bias_tolerance": ratio(config.bias_tolerance, figures["max_bias"]),
    }


def calibrate(
    model: str, per_batch_size: dict[int, int], max_tokens: int, device: str | None
) -> dict:
    models = load_settings_models(model, device)
    verifier = Verifier.from_loaded(models["float32"])
    honest = honest_sweep(models, max_tokens, per_batch_size=per_batch_size)
    report: dict = {"model": model, "config": asdict(verifier.config), "settings": {}}
    for setting in SETTINGS:
        mine = [a for a in honest if a.setting == setting]
        report["settings"][setting.name] = measure(verifier, models, mine)
    overall = measure(verifier, models, honest)
    failures = sum(not v.ok for v in verifier.verify_many([a.item for a in honest]))
    report.update(
        answers=len(honest),
        failures=failures,
        figures=overall,
        margins=margins(overall, verifier.config),
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference.calibrate", description=__doc__)
    parser.add_argument("--model", required=True, help="model directory or hub name")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: best present)")
    parser.add_argument(
        "--scale", type=int, default=1, help="multiply the answers per setting (2,040 at 1)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one batch per batch size: checks the set-up in a minute, sets no threshold",
    )
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error(f"--scale must be at least 1, got {args.scale}")
    if args.quick:
        per_batch_size = {size: size for size in ANSWERS_PER_BATCH_SIZE}
    else:
        per_batch_size = {size: n * args.scale for size, n in ANSWERS_PER_BATCH_SIZE.items()}
    try:
        report = calibrate(args.model, per_batch_size, args.max_tokens, args.device)
    except ModelLoadError as exc:
        parser.error(str(exc))
    for name, figures in report["settings"].items():
        print(f"{name}: " + ", ".join(f"{k}={v:.3g}" for k, v in figures.items()))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
