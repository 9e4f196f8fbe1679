"""The verifier's rules: from a completion, what its miner claimed, and what the verifier's
model says about each token, to a Verdict. Pure: no model, no tensors, no IO.

Per token (positions are completion token indices):
- Every token must be the subnet's sampler's choice (inference.sampler) for the request's
  temperature, top_p and seed at its position, up to numerical near-ties: its score may be at
  most ``sampler_margin`` nats below the best score, and with top_p < 1 it must be inside the
  nucleus of logits within ``nucleus_slack`` of the verifier's (``outside_nucleus``). A miss
  is ``false_eos`` when the token is end-of-sequence, ``skipped_eos`` when the sampler's
  choice was end-of-sequence, ``not_greedy`` for a greedy request and ``not_sampled``
  otherwise. End-of-sequence is a token like any other: stopping where the sampler would not
  have, or going on where it would have stopped, is a wrong token.
- ``logprob_mismatch``: a claimed logprob differs from the verifier's by more than
  ``logprob_tolerance``; ``logprob_bias``: the differences add up, |sum| / sqrt(n) above
  ``bias_tolerance`` (honest noise averages out, inflation does not; see bias_statistic).
Per completion:
- ``eos_inside``: an end-of-sequence before the last token (unless the request ignores EOS).
- ``false_stop``: finish "stop" without a final end-of-sequence or a stop string completed by
  the last token. ``false_length``: finish "length" with fewer tokens than max_tokens (cut
  short) or ending on end-of-sequence. ``too_long``: more tokens than max_tokens.
  ``missed_stop``: a stop string completed before the last token.
- ``usage_mismatch``: usage counts differ from the prompt the verifier tokenised and the tokens
  given; ``prompt_mismatch``: the miner's prompt token ids differ from the verifier's.
- ``top_logprobs_mismatch``: a claimed alternative's logprob is off by more than the tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from inference.types import Finding, Verdict, VerifyConfig, VerifyItem


@dataclass(frozen=True)
class Evidence:
    """What the verifier's model says about each completion token (one entry per token)."""

    logprobs: Sequence[float]
    ranks: Sequence[int]
    # inference.sampler.SamplerEvidence: the sampler's choice on the verifier's logits, how
    # far (nats) the token's score is below the best, and whether the nucleus may keep it.
    choice_ids: Sequence[int]
    gaps: Sequence[float]
    possible: Sequence[bool]
    # The verifier's logprobs of the claimed top alternatives, when some were claimed.
    alternative_logprobs: Sequence[Sequence[float]] | None = None


def judge(
    item: VerifyItem,
    prompt_ids: Sequence[int],
    evidence: Evidence,
    config: VerifyConfig,
    eos_ids: frozenset[int],
    decode: Callable[[Sequence[int]], str],
) -> Verdict:
    tokens = list(item.token_ids)
    diffs = [c - v for c, v in zip(item.logprobs, evidence.logprobs, strict=True)]
    findings = [
        *_logprob_findings(diffs, config),
        *_token_findings(item, evidence, config, eos_ids),
        *_finish_findings(item, tokens, eos_ids, decode),
        *_accounting_findings(item, prompt_ids, evidence, config),
    ]
    findings.sort(key=lambda f: (-1 if f.position is None else f.position, f.code))
    return Verdict(
        reasons=tuple(findings),
        ranks=tuple(evidence.ranks),
        logprobs=tuple(evidence.logprobs),
        max_logprob_diff=max(abs(d) for d in diffs),
        mean_logprob_diff=sum(diffs) / len(diffs),
        prompt_tokens=len(prompt_ids),
        near_ties=sum(c != t for c, t in zip(evidence.choice_ids, tokens, strict=True)),
    )


def _logprob_findings(diffs: list[float], config: VerifyConfig) -> list[Finding]:
    findings = [
        Finding(
            "logprob_mismatch",
            f"claimed logprob is {d:+.3f} nats from the model's (tolerance "
            f"{config.logprob_tolerance})",
            i,
        )
        for i, d in enumerate(diffs)
        if abs(d) > config.logprob_tolerance
    ]
    bias = bias_statistic(diffs)
    if bias > config.bias_tolerance:
        findings.append(
            Finding(
                "logprob_bias",
                f"claimed logprobs are off by {sum(diffs) / len(diffs):+.3f} nats on average "
                f"over {len(diffs)} tokens (|sum|/sqrt(n) = {bias:.2f}, tolerance "
                f"{config.bias_tolerance})",
            )
        )
    return findings


