"""The cheats of the detection matrix: answers crafted against the validator's own path.

Each cheat takes the matrix's tasks and its honest answers and returns the claims a cheating
miner would hand in (VerifyItems). ``true_logprobs`` replaces claimed logprobs with the
verifier's own, as a cheater who pays for one honest prefill would, so that only the token
check stands between the cheat and a pass.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import random
from collections.abc import Callable, Sequence

import torch

from inference.calibrate import sweep_requests
from inference.engine import Engine
from inference.loading import LoadedModel
from inference.types import Completion, GenerationRequest, Usage, VerifyItem
from inference.verify import Verifier

EOS = 257  # the tiny tokenizer's end-of-sequence id (checked in test_tiny_model.py)
MATRIX_TASKS = 128
MATRIX_MAX_TOKENS = 40
TEMPERATURES = (0.7, 0.8, 1.0)
TOP_PS = (0.8, 0.9, 0.95, 1.0)
# The old published rules a miner could sit on: end-of-sequence anywhere it ranked this high.
OLD_MAX_RANK = 50
COLD_TEMPERATURE = 0.2
HOT_FACTOR = 1.5
WEIGHT_NOISE = 1e-2
SEED_SHIFT = 0x5EED


def matrix_requests() -> list[GenerationRequest]:
    """Sampled tasks of the validator's generator, each with its own seed."""
    rng = random.Random(10)
    return [
        dataclasses.replace(
            r,
            temperature=rng.choice(TEMPERATURES),
            top_p=rng.choice(TOP_PS),
            max_tokens=MATRIX_MAX_TOKENS,
        )
        for r in sweep_requests(MATRIX_TASKS, MATRIX_MAX_TOKENS)
    ]


def generate(loaded: LoadedModel, requests: Sequence[GenerationRequest]) -> list[Completion]:
    async def run() -> list[Completion]:
        async with Engine(loaded) as engine:
            return list(await asyncio.gather(*(engine.generate(r) for r in requests)))

    return asyncio.run(run())


def claims(requests, completions) -> list[VerifyItem]:
    return [VerifyItem.of(r, c) for r, c in zip(requests, completions, strict=True)]


def true_logprobs(verifier: Verifier, items: list[VerifyItem]) -> list[VerifyItem]:
    lps = verifier.completion_logprobs(items)
    return [
        dataclasses.replace(
            item,
            logprobs=lp.gather(-1, torch.tensor(list(item.token_ids))[:, None])
            .squeeze(-1)
            .tolist(),
            top_logprobs=None,
        )
        for item, lp in zip(items, lps, strict=True)
    ]


def _ending_with_eos(item: VerifyItem, cut: int) -> VerifyItem:
    tokens = [*list(item.token_ids)[:cut], EOS]
    return dataclasses.replace(
        item,
        token_ids=tokens,
        logprobs=[0.0] * len(tokens),
        finish_reason="stop",
        usage=Usage.of(item.usage.prompt_tokens, len(tokens)),
        top_logprobs=None,
    )


@dataclasses.dataclass
class Matrix:
    """Everything the cheats are built from."""

    verifier: Verifier
    honest_model: LoadedModel
    other_model: LoadedModel
    requests: list[GenerationRequest]
    honest: list[Completion]

    def resampled(self, loaded: LoadedModel | None = None, **changes) -> list[VerifyItem]:
        """Answers generated under changed request fields, claimed for the real requests."""
        asked = [dataclasses.replace(r, **changes) for r in self.requests]
        return claims(self.requests, generate(loaded or self.honest_model, asked))


def greedy_for_sampled(m: Matrix) -> list[VerifyItem]:
    return m.resampled(temperature=0.0)


def colder(m: Matrix) -> list[VerifyItem]:
    return m.resampled(temperature=COLD_TEMPERATURE)


def hotter(m: Matrix) -> list[VerifyItem]:
    asked = [dataclasses.replace(r, temperature=r.temperature * HOT_FACTOR) for r in m.requests]
    return claims(m.requests, generate(m.honest_model, asked))


def top_p_ignored(m: Matrix) -> list[VerifyItem]:
    return m.resampled(top_p=1.0)


