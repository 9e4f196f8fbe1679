"""Batching: a request's completion does not depend on what else runs with it."""

from __future__ import annotations

import asyncio

from inference_cases import PROMPTS, request_for


def test_greedy_completions_in_batches_of_every_size_equal_the_requests_alone(honest_runs):
    alone = honest_runs["greedy_alone"]
    for size, batch in honest_runs["greedy_batched"].items():
        for i, completion in enumerate(batch):
            assert completion.token_ids == alone[i].token_ids, (size, i)
            assert completion.text == alone[i].text, (size, i)


def test_batched_logprobs_equal_the_requests_alone_within_float_noise(honest_runs):
    alone = honest_runs["greedy_alone"]
    batch = honest_runs["greedy_batched"][len(PROMPTS)]
    for solo, batched in zip(alone, batch, strict=True):
        assert max(abs(a - b) for a, b in zip(solo.logprobs, batched.logprobs, strict=True)) < 1e-4


def test_seeded_samples_in_a_batch_equal_the_same_seeds_alone(honest_runs):
    for solo, batched in zip(
        honest_runs["sampled_alone"], honest_runs["sampled_batched"], strict=True
    ):
        assert batched.token_ids == solo.token_ids


def test_batched_prompts_of_different_lengths_give_different_completions(honest_runs):
    # Guards the tests above: a model that ignored its prompt would pass them trivially.
    texts = {c.text for c in honest_runs["greedy_alone"]}
    assert len(texts) >= len(PROMPTS) // 2


async def test_a_request_joining_a_running_batch_equals_it_alone(engine):
    long_request = request_for(2, max_tokens=48, ignore_eos=True)
    short_request = request_for(5, max_tokens=6)
    long_alone = await engine.generate(long_request)
    short_alone = await engine.generate(short_request)

    finished_order = []
    seen_tokens = 0
    short_task = None
    async for delta in engine.stream(long_request):
        seen_tokens += 1
        if seen_tokens == 5:  # the long request is mid-flight: join it
            short_task = asyncio.create_task(engine.generate(short_request))
            short_task.add_done_callback(lambda _: finished_order.append("short"))
        if delta.completion is not None:
            finished_order.append("long")
            long_joined = delta.completion
    short_joined = await short_task

    assert long_joined.token_ids == long_alone.token_ids
    assert short_joined.token_ids == short_alone.token_ids
    assert finished_order == ["short", "long"]


async def _until_idle(engine, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while engine.pending and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)


async def test_a_cancelled_request_leaves_the_batch_and_others_finish(engine, forward_calls):
    slow = asyncio.create_task(engine.generate(request_for(0, max_tokens=900, ignore_eos=True)))
    other = asyncio.create_task(engine.generate(request_for(1, max_tokens=8)))
    await asyncio.sleep(0.05)
    slow.cancel()
    assert len((await other).token_ids) >= 1
    await _until_idle(engine)
    assert engine.pending == 0
    assert len(forward_calls) < 100  # running to the end would take 900 decode steps
