"""Fixtures for the chain tests: one dev chain node per module, and a `harness` that gives the
contract tests the same API over dev:memory, that node, and SubtensorChain on a fake
substrate."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from chain_helpers import Node

import chain
from chain.dev.params import GenesisConfig

SEED = b"subnetkit chain tests seed 32 b!"


@pytest.fixture(scope="module")
def node():
    running = Node("--manual").start()
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Harness:
    """One chain under test and what the contract tests need to drive it."""

    kind: str
    chain: object
    mine_fn: object
    features: set = field(default_factory=set)

    async def mine(self, blocks: int = 1) -> None:
        await self.mine_fn(blocks)

    def requires(self, feature: str, reason: str) -> None:
        if feature not in self.features:
            pytest.skip(f"{self.kind}: {reason}")


DEV_FEATURES = {"sudo", "commit_reveal", "weights_read", "owner_cut", "max_weight_refusal"}


@pytest.fixture(params=["memory", "node", "subtensor"])
async def harness(request):
    kind = request.param
    if kind == "memory":
        client = chain.connect("dev:memory", seed=SEED, config=GenesisConfig())
        yield Harness(kind, client, client.mine, DEV_FEATURES)
        await client.close()
    elif kind == "node":
        node = request.getfixturevalue("node")
        client = chain.connect(node.network)
        snapshot = await client.snapshot()
        try:
            yield Harness(kind, client, client.mine, DEV_FEATURES)
        finally:
            await client.revert(snapshot)
            await client.close()
    else:
        from chain_fake_substrate import fake_subtensor_chain

        # The SDK caches token symbols on disk when it connects; keep that out of $HOME.
        cache = request.getfixturevalue("tmp_path") / "token_symbols.json"
        request.getfixturevalue("monkeypatch").setenv("BTCLI_TOKEN_SYMBOLS_CACHE", str(cache))
        client, fake = fake_subtensor_chain(SEED)
        yield Harness(kind, client, fake.mine, {"sudo", "weights_read", "owner_cut"})
        await client.close()
