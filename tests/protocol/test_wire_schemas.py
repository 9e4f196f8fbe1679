"""OpenAI-compatible bodies: what is refused, and that OpenAI's own types parse our answers."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from protocol.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    CompletionRequest,
)

CHAT: dict[str, Any] = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}
LOGPROBS = {
    "content": [
        {
            "token": "Hi",
            "logprob": -0.1,
            "token_id": 17,
            "top_logprobs": [
                {"token": "Hi", "logprob": -0.1, "token_id": 17},
                {"token": "Hey", "logprob": -2.5, "token_id": 23},
            ],
        }
    ]
}
CHAT_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "tiny",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi"},
            "finish_reason": "stop",
            "logprobs": LOGPROBS,
            "token_ids": [17],
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    "prompt_token_ids": [5, 6, 7],
}
TEXT_RESPONSE: dict[str, Any] = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 1,
    "model": "tiny",
    "choices": [
        {
            "index": 0,
            "text": "Hi",
            "finish_reason": "length",
            "logprobs": {
                "tokens": ["Hi"],
                "token_logprobs": [-0.1],
                "top_logprobs": [{"Hi": -0.1, "Hey": -2.5}],
                "text_offset": [0],
                **LOGPROBS,
            },
            "token_ids": [17],
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "tiny",
    "choices": [{"index": 0, "delta": {"content": "Hi"}, "token_ids": [17], "logprobs": LOGPROBS}],
}


def refused_fields(model: type, body: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return {".".join(str(p) for p in error["loc"]) for error in caught.value.errors()}


def test_chat_request_accepts_openai_fields_and_text_parts() -> None:
    request = ChatCompletionRequest.model_validate(
        {
            **CHAT,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
            ],
            "max_completion_tokens": 5,
            "logprobs": True,
            "top_logprobs": 3,
            "seed": 7,
            "stop": ["\n"],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    assert request.messages[1].text() == "ab" and request.token_limit() == 5
    assert request.stop_sequences() == ["\n"]


def test_negative_max_tokens_is_refused() -> None:
    assert refused_fields(ChatCompletionRequest, {**CHAT, "max_tokens": -1}) == {"max_tokens"}
    assert refused_fields(CompletionRequest, {"model": "m", "prompt": "x", "max_tokens": -5}) == {
        "max_tokens"
    }


def test_unknown_role_is_refused() -> None:
    body = {**CHAT, "messages": [{"role": "wizard", "content": "hi"}]}
    assert refused_fields(ChatCompletionRequest, body) == {"messages.0.role"}


def test_unsupported_parameter_is_refused_rather_than_ignored() -> None:
    assert refused_fields(ChatCompletionRequest, {**CHAT, "tools": []}) == {"tools"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"messages": []}, "messages"),
        ({"n": 2}, "n"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
        ({"model": ""}, "model"),
    ],
)
def test_out_of_range_chat_parameters_are_refused(change: dict[str, Any], field: str) -> None:
    assert field in refused_fields(ChatCompletionRequest, {**CHAT, **change})


def test_top_logprobs_without_logprobs_is_refused() -> None:
    with pytest.raises(ValidationError, match="top_logprobs needs logprobs"):
        ChatCompletionRequest.model_validate({**CHAT, "top_logprobs": 2})


def test_more_than_four_stop_sequences_are_refused() -> None:
    with pytest.raises(ValidationError, match="at most 4"):
        ChatCompletionRequest.model_validate({**CHAT, "stop": list("abcde")})


def test_text_request_takes_prompt_token_ids_but_not_negative_ones() -> None:
    assert CompletionRequest.model_validate({"model": "m", "prompt": [1, 2]}).max_tokens == 16
    with pytest.raises(ValidationError, match=">= 0"):
        CompletionRequest.model_validate({"model": "m", "prompt": [1, -2]})


def test_response_token_ids_must_pair_with_logprob_entries() -> None:
    body = {**CHAT_RESPONSE, "choices": [{**CHAT_RESPONSE["choices"][0], "token_ids": [17, 18]}]}
    with pytest.raises(ValidationError, match="must pair up"):
        ChatCompletion.model_validate(body)


def test_usage_total_must_add_up() -> None:
    body = {
        **CHAT_RESPONSE,
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 9},
    }
    with pytest.raises(ValidationError, match="total_tokens"):
        ChatCompletion.model_validate(body)


def test_extensions_round_trip_through_our_schema() -> None:
    parsed = ChatCompletion.model_validate(CHAT_RESPONSE)
    entry = parsed.choices[0].logprobs.content[0]  # type: ignore[union-attr]
    assert parsed.choices[0].token_ids == [17] and parsed.prompt_token_ids == [5, 6, 7]
    assert (entry.token_id, [t.token_id for t in entry.top_logprobs]) == (17, [17, 23])
