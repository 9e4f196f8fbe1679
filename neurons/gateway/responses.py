"""What the user gets back: a miner's answer as OpenAI sends it, without the subnet's proof.

The proof (token ids, prompt token ids, and per-token logprobs the user did not ask for) is
for the validator; the user sees OpenAI's fields, with `model` the name they asked for.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from neurons import translate
from protocol import schemas as wire

_PROOF_FIELDS = ("prompt_token_ids",)
_CHOICE_PROOF_FIELDS = ("token_ids",)


def wants_logprobs(body: translate.WireRequest) -> bool:
    if isinstance(body, wire.ChatCompletionRequest):
        return body.logprobs
    return body.logprobs is not None


def wants_stream_usage(body: translate.WireRequest) -> bool:
    return body.stream_options is not None and body.stream_options.include_usage


def user_view(
    response: BaseModel, body: translate.WireRequest, model: str, *, usage: bool = True
) -> dict[str, Any]:
    """The response (or stream chunk) as the user sees it."""
    data = response.model_dump(mode="json")
    for name in _PROOF_FIELDS:
        data.pop(name, None)
    data["model"] = model
    if not usage:
        data.pop("usage", None)
    keep_logprobs = wants_logprobs(body)
    for choice in data.get("choices", []):
        for name in _CHOICE_PROOF_FIELDS:
            choice.pop(name, None)
        if not keep_logprobs:
            choice["logprobs"] = None
    return data


def event(data: dict[str, Any]) -> bytes:
    """One server-sent event, as OpenAI frames them."""
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
