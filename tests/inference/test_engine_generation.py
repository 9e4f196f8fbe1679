"""Engine.generate: what a completion holds and how generation ends."""

from __future__ import annotations

import asyncio

import pytest
import torch
from inference_cases import request_for

from inference.engine import Engine, EngineBusy, EngineClosed, EngineConfig
from inference.types import GenerationRequest


def _model_logprobs(loaded, prompt_ids, token_ids) -> list[float]:
    """Logprobs of token_ids by one plain forward pass: the definition in inference.types."""
    ids = torch.tensor([[*prompt_ids, *token_ids]])
    with torch.no_grad():
        logits = loaded.model(input_ids=ids).logits[0].float()
    lp = torch.log_softmax(logits, dim=-1)
    start = len(prompt_ids) - 1
    return [lp[start + i, t].item() for i, t in enumerate(token_ids)]


async def test_logprobs_are_log_softmax_of_the_raw_logits(engine, honest_model):
    completion = await engine.generate(request_for(0, temperature=1.5, seed=7))
    expected = _model_logprobs(honest_model, completion.prompt_token_ids, completion.token_ids)
    assert completion.logprobs == pytest.approx(expected, abs=1e-4)


async def test_greedy_tokens_are_the_most_likely_ones(engine):
    completion = await engine.generate(request_for(3, top_logprobs=3))
    for token, alternatives in zip(completion.token_ids, completion.top_logprobs, strict=True):
        assert alternatives[0].token_id == token


async def test_top_logprobs_lists_the_requested_number_in_decreasing_order(engine):
    completion = await engine.generate(request_for(4, top_logprobs=5, max_tokens=8))
    assert len(completion.top_logprobs) == len(completion.token_ids)
    for alternatives in completion.top_logprobs:
        values = [a.logprob for a in alternatives]
        assert len(values) == 5
        assert values == sorted(values, reverse=True)


async def test_generation_stops_on_end_of_sequence_and_keeps_it_in_the_tokens(engine):
    eos = engine.tokenizer.eos_token_id
    completion = await engine.generate(request_for(0, max_tokens=200))
    assert completion.finish_reason == "stop"
    assert completion.token_ids[-1] == eos
    assert eos not in completion.token_ids[:-1]
    assert "<|eos|>" not in completion.text


async def test_generation_ends_with_length_at_max_tokens(engine):
    completion = await engine.generate(request_for(2, max_tokens=5, ignore_eos=True))
    assert completion.finish_reason == "length"
    assert len(completion.token_ids) == 5


async def test_usage_counts_prompt_and_completion_tokens(engine):
    completion = await engine.generate(request_for(1))
    usage = completion.usage
    assert usage.prompt_tokens == len(completion.prompt_token_ids)
    assert usage.completion_tokens == len(completion.token_ids)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_a_stop_string_ends_generation_and_is_cut_from_the_text(engine):
    free = await engine.generate(request_for(0, max_tokens=40))
    stop = free.text[3:5]  # two characters the model is known to write here
    completion = await engine.generate(request_for(0, max_tokens=40, stop=(stop,)))
    assert completion.finish_reason == "stop"
    assert completion.text == free.text[: free.text.find(stop)]
    assert stop in engine.tokenizer.decode(completion.token_ids)


async def test_ignore_eos_generates_past_end_of_sequence(engine):
    completion = await engine.generate(request_for(0, max_tokens=100, ignore_eos=True))
    assert len(completion.token_ids) == 100
    assert engine.tokenizer.eos_token_id in completion.token_ids


async def test_the_same_seed_gives_the_same_sample(engine):
    request = request_for(6, temperature=1.0, seed=42, max_tokens=32)
    first, second = await engine.generate(request), await engine.generate(request)
    assert first.token_ids == second.token_ids


async def test_different_seeds_give_different_samples(engine):
    samples = await asyncio.gather(
        *(engine.generate(request_for(6, temperature=1.5, seed=s, max_tokens=32)) for s in range(6))
    )
    assert len({s.token_ids for s in samples}) > 1


async def test_a_tiny_top_p_samples_the_greedy_tokens(engine):
    greedy = await engine.generate(request_for(8))
    nucleus = await engine.generate(request_for(8, temperature=1.0, top_p=1e-6, seed=3))
    assert nucleus.token_ids == greedy.token_ids


async def test_an_engine_at_max_pending_refuses_at_once(honest_model):
    async with Engine(honest_model, EngineConfig(max_pending=2)) as engine:
        running = [
            asyncio.create_task(engine.generate(request_for(i, max_tokens=50, ignore_eos=True)))
            for i in range(2)
        ]
        await asyncio.sleep(0)
        with pytest.raises(EngineBusy, match="max_pending"):
            await engine.generate(request_for(3))
        await asyncio.gather(*running)


async def test_closing_the_engine_fails_requests_in_flight(honest_model):
    engine = Engine(honest_model)
    task = asyncio.create_task(engine.generate(request_for(0, max_tokens=900, ignore_eos=True)))
    await asyncio.sleep(0.05)
    await engine.close()
    with pytest.raises(EngineClosed):
        await task


async def test_a_closed_engine_refuses_new_requests(honest_model):
    engine = Engine(honest_model)
    await engine.close()
    with pytest.raises(EngineClosed):
        await engine.generate(GenerationRequest(prompt="the", max_tokens=2))
