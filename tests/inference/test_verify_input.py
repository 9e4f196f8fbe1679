"""Malformed completions are refused with a clear error before the verifier's model runs."""

from __future__ import annotations

import dataclasses

import pytest

from inference.types import (
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


@pytest.mark.parametrize("case", BAD_COMPLETIONS, ids=list(BAD_COMPLETIONS))
def test_a_malformed_completion_is_refused_before_the_model_runs(
    case, verifier, honest_runs, forward_calls
):
    changes, message = BAD_COMPLETIONS[case]
    item = dataclasses.replace(_good(honest_runs), **changes)
    with pytest.raises(InvalidCompletion, match=message):
        verifier.verify_many([item])
    assert forward_calls == []


def test_one_malformed_item_refuses_the_whole_batch_before_the_model_runs(
    verifier, honest_runs, forward_calls
):
    bad = dataclasses.replace(_good(honest_runs), logprobs=[])
    with pytest.raises(InvalidCompletion):
        verifier.verify_many([_good(honest_runs), bad])
    assert forward_calls == []


def test_a_request_whose_prompt_exceeds_the_context_is_refused(
    verifier, honest_runs, forward_calls
):
    item = dataclasses.replace(
        _good(honest_runs),
        request=dataclasses.replace(honest_runs["greedy"][0], prompt="x" * 1100, max_tokens=1),
    )
    with pytest.raises(InvalidRequest, match="shorten the prompt"):
        verifier.verify_many([item])
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
