"""Helpers shared by the chain contract tests: wallets and a subnet ready for a test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import chain
from chain import ChainError
from chain.dev.accounts import genesis
from chain.dev.machine import DevChain
from chain.dev.params import GenesisConfig
from chain.dev.service import DevChainService
from chain.dev.signing import sign
from chain.dev.store import Store

ALICE = chain.dev_wallet("//Alice")  # the sudo key, and the owner of every test subnet
BOB = chain.dev_wallet("//Bob")
POOR = chain.dev_wallet("//Nobody")  # a coldkey with no balance


def neuron(i: int, coldkey: str = "//Bob") -> chain.DevWallet:
    return chain.dev_wallet(coldkey, f"{coldkey}//neuron{i}")


# A subnet where a test can register several neurons in one block and set weights at once.
EASY = {
    "max_regs_per_block": 64,
    "weights_rate_limit": 0,
    "commit_reveal_weights_enabled": False,
    "immunity_period": 0,
}


async def make_subnet(c, **params) -> int:
    netuid = await c.create_subnet(ALICE)
    for name, value in {**EASY, **params}.items():
        await c.set_hyperparameter(ALICE, netuid, name, value)
    return netuid


async def register_all(c, netuid: int, wallets) -> list[int]:
    return [await c.register(w, netuid) for w in wallets]


async def state_of(c, netuid: int, *addresses: str) -> tuple:
    """Everything a refused call must leave as it was."""
    metagraph = await c.metagraph(netuid)
    balances = [await c.balance(a) for a in addresses]
    return (
        metagraph.hotkeys,
        metagraph.coldkeys,
        metagraph.stake.tolist(),
        metagraph.last_update.tolist(),
        metagraph.axons,
        balances,
        await c.hyperparameters(netuid),
    )


SEED = b"machine tests seed, thirty-two b"


class Dev:
    """A DevChain driven synchronously: sign with the account's next nonce and submit."""

    def __init__(self, config: GenesisConfig | None = None):
        self.chain = DevChain(genesis(config, SEED))

    def tx(self, keypair, call: str, **args) -> dict:
        nonce = self.chain.nonce(keypair.ss58_address)
        return self.chain.submit(sign(keypair, self.chain.state.genesis_hash, call, args, nonce))

    def subnet(self, **params) -> int:
        netuid = self.tx(ALICE.coldkey, "register_network", hotkey=ALICE.hotkey.ss58_address)[
            "netuid"
        ]
        for name, value in {**EASY, **params}.items():
            self.tx(ALICE.coldkey, "set_hyperparameter", netuid=netuid, name=name, value=value)
        return netuid

    def register(self, netuid: int, *wallets) -> list[int]:
        return [
            self.tx(w.coldkey, "burned_register", netuid=netuid, hotkey=w.hotkey.ss58_address)[
                "uid"
            ]
            for w in wallets
        ]

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.chain.produce_block()


def refused(code: str):
    return pytest.raises(ChainError, match=f"^{code}:")


async def refused_call(awaitable, code: str) -> None:
    """Await a chain call that must be refused with `code`."""
    with pytest.raises(ChainError) as caught:
        await awaitable
    assert caught.value.code == code, caught.value


REPO = Path(__file__).resolve().parents[2]
NODE_START_TIMEOUT = 20.0


def node_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "chain.dev.node", "--port", "0", *args]


class Node:
    """A `subnet devchain` subprocess on a free port, found by reading its first line."""

    def __init__(self, *args: str):
        self.args = args
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.startup_lines: list[str] = []  # what it printed up to "listening on"

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
            self.startup_lines.append(line)
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


# -- stores --------------------------------------------------------------------------------

STORE_SEED = b"store tests seed, thirty-two byt"


def store_genesis():
    return genesis(seed=STORE_SEED)


def opened(path) -> tuple[Store, DevChainService]:
    """The store at `path` (created when absent) and a service over the chain it holds."""
    store, machine = Store.open(str(path), store_genesis)
    return store, DevChainService(machine, store)


async def transfer(service: DevChainService, amount: int) -> dict:
    """Bob pays Alice `amount` through the service, with Bob's next nonce."""
    state = service.state
    nonce = state.nonces.get(BOB.coldkey.ss58_address, 0)
    args = {"dest": ALICE.coldkey.ss58_address, "amount": amount}
    tx = sign(BOB.coldkey, state.genesis_hash, "transfer", args, nonce)
    return await service.handle("submit", {"tx": tx.to_dict()})


def stored_form(service: DevChainService) -> str:
    return json.dumps(service.state.to_dict(), sort_keys=True)
