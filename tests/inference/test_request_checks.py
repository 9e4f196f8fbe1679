"""Requests are checked, with a message that says what to fix, before any model work."""

from __future__ import annotations

import pytest

from inference.prompts import Limits, encode_prompt, prepare
from inference.types import GenerationRequest, InvalidRequest

BAD_FIELDS = {
    "neither prompt nor messages": ({}, "exactly one"),
    "both prompt and messages": (
        {"prompt": "a", "messages": [{"role": "user", "content": "a"}]},
        "exactly one",
    ),
    "empty prompt": ({"prompt": ""}, "empty"),
    "no messages": ({"messages": []}, "empty"),
    "only empty messages": ({"messages": [{"role": "user", "content": ""}]}, "empty"),
    "message without role": ({"messages": [{"content": "a"}]}, "role and content"),
    "zero max_tokens": ({"prompt": "a", "max_tokens": 0}, "at least 1"),
    "negative max_tokens": ({"prompt": "a", "max_tokens": -3}, "at least 1"),
    "negative temperature": ({"prompt": "a", "temperature": -0.1}, "temperature"),
    "zero top_p": ({"prompt": "a", "top_p": 0.0}, "top_p"),
    "top_p above one": ({"prompt": "a", "top_p": 1.5}, "top_p"),
    "negative seed": ({"prompt": "a", "seed": -1}, "seed"),
    "empty stop string": ({"prompt": "a", "stop": ("",)}, "stop"),
    "too many top_logprobs": ({"prompt": "a", "top_logprobs": 21}, "top_logprobs"),
}


@pytest.mark.parametrize("case", BAD_FIELDS, ids=list(BAD_FIELDS))
def test_a_request_with_bad_fields_is_refused_when_built(case):
    fields, message = BAD_FIELDS[case]
    with pytest.raises(InvalidRequest, match=message):
        GenerationRequest(**fields)


def test_invalid_request_is_a_value_error():
    assert issubclass(InvalidRequest, ValueError)


def test_a_prompt_longer_than_the_context_is_refused(honest_model):
    limits = Limits(context_length=32, max_new_tokens=8)
    request = GenerationRequest(prompt="x" * 40, max_tokens=1)
    with pytest.raises(InvalidRequest, match="shorten the prompt"):
        prepare(honest_model.tokenizer, request, limits)


def test_max_tokens_above_what_the_context_leaves_is_refused(honest_model):
    limits = Limits(context_length=32, max_new_tokens=100)
    request = GenerationRequest(prompt="x" * 20, max_tokens=20)  # 21 prompt tokens + 20 > 32
    with pytest.raises(InvalidRequest, match="lower max_tokens"):
        prepare(honest_model.tokenizer, request, limits)


def test_max_tokens_above_the_configured_limit_is_refused(honest_model):
    limits = Limits(context_length=1024, max_new_tokens=16)
    with pytest.raises(InvalidRequest, match="at most 16 new tokens"):
        prepare(honest_model.tokenizer, GenerationRequest(prompt="a", max_tokens=17), limits)


def test_chat_requests_go_through_the_chat_template(honest_model):
    tokenizer = honest_model.tokenizer
    request = GenerationRequest(messages=[{"role": "user", "content": "hi"}])
    ids = encode_prompt(tokenizer, request)
    assert tokenizer.decode(ids) == "<|bos|><|user|>hi<|eos|><|assistant|>"


def test_a_role_the_chat_template_refuses_is_an_invalid_request(honest_model):
    request = GenerationRequest(messages=[{"role": "tool", "content": "hi"}])
    with pytest.raises(InvalidRequest, match="roles must be system, user or assistant"):
        encode_prompt(honest_model.tokenizer, request)


BAD_FOR_ENGINE = {
    "prompt longer than the context": {"prompt": "x" * 1100, "max_tokens": 1},
    "max_tokens above the limit": {"prompt": "a", "max_tokens": 5000},
    "role refused by the template": {"messages": [{"role": "tool", "content": "a"}]},
}


@pytest.mark.parametrize("case", BAD_FOR_ENGINE, ids=list(BAD_FOR_ENGINE))
async def test_the_engine_refuses_bad_requests_without_running_the_model(
    case, engine, forward_calls
):
    with pytest.raises(InvalidRequest):
        await engine.generate(GenerationRequest(**BAD_FOR_ENGINE[case]))
    with pytest.raises(InvalidRequest):
        async for _ in engine.stream(GenerationRequest(**BAD_FOR_ENGINE[case])):
            pass
    assert forward_calls == []
    assert engine.pending == 0
