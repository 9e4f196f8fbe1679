"""Any OpenAI client can talk to a miner: OpenAI's own types parse our bodies, and the OpenAI
client itself, signing through EpistulaAuth, completes and streams against a live server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from protocol_support import MINER, VALIDATOR, RecordingHandler, build_app, running_server

from protocol.client import EpistulaAuth
from protocol.schemas import ChatCompletion, ChatCompletionChunk, Completion

openai = pytest.importorskip(
    "openai", reason="the OpenAI client package is an optional test dependency"
)

TOKEN = {
    "token": "Hi",
    "logprob": -0.1,
    "token_id": 17,
    "top_logprobs": [
        {"token": "Hi", "logprob": -0.1, "token_id": 17},
        {"token": "Hey", "logprob": -2.5, "token_id": 23},
    ],
}
USAGE = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}


def test_openai_types_parse_our_chat_completion_and_keep_the_extensions() -> None:
    ours = ChatCompletion(
        id="c",
        created=1,
        model="tiny",
        choices=[
            {
                "message": {"content": "Hi"},
                "finish_reason": "stop",
                "logprobs": {"content": [TOKEN]},
                "token_ids": [17],
            }
        ],
        usage=USAGE,
    ).model_dump_json()
    theirs = openai.types.chat.ChatCompletion.model_validate_json(ours)
    assert theirs.choices[0].message.content == "Hi"
    assert theirs.choices[0].logprobs.content[0].top_logprobs[1].token == "Hey"
    assert theirs.choices[0].model_extra["token_ids"] == [17]


def test_openai_types_parse_our_stream_chunk() -> None:
    ours = ChatCompletionChunk(
        id="c", created=1, model="tiny", choices=[{"delta": {"content": "Hi"}, "token_ids": [17]}]
    ).model_dump_json()
    theirs = openai.types.chat.ChatCompletionChunk.model_validate_json(ours)
    assert theirs.choices[0].delta.content == "Hi"


def test_openai_types_parse_our_text_completion() -> None:
    ours = Completion(
        id="t",
        created=1,
        model="tiny",
        choices=[
            {
                "text": "Hi",
                "finish_reason": "length",
                "logprobs": {
                    "tokens": ["Hi"],
                    "token_logprobs": [-0.1],
                    "top_logprobs": [{"Hi": -0.1, "Hey": -2.5}],
                    "text_offset": [0],
                    "content": [TOKEN],
                },
                "token_ids": [17],
            }
        ],
        usage=USAGE,
    ).model_dump_json()
    theirs = openai.types.Completion.model_validate_json(ours)
    assert theirs.choices[0].text == "Hi" and theirs.choices[0].logprobs.tokens == ["Hi"]


@pytest.fixture
def live_url() -> Iterator[str]:
    with running_server(build_app(RecordingHandler())) as url:
        yield url


def openai_client(url: str) -> Any:
    signer = httpx.AsyncClient(auth=EpistulaAuth(VALIDATOR, signed_for=MINER.ss58_address))
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", http_client=signer)


async def test_openai_client_signing_through_the_auth_hook_gets_a_completion(live_url: str) -> None:
    client = openai_client(live_url)
    try:
        answer = await client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "Say hello."}], max_tokens=4
        )
    finally:
        await client.close()
    assert answer.choices[0].message.content == "Say hello."
    assert answer.usage.total_tokens == 5


async def test_openai_client_streams_and_stops_before_the_signature_trailer(live_url: str) -> None:
    client = openai_client(live_url)
    try:
        stream = await client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        words = [chunk.choices[0].delta.content async for chunk in stream]
    finally:
        await client.close()
    assert "".join(words) == "Hello, world"
