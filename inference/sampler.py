"""The subnet's sampler: which token a request gets at a position, as a pure function.

    token_ids = choose(logits, temperatures, top_ps, seeds, positions)    # one per row

Every honest implementation (the engine, a vLLM server with inference.vllm_sampler, the
validator's verifier) computes the same function of one position's logits, the request's
temperature and top_p, its seed, and the position (the index of the token in the completion,
0 for the first):

1. Logits in float32. A temperature below ``GREEDY_TEMPERATURE`` (0 included) is greedy: the
   token is the argmax of the logits, the lowest token id among exact ties.
2. Temperature: ``z = logits / temperature``.
3. Nucleus: ``p = softmax(z)``; a token is kept when the probability of the tokens strictly
   more likely than it is below top_p (so the most likely token always stays, and tied tokens
   are kept or dropped together, whatever a sort does with them). top_p 1 keeps every token.
4. Noise: every token id gets a Gumbel draw ``g = -log(-log(u))`` whose uniform ``u`` is a
   counter-based hash of (seed, position, token id): ``noise_key`` mixes seed and position
   into 64 bits with splitmix64, and ``mix32`` (a 32-bit mixer of Wellons' hash prospector,
   whose multipliers keep every int64 product below 2**63) hashes the token id under the key's
   two 32-bit halves: ``mix32(mix32(id ^ low) ^ high)``.
   The top ``UNIFORM_BITS`` bits of the hash plus one half, over ``2**UNIFORM_BITS``, are an
   exact float32 in (0, 1). Nothing depends on the vocabulary's size, the batch, the device,
   the thread count or a random generator's state, so a token's noise is the same wherever it
   is computed (the float32 logarithms may differ in their last bit between devices, far
   inside the verifier's margin).
5. The token is the argmax of ``z + g`` over the kept tokens.

That is the Gumbel-max trick: the token is distributed as ``softmax(z)`` restricted to the
nucleus, exactly what temperature and top_p sampling promise, and yet determined by the seed.

The verifier (``sampler_evidence``) recomputes this from its own logits, which differ from a
miner's by numerical noise (other precisions, kernels, batch shapes). It therefore accepts a
token when its score is within a margin (in nats of logits) of the best score among the tokens
that are kept under every perturbation of the logits by up to ``slack``, and when the token is
kept under some such perturbation. Both numbers are inference.types.VerifyConfig's, measured by
inference.calibrate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from inference.types import GREEDY_TEMPERATURE, MAX_SEED

__all__ = ["GREEDY_TEMPERATURE", "MAX_SEED", "choose", "gumbel_noise", "noise_key"]

# Bits of the hash that make the uniform: with the added half it needs UNIFORM_BITS + 1 bits,
# which float32's 24-bit significand holds exactly.
UNIFORM_BITS = 23
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
# splitmix64 (Steele, Lea and Flood) and the 32-bit mixer [16 21f0aaad 15 735a2d97 15] of
# Wellons' hash prospector: published constants.
_GOLDEN64 = 0x9E3779B97F4A7C15
_SPLITMIX_MUL1 = 0xBF58476D1CE4E5B9
_SPLITMIX_MUL2 = 0x94D049BB133111EB
_MIX32_MUL1 = 0x21F0AAAD
_MIX32_MUL2 = 0x735A2D97


def splitmix64(x: int) -> int:
    """One step of splitmix64 on a Python int: a bijection of 64-bit integers."""
    z = (x + _GOLDEN64) & _MASK64
    z = ((z ^ (z >> 30)) * _SPLITMIX_MUL1) & _MASK64
    z = ((z ^ (z >> 27)) * _SPLITMIX_MUL2) & _MASK64
    return z ^ (z >> 31)


def noise_key(seed: int, position: int) -> int:
    """The 64-bit key of a (seed, position): every token's noise at that position hangs on it."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and {MAX_SEED}, got {seed}")
    if position < 0:
        raise ValueError(f"position must be >= 0, got {position}")
    return splitmix64(splitmix64(seed) ^ position)