def bias_statistic(diffs: Sequence[float]) -> float:
    """|sum of (claimed - verifier)| / sqrt(n).

    Honest noise is roughly zero-mean and independent per token, so this stays near the
    per-token noise scale whatever the length; a systematic inflation of d per token grows
    as d * sqrt(n), so long completions cannot hide a small one and short ones are not
    failed for noise.
    """
    return abs(sum(diffs)) / math.sqrt(len(diffs))


def _token_findings(
    item: VerifyItem, ev: Evidence, config: VerifyConfig, eos_ids: frozenset[int]
) -> list[Finding]:
    request = item.request
    findings = []
    for i, token in enumerate(item.token_ids):
        inside, close = ev.possible[i], ev.gaps[i] <= config.sampler_margin
        if inside and close:
            continue
        if not inside:
            code = "outside_nucleus"
            detail = f"the token is outside the top_p {request.top_p} nucleus"
        else:
            code = "not_greedy" if request.greedy else "not_sampled"
            detail = (
                f"the token's score is {ev.gaps[i]:.3f} nats below the sampler's choice "
                f"{ev.choice_ids[i]} (margin {config.sampler_margin})"
            )
        if token in eos_ids:
            code = "false_eos"
        elif ev.choice_ids[i] in eos_ids and not request.ignore_eos:
            code = "skipped_eos"
        findings.append(Finding(code, detail, i))
    return findings


def _finish_findings(
    item: VerifyItem, tokens: list[int], eos_ids: frozenset[int], decode
) -> list[Finding]:
    request, last = item.request, len(tokens) - 1
    findings = []
    ends_on_eos = tokens[last] in eos_ids and not request.ignore_eos
    if not request.ignore_eos:
        inside = next((i for i, t in enumerate(tokens[:last]) if t in eos_ids), None)
        if inside is not None:
            findings.append(
                Finding("eos_inside", "generation went on after an end-of-sequence", inside)
            )
    if len(tokens) > request.max_tokens:
        findings.append(
            Finding("too_long", f"{len(tokens)} tokens for max_tokens {request.max_tokens}")
        )
    stop_at = _stop_index(decode, tokens, request.stop) if request.stop else None
    if stop_at is not None and stop_at < last:
        findings.append(Finding("missed_stop", "generation went on after a stop string", stop_at))
    if item.finish_reason == "stop" and not (ends_on_eos or stop_at == last):
        findings.append(
            Finding(
                "false_stop",
                "finish_reason is stop but the completion ends on neither end-of-sequence "
                "nor a stop string",
                last,
            )
        )
    if item.finish_reason == "length" and (len(tokens) < request.max_tokens or ends_on_eos):
        findings.append(
            Finding(
                "false_length",
                f"finish_reason is length after {len(tokens)} tokens (max_tokens "
                f"{request.max_tokens})" + (" ending on end-of-sequence" if ends_on_eos else ""),
                last,
            )
        )
    return findings


def _accounting_findings(
    item: VerifyItem, prompt_ids: Sequence[int], ev: Evidence, config: VerifyConfig
) -> list[Finding]:
    findings = []
    usage, n_prompt, n_completion = item.usage, len(prompt_ids), len(item.token_ids)
    if (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) != (
        n_prompt,
        n_completion,
        n_prompt + n_completion,
    ):
        findings.append(
            Finding(
                "usage_mismatch",
                f"usage says {usage.prompt_tokens}+{usage.completion_tokens}="
                f"{usage.total_tokens} tokens; the prompt has {n_prompt} and the completion "
                f"{n_completion}",
            )
        )
    if item.prompt_token_ids is not None and list(item.prompt_token_ids) != list(prompt_ids):
        findings.append(
            Finding("prompt_mismatch", "the prompt token ids differ from the verifier's")
        )
    if item.top_logprobs is not None and ev.alternative_logprobs is not None:
        for i, (claimed, actual) in enumerate(
            zip(item.top_logprobs, ev.alternative_logprobs, strict=True)
        ):
            worst = max(
                (abs(c.logprob - a) for c, a in zip(claimed, actual, strict=True)), default=0
            )
            if worst > config.logprob_tolerance:
                findings.append(
                    Finding(
                        "top_logprobs_mismatch",
                        f"a claimed alternative is {worst:.3f} nats off",
                        i,
                    )
                )
                break
    return findings


def _stop_index(decode, tokens: list[int], stops: Sequence[str]) -> int | None:
    """The first token index at which the decoded text contains a stop string, or None."""

    def contains(n: int) -> bool:
        text = decode(tokens[:n])
        return any(s in text for s in stops)

    if not contains(len(tokens)):
        return None
    low, high = 1, len(tokens)  # contains(high) holds; find the smallest such n
    while low < high:
        mid = (low + high) // 2
        if contains(mid):
            high = mid
        else:
            low = mid + 1
    return low - 1
