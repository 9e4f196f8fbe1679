"""Shared fixtures: the tiny models (built once per session), engines, verifiers, and honest
completions produced once and checked by several tests."""

from __future__ import annotations

import asyncio
import os

# Before anything imports the hub client: tests never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch
from inference_cases import CHEATER_SEED, HONEST_SEED, PROMPTS, request_for

from inference.engine import Engine
from inference.loading import load_model
from inference.tiny import build_tiny_model
from inference.verify import Verifier

# One thread: the tiny model gains little from more, and on a busy two-core machine extra
# threads spin against other processes (the suite ran twice as fast with one).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def honest_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-honest"), seed=HONEST_SEED)


@pytest.fixture(scope="session")
def cheater_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-cheater"), seed=CHEATER_SEED)


@pytest.fixture(scope="session")
def honest_model(honest_dir):
    return load_model(honest_dir)


@pytest.fixture(scope="session")
def cheater_model(cheater_dir):
    return load_model(cheater_dir)


@pytest.fixture(scope="session")
def verifier(honest_model):
    return Verifier.from_loaded(honest_model)


@pytest.fixture
async def engine(honest_model):
    async with Engine(honest_model) as running:
        yield running


@pytest.fixture
async def cheater_engine(cheater_model):
    async with Engine(cheater_model) as running:
        yield running


@pytest.fixture
def forward_calls(honest_model, monkeypatch):
    """Counts calls of the honest model's forward during a test."""
    calls = []
    original = honest_model.model.forward

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(honest_model.model, "forward", counting)
    return calls


def _honest_runs(loaded) -> dict:
    async def run() -> dict:
        async with Engine(loaded) as engine:
            greedy = [request_for(i) for i in range(len(PROMPTS))]
            sampled = [
                request_for(i, temperature=0.8 + 0.1 * (i % 3), top_p=0.9, seed=100 + i)
                for i in range(len(PROMPTS))
            ]
            runs = {
                "greedy": greedy,
                "sampled": sampled,
                "greedy_alone": [await engine.generate(r) for r in greedy],
                "sampled_alone": [await engine.generate(r) for r in sampled],
                "greedy_batched": {},
            }
            for size in range(1, len(PROMPTS) + 1):
                runs["greedy_batched"][size] = await asyncio.gather(
                    *(engine.generate(r) for r in greedy[:size])
                )
            runs["sampled_batched"] = await asyncio.gather(*(engine.generate(r) for r in sampled))
            return runs

    return asyncio.run(run())


@pytest.fixture(scope="session")
def honest_runs(honest_model) -> dict:
    """Honest completions of the PROMPTS requests: greedy alone and batched at every size
    1..16, and seeded samples alone and batched."""
    return _honest_runs(honest_model)
