"""Choosing tokens from logits, and the distributions the verifier checks them against.

Sampling, for temperature T > 0 and nucleus top_p: ``q = softmax(logits / T)``; sort q in
decreasing order and keep the tokens whose preceding mass is below top_p (the first always
stays); draw one uniform number u from the request's own generator, scale it by the kept mass
and take the token where the cumulative kept mass first exceeds it. One draw per token from a
CPU generator seeded with the request's seed: the same seed gives the same tokens on any
device, alone or in any batch, unless a draw falls within float noise of a boundary between
two tokens.
"""

from __future__ import annotations

import math

import torch


def log_probs(logits: torch.Tensor) -> torch.Tensor:
    """Logprobs as inference/ defines them: log-softmax of raw logits, in float32."""
    return torch.log_softmax(logits.float(), dim=-1)


def sampling_probs(logits: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """``softmax(logits / T)`` per row, T given per row."""
    return torch.softmax(logits.float() / temperature[:, None], dim=-1)


def sample_rows(
    logits: torch.Tensor, temperature: list[float], top_p: list[float], uniforms: list[float]
) -> list[int]:
    """One token per row of ``logits`` [rows, vocab] (see the module docstring)."""
    device = logits.device
    probs = sampling_probs(logits, torch.tensor(temperature, device=device))
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    kept = sorted_probs * (mass_before < torch.tensor(top_p, device=device)[:, None])
    cdf = kept.cumsum(dim=-1)
    targets = torch.tensor(uniforms, device=device, dtype=cdf.dtype)[:, None] * cdf[:, -1:]
    picks = torch.searchsorted(cdf, targets, right=True).clamp(max=cdf.shape[-1] - 1)
    return order.gather(-1, picks).squeeze(-1).tolist()


def nucleus_mass(scaled_logits: torch.Tensor, tokens: torch.Tensor, noise: float) -> torch.Tensor:
    """Per row, the least probability mass ranked above ``tokens[row]`` that logits within
    ``noise`` of these can give (the sampler keeps the token only if this is below top_p).

    ``scaled_logits`` are logits / temperature and ``noise`` is in the same units. The most
    favourable perturbation lowers every token above the chosen one by ``noise`` and raises
    the rest by ``noise``: tokens less than 2 * noise above it then no longer rank above it,
    and the others lose weight. With noise 0 this is the plain mass above the token.
    """
    chosen = scaled_logits.gather(-1, tokens[:, None])
    probs = torch.softmax(scaled_logits.float(), dim=-1)
    above = scaled_logits > chosen
    clearly_above = scaled_logits > chosen + 2 * noise
    lowered, raised = math.exp(-noise), math.exp(noise)
    total = (probs * above).sum(-1) * lowered + (probs * ~above).sum(-1) * raised
    return (probs * clearly_above).sum(-1) * lowered / total


def ranks(logprobs: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Per row, 1 + how many tokens score strictly higher than ``tokens[row]``."""
    chosen = logprobs.gather(-1, tokens[:, None])
    return (logprobs > chosen).sum(dim=-1) + 1