def early_eos_where_the_old_rules_tolerated_it(m: Matrix) -> list[VerifyItem]:
    items = true_logprobs(m.verifier, claims(m.requests, m.honest))
    out = []
    for item, lp in zip(items, m.verifier.completion_logprobs(items), strict=True):
        ranks = (lp > lp[:, EOS : EOS + 1]).sum(-1) + 1
        cut = next(
            (i for i, t in enumerate(item.token_ids) if t != EOS and ranks[i] <= OLD_MAX_RANK),
            None,
        )
        out.append(item if cut is None else _ending_with_eos(item, cut))
    return true_logprobs(m.verifier, out)


def eos_alone(m: Matrix) -> list[VerifyItem]:
    items = [_ending_with_eos(i, 0) for i in claims(m.requests, m.honest)]
    return true_logprobs(m.verifier, items)


def skipped_eos(m: Matrix) -> list[VerifyItem]:
    """Where the honest answer stopped, go on: the run past end-of-sequence, its EOS left out."""
    beyond = generate(
        m.honest_model,
        [dataclasses.replace(r, max_tokens=r.max_tokens + 1, ignore_eos=True) for r in m.requests],
    )
    out = []
    for request, honest, longer in zip(m.requests, m.honest, beyond, strict=True):
        if honest.finish_reason != "stop":
            out.append(VerifyItem.of(request, honest))
            continue
        at = len(honest.token_ids) - 1
        tokens = [*longer.token_ids[:at], *longer.token_ids[at + 1 :]][: request.max_tokens]
        out.append(
            VerifyItem(
                request, tokens, [0.0] * len(tokens), "length",
                Usage.of(honest.usage.prompt_tokens, len(tokens)),
            )
        )  # fmt: skip
    return true_logprobs(m.verifier, out)


def half_then_junk(m: Matrix) -> list[VerifyItem]:
    rng = random.Random(4)
    out = []
    for request, honest in zip(m.requests, m.honest, strict=True):
        n = len(honest.token_ids)
        tokens = [*honest.token_ids[: n // 2], *(rng.randrange(97, 123) for _ in range(n - n // 2))]
        asked = dataclasses.replace(request, max_tokens=len(tokens))
        out.append(
            VerifyItem(asked, tokens, [0.0] * n, "length", Usage.of(honest.usage.prompt_tokens, n))
        )
    return true_logprobs(m.verifier, out)


def another_model(m: Matrix) -> list[VerifyItem]:
    return claims(m.requests, generate(m.other_model, m.requests))


def another_models_tokens_with_true_logprobs(m: Matrix) -> list[VerifyItem]:
    return true_logprobs(m.verifier, another_model(m))


def _changed_copy(m: Matrix, change: Callable[[torch.nn.Module], torch.nn.Module]) -> LoadedModel:
    loaded = copy.deepcopy(m.honest_model)
    loaded.model = change(loaded.model)
    return loaded


def weight_noise(m: Matrix) -> list[VerifyItem]:
    def noisy(model):
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + WEIGHT_NOISE * torch.randn(p.shape, generator=generator))
        return model

    return claims(m.requests, generate(_changed_copy(m, noisy), m.requests))


def dynamic_int8(m: Matrix) -> list[VerifyItem]:
    def quantised(model):
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)

    return claims(m.requests, generate(_changed_copy(m, quantised), m.requests))


def a_layer_dropped(m: Matrix) -> list[VerifyItem]:
    def shallower(model):
        model.model.layers = torch.nn.ModuleList(list(model.model.layers)[:-1])
        model.config.num_hidden_layers -= 1
        return model

    return claims(m.requests, generate(_changed_copy(m, shallower), m.requests))


def cached_answer_under_another_seed(m: Matrix) -> list[VerifyItem]:
    asked = [dataclasses.replace(r, seed=r.seed ^ SEED_SHIFT) for r in m.requests]
    return claims(m.requests, generate(m.honest_model, asked))


def another_miners_answer_under_another_seed(m: Matrix, bf16: LoadedModel) -> list[VerifyItem]:
    """Another miner (bfloat16, another GPU) got the same task with its own seed."""
    asked = [dataclasses.replace(r, seed=r.seed + 1) for r in m.requests]
    return claims(m.requests, generate(bf16, asked))
