"""Fixtures for the neuron tests (helpers live in neuron_helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from neuron_helpers import HONEST_SEED, OTHER_SEED, Subnet, TinyModels, make_subnet

from inference.tiny import build_tiny_model


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    root = tmp_path_factory.mktemp("tiny")
    return TinyModels(
        honest=build_tiny_model(root / "honest", seed=HONEST_SEED),
        other=build_tiny_model(root / "other", seed=OTHER_SEED),
    )


@pytest.fixture
async def subnet(tiny_models, tmp_path) -> AsyncIterator[Subnet]:
    net = await make_subnet(tiny_models, tmp_path)
    try:
        yield net
    finally:
        await net.close()
