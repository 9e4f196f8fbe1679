"""Does a backend sample with the subnet's sampler? A few requests answered, checked locally.

    report = await probe_backend(backend)            # an OpenAIBackend, or an Engine
    if not report.follows: refuse to serve (report.message says why)

A miner that serves through an external server (vLLM with inference.vllm_sampler) has no
model of its own to verify with, but the server returns what is needed: each position's top
alternatives with their raw logprobs. Where a position's nucleus provably lies within those
alternatives (no unlisted token can be kept, whatever the unlisted probability weighs), the
sampler's choice is exactly computable from them (inference.sampler: the argmax of
``logprob / temperature + noise`` over the kept tokens), and the token the server chose must
be it, up to the verifier's margin for near-ties. ``PROBES`` sampled requests with fresh
random seeds give a few hundred such positions; a server that samples with its own random
generator picks another token at most of the positions where several tokens are likely, and
fails at once.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from inference.sampler import gumbel_noise_at, noise_key
from inference.types import (
    MAX_SEED,
    MAX_TOP_LOGPROBS,
    Completion,
    GenerationBackend,
    GenerationRequest,
    VerifyConfig,
)

PROBE_PROMPTS = (
    "The history of the river begins",
    "Write a short note to a friend about the weather.",
    "Once upon a time, in a small village,",
    "List three things to pack for a trip.",
)
# Sampled, with a nucleus narrow enough to lie within the returned alternatives; a temperature
# below 1 bounds what the unlisted tokens can weigh (see _nucleus).
PROBE_TEMPERATURE = 0.8
PROBE_TOP_P = 0.8
PROBE_MAX_TOKENS = 32
# Below this many checkable positions the probe cannot tell (the server returns too few
# alternatives, or its nucleus is always wider than them).
MIN_CHECKED_POSITIONS = 16


@dataclass(frozen=True)
class ProbeReport:
    checked: int  # positions whose sampler choice the alternatives determine
    wrong: int  # of those, positions where the server chose another token
    examples: tuple[str, ...] = field(default=())

    @property
    def follows(self) -> bool:
        return self.wrong == 0 and self.checked >= MIN_CHECKED_POSITIONS

    @property
    def message(self) -> str:
        if self.wrong:
            return (
                f"the backend chose another token than the subnet's sampler at {self.wrong} of "
                f"{self.checked} checked positions ({'; '.join(self.examples)}): start vLLM with "
                "--logits-processors inference.vllm_sampler:SubnetSampler (README, 'Serving "
                "through vLLM')"
            )
        if self.checked < MIN_CHECKED_POSITIONS:
            return (
                f"only {self.checked} positions could be checked (need "
                f"{MIN_CHECKED_POSITIONS}): the backend must return {MAX_TOP_LOGPROBS} "
                "top_logprobs of the raw model distribution"
            )
        return f"the backend follows the subnet's sampler ({self.checked} positions checked)"


def probe_requests(seeds: Sequence[int]) -> list[GenerationRequest]:
    requests = []
    for i, seed in enumerate(seeds):
        prompt = PROBE_PROMPTS[i % len(PROBE_PROMPTS)]
        fields = (
            {"messages": ({"role": "user", "content": prompt},)} if i % 2 else {"prompt": prompt}
        )
        requests.append(
            GenerationRequest(
                max_tokens=PROBE_MAX_TOKENS,
                temperature=PROBE_TEMPERATURE,
                top_p=PROBE_TOP_P,
                seed=seed,
                top_logprobs=MAX_TOP_LOGPROBS,
                **fields,
            )
        )
    return requests


def check_completion(
    request: GenerationRequest, completion: Completion, margin: float
) -> tuple[int, list[str]]:
    """(positions checked, a description of each wrong one) for one sampled completion."""
    checked, wrong = 0, []
    for position, (token, alternatives) in enumerate(
        zip(completion.token_ids, completion.top_logprobs, strict=False)
    ):
        listed = {a.token_id: a.logprob for a in alternatives}
        listed.setdefault(token, completion.logprobs[position])
        kept = _nucleus(listed, request.temperature, request.top_p)
        if kept is None:
            continue
        checked += 1
        ids = torch.tensor(kept)
        noise = gumbel_noise_at([noise_key(request.seed, position)], ids)[0]
        scores = torch.tensor([listed[i] for i in kept]) / request.temperature + noise
        best = int(scores.argmax())
        if token not in kept:
            wrong.append(f"position {position}: token {token} is outside the nucleus")
            continue
        gap = float(scores[best] - scores[kept.index(token)]) * request.temperature
        if gap > margin:
            wrong.append(f"position {position}: token {token}, sampler's choice {kept[best]}")
    return checked, wrong


def _nucleus(listed: dict[int, float], temperature: float, top_p: float) -> list[int] | None:
    """The ids the nucleus of ``softmax(logits / temperature)`` keeps, or None when the listed
    alternatives do not decide it.

    Only the listed tokens' probabilities are known. Below temperature 1 the unlisted ones
    weigh at most ``p_min ** (1 / T - 1)`` times their raw mass in the tempered distribution,
    so the tempered normaliser lies in an interval; the nucleus is decided when both ends give
    the same kept set and no unlisted token could be kept.
    """
    weights = {i: math.exp(lp / temperature) for i, lp in listed.items()}
    unlisted_raw = max(0.0, 1.0 - sum(math.exp(lp) for lp in listed.values()))
    smallest = math.exp(min(listed.values()))
    unlisted_most = unlisted_raw * smallest ** (1 / temperature - 1)
    listed_total = sum(weights.values())
    kept_sets = []
    for total in (listed_total, listed_total + unlisted_most):
        if listed_total / total < top_p:
            return None  # an unlisted token's mass above could be below top_p
        kept_sets.append(
            sorted(
                i
                for i, w in weights.items()
                if sum(v for v in weights.values() if v > w) / total < top_p
            )
        )
    return kept_sets[0] if kept_sets[0] == kept_sets[1] else None


async def probe_backend(
    backend: GenerationBackend, probes: int = len(PROBE_PROMPTS), margin: float | None = None
) -> ProbeReport:
    """Send ``probes`` sampled requests with fresh seeds and check every answer."""
    margin = VerifyConfig().sampler_margin if margin is None else margin
    checked, wrong = 0, []
    for request in probe_requests([secrets.randbelow(MAX_SEED + 1) for _ in range(probes)]):
        completion = await backend.generate(request)
        n, bad = check_completion(request, completion, margin)
        checked += n
        wrong.extend(bad)
    return ProbeReport(checked, len(wrong), tuple(wrong[:3]))