def mix32(x: torch.Tensor) -> torch.Tensor:
    """Wellons' 32-bit mixer on int64 tensors holding 32-bit values. Both multipliers are below
    2**31, so no product of a 32-bit value reaches 2**63: int64 arithmetic never overflows,
    and every shift is of a non-negative value, on every device."""
    x = x ^ (x >> 16)
    x = (x * _MIX32_MUL1) & _MASK32
    x = x ^ (x >> 15)
    x = (x * _MIX32_MUL2) & _MASK32
    return x ^ (x >> 15)


def token_hashes(keys: Sequence[int], token_ids: torch.Tensor) -> torch.Tensor:
    """[len(keys), len(token_ids)] int64: each token id hashed under each 64-bit key."""
    # torch has no uint64 arithmetic: a key travels as the int64 with the same bits, and its
    # high half comes back with an arithmetic shift masked to 32 bits.
    signed = [k - (1 << 64) if k >= 1 << 63 else k for k in keys]
    key = torch.tensor(signed, dtype=torch.int64, device=token_ids.device)
    low = (key & _MASK32)[:, None]
    high = ((key >> 32) & _MASK32)[:, None]
    return mix32(mix32(token_ids.to(torch.int64)[None, :] ^ low) ^ high)


def gumbel_noise_at(keys: Sequence[int], token_ids: torch.Tensor) -> torch.Tensor:
    """[len(keys), len(token_ids)] float32 Gumbel noise of the given token ids."""
    hashes = token_hashes(keys, token_ids)
    uniform = ((hashes >> (32 - UNIFORM_BITS)).to(torch.float32) + 0.5) / (1 << UNIFORM_BITS)
    return -torch.log(-torch.log(uniform))


def gumbel_noise(keys: Sequence[int], vocab_size: int, device: torch.device) -> torch.Tensor:
    """[len(keys), vocab_size] float32 Gumbel noise of every token id, one row per key."""
    return gumbel_noise_at(keys, torch.arange(vocab_size, device=device))


def log_probs(logits: torch.Tensor) -> torch.Tensor:
    """Logprobs as inference/ defines them: log-softmax of raw logits, in float32."""
    return torch.log_softmax(logits.float(), dim=-1)


