"""Helpers for the owner tool tests: a fresh shared in-process dev chain per test, wallet
files on disk, and the fake SDK backend the chain tests use for the real-network path."""

from __future__ import annotations

import hashlib
import itertools
import sys
from pathlib import Path

import bittensor

import chain

# The chain tests' fake SDK substrate (a dev chain behind the SDK's `Substrate` interface).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "chain"))

from chain_fake_substrate import FakeSubstrate

FAKE_SEED = b"subnetkit owner tests seed 32 b!"
_names = itertools.count()


def fresh_network() -> str:
    """A dev:memory chain no other test shares (one per NAME within the process)."""
    return f"dev:memory:owner-{next(_names)}"


def fake_substrate() -> FakeSubstrate:
    return FakeSubstrate(FAKE_SEED)


def wallet_files(root: Path, name: str) -> bittensor.Wallet:
    """A wallet with an unencrypted coldkey and hotkey on disk, derived from `name`."""
    wallet = bittensor.Wallet(name=name, hotkey="default", path=str(root))
    seed = hashlib.sha256(f"cold {name}".encode()).hexdigest()
    wallet.regenerate_coldkey(seed=seed, use_password=False, suppress=True)
    seed = hashlib.sha256(f"hot {name}".encode()).hexdigest()
    wallet.regenerate_hotkey(seed=seed, use_password=False, suppress=True)
    return wallet


async def owner_of(network: str, netuid: int) -> str:
    client = chain.connect(network)
    try:
        return (await client.metagraph(netuid)).owner_coldkey
    finally:
        await client.close()


async def params_of(network: str, netuid: int):
    client = chain.connect(network)
    try:
        return await client.hyperparameters(netuid)
    finally:
        await client.close()
