"""The gateway driven by the official `openai` client: chat and text, streamed and not."""

from __future__ import annotations

import pytest
from gateway_helpers import give_scores, serve_gateway

MESSAGES = [{"role": "user", "content": "Name a colour."}]


@pytest.fixture
async def served(subnet, tmp_path):
    await subnet.start_miner(subnet.miners[0])
    served = await serve_gateway(subnet, tmp_path)
    give_scores(served.validator, {subnet.uid_of(subnet.miners[0]): 0.5})
    try:
        yield served
    finally:
        await served.close()


async def test_chat_completion_answers_with_usage(served):
    async with served.client() as client:
        answer = await client.chat.completions.create(
            model=served.model, messages=MESSAGES, max_tokens=8, temperature=0
        )
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert answer.usage.completion_tokens >= 1
    assert answer.model == served.model


async def test_streamed_chat_arrives_in_chunks_with_usage(served):
    async with served.client() as client:
        stream = await client.chat.completions.create(
            model=served.model,
            messages=MESSAGES,
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    usage = [c.usage for c in chunks if c.usage is not None]
    tokens = [c for c in chunks if c.choices and c.choices[0].delta.content is not None]
    assert len(usage) == 1 and usage[0].completion_tokens == len(tokens)
    await served.gateway.settle()  # the whole stream, put together, is verified
    assert served.gateway.tally.verified == {"pass": 1}


async def test_text_completion_and_its_stream(served):
    async with served.client() as client:
        whole = await client.completions.create(
            model=served.model, prompt="Once upon a time", max_tokens=6, seed=7, temperature=0.8
        )
        stream = await client.completions.create(
            model=served.model,
            prompt="Once upon a time",
            max_tokens=6,
            seed=7,
            temperature=0.8,
            stream=True,
        )
        pieces = [chunk.choices[0].text async for chunk in stream if chunk.choices]
    assert "".join(pieces) == whole.choices[0].text
    await served.gateway.settle()
    assert served.gateway.tally.verified == {"pass": 2}


async def test_models_lists_the_served_model(served):
    async with served.client() as client:
        models = await client.models.list()
    assert [m.id for m in models.data] == [served.model]
