"""The probe a miner runs on its backend: the sampler's choices recomputed from the returned
alternatives, wrong tokens counted, undecidable positions skipped."""

from __future__ import annotations

import dataclasses

from inference.sampler_probe import (
    MIN_CHECKED_POSITIONS,
    ProbeReport,
    check_completion,
    probe_backend,
    probe_requests,
)
from inference.types import TokenLogprob

MARGIN = 0.4


async def test_the_engine_follows_its_own_sampler(engine):
    report = await probe_backend(engine)
    assert report.follows, report.message
    assert report.checked >= MIN_CHECKED_POSITIONS


async def test_a_token_swapped_for_another_listed_one_is_wrong(engine):
    request = probe_requests([7])[0]
    completion = await engine.generate(request)
    checked, wrong = check_completion(request, completion, MARGIN)
    assert checked and not wrong
    at = next(
        i
        for i, top in enumerate(completion.top_logprobs)
        if len({t.token_id for t in top if t.logprob > -3}) > 1
    )
    other = next(t for t in completion.top_logprobs[at] if t.token_id != completion.token_ids[at])
    tokens = list(completion.token_ids)
    tokens[at] = other.token_id
    swapped = dataclasses.replace(completion, token_ids=tuple(tokens))
    _, wrong = check_completion(request, swapped, MARGIN)
    assert any(f"position {at}:" in w for w in wrong)


def test_positions_whose_nucleus_may_reach_unlisted_tokens_are_not_checked():
    request = probe_requests([1])[0]
    flat = tuple(TokenLogprob(i, -5.0) for i in range(20))  # 20 x e^-5: far below top_p
    completion = _completion([0], [-5.0], [flat])
    assert check_completion(request, completion, MARGIN) == (0, [])


def test_too_few_checked_positions_do_not_count_as_following():
    report = ProbeReport(checked=MIN_CHECKED_POSITIONS - 1, wrong=0)
    assert not report.follows
    assert "top_logprobs" in report.message


def _completion(tokens, logprobs, tops):
    from inference.types import Completion, Usage

    return Completion(
        "", tuple(tokens), tuple(logprobs), "length", Usage.of(1, len(tokens)), (), tuple(tops)
    )
