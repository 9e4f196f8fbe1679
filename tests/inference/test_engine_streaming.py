"""Engine.stream: tokens as they are produced, adding up to the completion."""

from __future__ import annotations

import asyncio

from inference_cases import request_for


async def _collect(engine, request):
    return [delta async for delta in engine.stream(request)]


async def test_stream_deltas_add_up_to_the_completion(engine):
    request = request_for(1, max_tokens=30)
    deltas = await _collect(engine, request)
    completion = deltas[-1].completion
    assert completion == await engine.generate(request)
    assert "".join(d.text for d in deltas) == completion.text
    assert tuple(d.token_id for d in deltas) == completion.token_ids
    assert tuple(d.logprob for d in deltas) == completion.logprobs


async def test_only_the_last_delta_carries_the_completion(engine):
    deltas = await _collect(engine, request_for(3, max_tokens=12))
    assert [d.completion is not None for d in deltas] == [False] * (len(deltas) - 1) + [True]


async def test_a_stream_never_shows_text_of_a_stop_string(engine):
    free = await engine.generate(request_for(0, max_tokens=40))
    stop = free.text[4:7]
    deltas = await _collect(engine, request_for(0, max_tokens=40, stop=(stop,)))
    streamed = "".join(d.text for d in deltas)
    assert stop not in streamed
    assert streamed == deltas[-1].completion.text


async def test_a_stream_closed_early_leaves_the_engine(engine, forward_calls):
    stream = engine.stream(request_for(0, max_tokens=900, ignore_eos=True))
    async for _ in stream:
        break
    await stream.aclose()
    deadline = asyncio.get_running_loop().time() + 5.0
    while engine.pending and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert engine.pending == 0
    assert len(forward_calls) < 100  # running to the end would take 900 decode steps