def ranks(logprobs: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Per row, 1 + how many tokens score strictly higher than ``tokens[row]``."""
    chosen = logprobs.gather(-1, tokens[:, None])
    return (logprobs > chosen).sum(dim=-1) + 1


def is_greedy(temperature: float) -> bool:
    return temperature < GREEDY_TEMPERATURE


def nucleus(scaled: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """[rows, vocab] bool: the tokens step 3 keeps, per row of scaled logits."""
    probs = torch.softmax(scaled, dim=-1)
    sorted_probs, _ = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the tokens sorted ahead
    last_kept = (before < top_p[:, None]).sum(dim=-1, keepdim=True) - 1
    # Kept: at least as likely as the last token whose mass ahead is below top_p; that keeps
    # a whole tie group together (the mass strictly above each of its tokens is the same).
    return probs >= sorted_probs.gather(-1, last_kept)


def choose(
    logits: torch.Tensor,
    temperatures: Sequence[float],
    top_ps: Sequence[float],
    seeds: Sequence[int],
    positions: Sequence[int],
) -> list[int]:
    """The sampler's token for each row of ``logits`` [rows, vocab] (see the module docstring)."""
    logits = logits.float()
    sampled = [r for r, t in enumerate(temperatures) if not is_greedy(t)]
    if not sampled:
        return logits.argmax(dim=-1).tolist()
    device = logits.device
    keys = [noise_key(seeds[r], positions[r]) for r in sampled]
    every_row = len(sampled) == len(temperatures)
    if not every_row:
        picks = logits.argmax(dim=-1)
        logits = logits[torch.tensor(sampled, device=device)]
    temperature = torch.tensor([temperatures[r] for r in sampled], device=device)
    top_p = torch.tensor([top_ps[r] for r in sampled], device=device)
    scaled = logits / temperature[:, None]
    chosen = nucleus_argmax(scaled + gumbel_noise(keys, logits.shape[-1], device), scaled, top_p)
    if every_row:
        return chosen.tolist()
    picks[torch.tensor(sampled, device=device)] = chosen
    return picks.tolist()


# A row whose best score's token has a mass above it this far below top_p is in the nucleus
# whatever order the mass is summed in (float32 sums of a vocabulary differ by ~1e-6); rows
# closer to the boundary are decided by the sort, as step 3 defines it.
_CLEARLY_INSIDE = 1e-3


def nucleus_argmax(scores: torch.Tensor, scaled: torch.Tensor, top_p: torch.Tensor):
    """Per row, the argmax of ``scores`` over the nucleus of ``scaled`` (steps 3 and 5).

    The best score overall is usually inside the nucleus (the probability of a draw outside
    it is 1 - top_p), and then it is the answer: only the other rows pay for a sort.
    """
    picks = scores.argmax(dim=-1)
    narrowed = top_p < 1
    if not bool(narrowed.any()):
        return picks
    probs = torch.softmax(scaled, dim=-1)
    pick_prob = probs.gather(-1, picks[:, None])
    above = (probs * (probs > pick_prob)).sum(dim=-1)
    unsure = narrowed & (above >= top_p - _CLEARLY_INSIDE)
    if bool(unsure.any()):
        rows = unsure.nonzero().squeeze(-1)
        kept = nucleus(scaled[rows], top_p[rows])
        picks[rows] = scores[rows].masked_fill(~kept, float("-inf")).argmax(dim=-1)
    return picks


@dataclass(frozen=True)
class SamplerEvidence:
    """What the verifier's logits say about each token under the sampler, one entry per row.

    ``choice``: the sampler's token on these logits. ``gap``: how far (nats of logits) the
    token's score is below the best score among the tokens kept under every perturbation
    (0 when it is the best; for greedy rows, the best logit minus the token's).
    ``possible``: whether the token is kept under some perturbation (always, for greedy).
    """

    choice: list[int]
    gap: list[float]
    possible: list[bool]


@dataclass(frozen=True)
class SamplerRow:
    """The sampler's parameters at one position: ``seed`` None only for greedy rows."""

    temperature: float
    top_p: float
    seed: int | None
    position: int


def completion_rows(temperature: float, top_p: float, seed: int | None, n: int) -> list[SamplerRow]:
    """The rows of one completion of ``n`` tokens (positions 0..n-1)."""
    return [SamplerRow(temperature, top_p, seed, position) for position in range(n)]


def sampler_evidence(
    logits: torch.Tensor, tokens: torch.Tensor, rows: Sequence[SamplerRow], slack: float
) -> SamplerEvidence:
    """For each row of ``logits`` [rows, vocab] and its token, the sampler's choice and how far
    the token is from it (module docstring); rows of several completions go in one call."""
    logits = logits.float()
    device = logits.device
    chosen_logit = logits.gather(-1, tokens[:, None]).squeeze(-1)
    best = logits.max(dim=-1)
    choice, gap = best.indices.clone(), best.values - chosen_logit
    possible = torch.ones(len(rows), dtype=torch.bool, device=device)
    sampled = [i for i, row in enumerate(rows) if not is_greedy(row.temperature)]
    if sampled:
        if any(rows[i].seed is None for i in sampled):
            raise ValueError("a sampled completion is verified against its seed: give the seed")
        index = torch.tensor(sampled, device=device)
        temperature = torch.tensor([rows[i].temperature for i in sampled], device=device)
        top_p = torch.tensor([rows[i].top_p for i in sampled], device=device)
        keys = [noise_key(rows[i].seed, rows[i].position) for i in sampled]
        found = _sampled_evidence(logits[index], tokens[index], temperature, top_p, keys, slack)
        choice[index], gap[index], possible[index] = found
    return SamplerEvidence(choice.tolist(), gap.tolist(), possible.tolist())


def _sampled_evidence(logits, tokens, temperature, top_p, keys, slack):
    scaled = logits / temperature[:, None]
    scores = scaled + gumbel_noise(keys, logits.shape[-1], logits.device)
    choice = nucleus_argmax(scores, scaled, top_p)
    # A token that is the sampler's choice is kept and has nothing above it: only the other
    # rows (near-ties and cheats) need the bounds under perturbation.
    gap = torch.zeros_like(temperature)
    possible = torch.ones_like(top_p, dtype=torch.bool)
    differ = (choice != tokens).nonzero().squeeze(-1)
    if len(differ):
        found = _perturbed_bounds(
            scaled[differ],
            scores[differ],
            tokens[differ],
            temperature[differ],
            top_p[differ],
            slack,
        )
        gap[differ], possible[differ] = found
    return choice, gap, possible


def _perturbed_bounds(scaled, scores, tokens, temperature, top_p, slack):
    """Per row, the token's gap below the best score among the tokens kept under every
    perturbation within ``slack``, and whether some perturbation keeps it (class docstring of
    SamplerEvidence)."""
    chosen = scores.gather(-1, tokens[:, None]).squeeze(-1)
    narrowed = top_p < 1
    if not bool(narrowed.any()):
        return (scores.max(dim=-1).values - chosen) * temperature, torch.ones_like(narrowed)
    noise = slack / temperature  # per row, in units of the scaled logits
    certain = _kept_under_every(scaled, top_p, noise)
    best = scores.masked_fill(~certain, float("-inf")).max(dim=-1).values
    # No token is certainly kept (near-ties at the top with a small top_p): nothing to beat.
    gap = torch.where(torch.isfinite(best), (best - chosen) * temperature, torch.zeros_like(best))
    possible = _least_mass_above(scaled, tokens, noise) < top_p
    return gap, possible


def _least_mass_above(scaled: torch.Tensor, tokens: torch.Tensor, noise: torch.Tensor):
    """Per row, the least probability ranked above ``tokens[row]`` that scaled logits within
    ``noise[row]`` of these can give: lower every token above it by the noise and raise the
    rest. The token is kept under some perturbation exactly when this is below top_p."""
    chosen = scaled.gather(-1, tokens[:, None])
    probs = torch.softmax(scaled, dim=-1)
    above = scaled > chosen
    clearly_above = scaled > chosen + 2 * noise[:, None]
    lowered, raised = torch.exp(-noise), torch.exp(noise)
    total = (probs * above).sum(-1) * lowered + (probs * ~above).sum(-1) * raised
    return (probs * clearly_above).sum(-1) * lowered / total


def _kept_under_every(scaled: torch.Tensor, top_p: torch.Tensor, noise: torch.Tensor):
    """[rows, vocab] bool: tokens the nucleus keeps under every perturbation within the row's
    ``noise`` (top_p 1 keeps them all).

    The worst case for a token raises every other token by the noise and lowers it: the
    tokens then above it are those within twice the noise below it or higher (a prefix of the
    sorted logits), their mass grows by e^noise and the rest shrinks by e^-noise.
    """
    probs = torch.softmax(scaled, dim=-1)
    sorted_scaled, order = scaled.sort(dim=-1, descending=True)
    sorted_probs = probs.gather(-1, order)
    cumulative = torch.cat(
        [torch.zeros_like(sorted_probs[:, :1]), sorted_probs.cumsum(dim=-1)], dim=-1
    )
    # For each token, how many tokens score above (its score - 2 * noise); itself included
    # when noise > 0, so take its own probability back out.
    threshold = sorted_scaled - 2 * noise[:, None]
    count = torch.searchsorted(-sorted_scaled.contiguous(), -threshold.contiguous(), side="left")
    above = cumulative.gather(-1, count) - torch.where(
        torch.arange(scaled.shape[-1], device=scaled.device)[None, :] < count,
        sorted_probs,
        torch.zeros_like(sorted_probs),
    )
    grown = above * torch.exp(noise)[:, None]
    worst = grown / (grown + (1 - above) * torch.exp(-noise)[:, None])
    certain_sorted = (worst < top_p[:, None]) | (top_p[:, None] >= 1)
    return torch.zeros_like(certain_sorted).scatter(-1, order, certain_sorted)
