"""Fixtures for the chain tests: one dev chain node per module, and a `harness` that gives the
contract tests the same API over dev:memory, that node, and SubtensorChain on a fake
substrate."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import chain
from chain.dev.params import GenesisConfig

REPO = Path(__file__).resolve().parents[2]
SEED = b"subnetkit chain tests seed 32 b!"
NODE_START_TIMEOUT = 20.0


def node_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "chain.dev.node", "--port", "0", *args]


class Node:
    """A `subnet devchain` subprocess on a free port, found by reading its first line."""

    def __init__(self, *args: str):
        self.args = args
        self.process: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> Node:
        self.process = subprocess.Popen(
            node_command(*self.args),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + NODE_START_TIMEOUT
        line = ""
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if match:
                self.port = int(match.group(1))
                return self
            if not line and self.process.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"dev chain node did not start: {line!r}")

    @property
    def network(self) -> str:
        return f"dev://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()


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
