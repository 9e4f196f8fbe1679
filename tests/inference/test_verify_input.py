"""Malformed completions are refused with a clear error before the verifier's model runs:
``verify`` raises; ``verify_many`` fails that item with the error and verifies the others."""

from __future__ import annotations

import dataclasses

import pytest

from inference.types import (
    MALFORMED,
    GenerationRequest,
    InvalidCompletion,
    InvalidRequest,
    TokenLogprob,
    Usage,
    VerifyItem,
)

VOCAB = 262  # the tiny model's output width


def _good(honest_runs) -> VerifyItem:
    return VerifyItem.of(honest_runs["greedy"][0], honest_runs["greedy_alone"][0])


BAD_COMPLETIONS = {
    "no tokens": ({"token_ids": [], "logprobs": []}, "no tokens"),
    "a token id past the vocabulary": ({"token_ids": [VOCAB], "logprobs": [-1.0]}, "vocabulary"),
    "a negative token id": ({"token_ids": [-1], "logprobs": [-1.0]}, "vocabulary"),
    "a token id that is not an integer": ({"token_ids": [1.5], "logprobs": [-1.0]}, "integers"),
    "one logprob short": ({"token_ids": [97, 98], "logprobs": [-1.0]}, "1 claimed logprobs for 2"),
    "a NaN logprob": ({"token_ids": [97], "logprobs": [float("nan")]}, "finite"),
    "an unknown finish reason": ({"finish_reason": "abort"}, "not one of stop, length"),
    "more tokens than the context holds": (
        {"token_ids": [97] * 1100, "logprobs": [-1.0] * 1100},
        "exceed the model's context",
    ),
    "top_logprobs of the wrong length": (
        {"top_logprobs": [[TokenLogprob(97, -1.0)]] * 2},
        "top_logprobs entries",
    ),
    "a top_logprobs id past the vocabulary": (
        {"token_ids": [97], "logprobs": [-1.0], "top_logprobs": [[TokenLogprob(VOCAB, -1.0)]]},
        "invalid entry",
    ),
}


def _verify(verifier, item: VerifyItem):
    return verifier.verify(
        item.request,
        item.token_ids,
        item.logprobs,
        finish_reason=item.finish_reason,
        usage=item.usage,
        prompt_token_ids=item.prompt_token_ids,
        top_logprobs=item.top_logprobs,
    )


@pytest.mark.parametrize("case", BAD_COMPLETIONS, ids=list(BAD_COMPLETIONS))
def test_a_malformed_completion_is_refused_before_the_model_runs(
    case, verifier, honest_runs, forward_calls
):
    changes, message = BAD_COMPLETIONS[case]
    item = dataclasses.replace(_good(honest_runs), **changes)
    with pytest.raises(InvalidCompletion, match=message):
        _verify(verifier, item)
    assert forward_calls == []


@pytest.mark.parametrize("case", BAD_COMPLETIONS, ids=list(BAD_COMPLETIONS))
def test_verify_many_fails_a_malformed_completion_with_its_error_and_no_model_work(
    case, verifier, honest_runs, forward_calls
):
    changes, message = BAD_COMPLETIONS[case]
    [verdict] = verifier.verify_many([dataclasses.replace(_good(honest_runs), **changes)])
    assert not verdict.ok and verdict.codes == {MALFORMED}
    assert message in verdict.reasons[0].message
    assert forward_calls == []


def test_one_malformed_item_fails_alone_and_the_others_are_verified_in_one_pass(
    verifier, honest_runs, forward_calls
):
    runs = honest_runs
    good = [VerifyItem.of(runs["greedy"][i], runs["greedy_alone"][i]) for i in (0, 1)]
    bad = dataclasses.replace(good[0], logprobs=[])
    first, malformed, second = verifier.verify_many([good[0], bad, good[1]])
    assert first.ok and second.ok
    assert len(first.ranks) == len(good[0].token_ids)
    assert malformed.codes == {MALFORMED}
    assert "0 claimed logprobs" in malformed.reasons[0].message
    assert len(forward_calls) == 1


def test_a_request_whose_prompt_exceeds_the_context_is_refused(
    verifier, honest_runs, forward_calls
):
    item = dataclasses.replace(
        _good(honest_runs),
        request=dataclasses.replace(honest_runs["greedy"][0], prompt="x" * 1100, max_tokens=1),
    )
    with pytest.raises(InvalidRequest, match="shorten the prompt"):
        _verify(verifier, item)
    [verdict] = verifier.verify_many([item])
    assert verdict.codes == {MALFORMED} and "shorten the prompt" in verdict.reasons[0].message
    assert forward_calls == []


def test_the_verify_keyword_form_refuses_like_verify_many(verifier, forward_calls):
    with pytest.raises(InvalidCompletion, match="2 claimed logprobs for 1"):
        verifier.verify(
            GenerationRequest(prompt="a"),
            [97],
            [-1.0, -2.0],
            finish_reason="length",
            usage=Usage.of(2, 1),
        )
    assert forward_calls == []


def test_invalid_completion_is_a_value_error():
    assert issubclass(InvalidCompletion, ValueError)


def test_fits_says_whether_prompt_and_max_tokens_fit_the_context(verifier):
    context = verifier.limits.context_length
    assert verifier.fits(GenerationRequest(prompt="the river", max_tokens=64))
    assert not verifier.fits(GenerationRequest(prompt="the river", max_tokens=context))
    assert not verifier.fits(GenerationRequest(prompt="x" * (context + 10), max_tokens=1))
