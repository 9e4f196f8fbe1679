"""Out of accelerator memory: the batch that ran out fails with ModelOutOfMemory, later work
goes on. A model whose forward raises torch.OutOfMemoryError stands in for a full GPU."""

from __future__ import annotations

import asyncio

import pytest
import torch
from inference_cases import request_for

from inference.engine import Engine, EngineConfig
from inference.memory import release_memory
from inference.types import ModelOutOfMemory, VerifyItem

TORCH_MESSAGE = "CUDA out of memory. Tried to allocate 2.00 GiB\nallocator statistics ..."


@pytest.fixture
def out_of_memory(honest_model, monkeypatch):
    """The honest model's forward raises torch.OutOfMemoryError for its next `calls[0]` calls."""
    calls = [1]
    original = honest_model.model.forward

    def forward(*args, **kwargs):
        if calls[0] > 0:
            calls[0] -= 1
            raise torch.OutOfMemoryError(TORCH_MESSAGE)
        return original(*args, **kwargs)

    monkeypatch.setattr(honest_model.model, "forward", forward)
    return calls


def test_cuda_out_of_memory_is_torchs_out_of_memory_error():
    assert torch.cuda.OutOfMemoryError is torch.OutOfMemoryError


async def test_every_request_of_the_batch_that_ran_out_fails_with_a_typed_error(
    honest_model, out_of_memory
):
    async with Engine(honest_model, EngineConfig(batch_window_s=0.2)) as engine:
        outcomes = await asyncio.gather(
            *(engine.generate(request_for(i)) for i in range(3)), return_exceptions=True
        )
    assert all(isinstance(o, ModelOutOfMemory) for o in outcomes)
    assert outcomes[0].batch_size == 3
    assert "CUDA out of memory" in str(outcomes[0]) and "allocator" not in str(outcomes[0])
    assert "max_batch_size" in str(outcomes[0])


async def test_the_engine_serves_the_next_request_after_running_out(
    honest_model, honest_runs, out_of_memory
):
    async with Engine(honest_model) as engine:
        with pytest.raises(ModelOutOfMemory):
            await engine.generate(request_for(0))
        completion = await engine.generate(request_for(0))
        assert engine.pending == 0
    assert completion.token_ids == honest_runs["greedy_alone"][0].token_ids


async def test_requests_waiting_outside_the_batch_that_ran_out_are_served(
    honest_model, honest_runs, out_of_memory
):
    async with Engine(honest_model, EngineConfig(max_batch_size=1)) as engine:
        first, second = await asyncio.gather(
            engine.generate(request_for(0)), engine.generate(request_for(2)), return_exceptions=True
        )
    assert isinstance(first, ModelOutOfMemory) and first.batch_size == 1
    assert second.token_ids == honest_runs["greedy_alone"][2].token_ids


def test_the_verifier_raises_a_typed_error_and_verifies_the_next_call(
    verifier, honest_runs, out_of_memory
):
    items = [
        VerifyItem.of(honest_runs["greedy"][i], honest_runs["greedy_alone"][i]) for i in (0, 1)
    ]
    with pytest.raises(ModelOutOfMemory, match="verifying 2 completions") as raised:
        verifier.verify_many(items)
    assert raised.value.batch_size == 2
    assert all(verdict.ok for verdict in verifier.verify_many(items))


def test_releasing_memory_empties_the_cuda_cache_only_on_cuda(monkeypatch):
    emptied = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(1))
    release_memory(torch.device("cpu"))
    assert emptied == []
    release_memory(torch.device("cuda"))
    assert emptied == [1]
