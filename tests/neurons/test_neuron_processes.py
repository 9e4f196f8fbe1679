"""Neurons as the processes users run: a dev chain node, a miner and a validator.

The one test here that needs real processes: a validator killed with SIGKILL mid-run and
started again continues with the scores it had. It also covers both script entry points
(`python neurons/miner.py`, `python neurons/validator.py`) and a clean SIGTERM stop.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import bittensor
import pytest
from bittensor.keyfiles import Keypair
from neuron_helpers import FAST_SUBNET, TEMPO

import chain
from chain import DevWallet, dev_wallet

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
POLL_S = 0.2
BLOCK_TIME_S = "0.25"
ALPHA = "0.2"
# Above alpha / (1 - alpha): one more round cannot bring a score restarted from zero this high.
KEPT_AT_LEAST = 0.3
STOP_TIMEOUT_S = 30.0
FUNDER = "//Bob"


class Process:
    """A child process with its output in a file; always stopped by the ExitStack."""

    def __init__(self, args: list[str], log: Path, stack: ExitStack) -> None:
        self.log = log
        self.handle = log.open("w")
        self.proc = subprocess.Popen(
            args,
            cwd=REPO,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        stack.callback(self.kill)

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT_S) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output())
            if match:
                return match
            if self.proc.poll() is not None:
                break
            time.sleep(POLL_S)
        raise AssertionError(f"{pattern!r} not seen; output:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.handle.close()


def make_wallet(path: Path, name: str) -> DevWallet:
    """A wallet on disk (what the processes load), paid for by a funded dev coldkey."""
    wallet = bittensor.Wallet(name=name, hotkey="default", path=str(path))
    wallet.create_new_hotkey(use_password=False, suppress=True)
    return DevWallet(coldkey=Keypair.create_from_uri(FUNDER), hotkey=wallet.hotkey, name=name)


async def prepare_subnet(network: str, validator: DevWallet, miner: DevWallet) -> int:
    owner = dev_wallet("//Alice")
    client = chain.connect(network)
    try:
        netuid = await client.create_subnet(owner)
        for name, value in FAST_SUBNET.items():
            await client.set_hyperparameter(owner, netuid, name, value)
        for wallet in (validator, miner):
            await client.register(wallet, netuid)
        await client.add_stake(validator, netuid, validator.hotkey.ss58_address, 1000)
        await client.wait_for_block(await client.block() + TEMPO + 1)  # permits at the epoch
    finally:
        await client.close()
    return netuid


def read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def wait_for_state(path: Path, ready, timeout: float = START_TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(path)
        if state is not None and ready(state):
            return state
        time.sleep(POLL_S)
    raise AssertionError(f"validator state never got there: {read_state(path)}")


def miner_score(state: dict, hotkey: str) -> float:
    scores = state["scores"]
    return scores["scores"][scores["hotkeys"].index(hotkey)] if hotkey in scores["hotkeys"] else 0.0


@pytest.mark.slow
def test_validator_killed_mid_run_restarts_with_its_scores(tiny_models, tmp_path):
    with ExitStack() as stack:
        node = Process(
            [sys.executable, "-m", "chain.dev.node", "--port", "0", "--block-time", BLOCK_TIME_S],
            tmp_path / "node.log",
            stack,
        )
        port = node.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1)
        network = f"dev://127.0.0.1:{port}"
        wallets = tmp_path / "wallets"
        validator, miner = make_wallet(wallets, "validator"), make_wallet(wallets, "miner")
        netuid = asyncio.run(prepare_subnet(network, validator, miner))
        common = [
            "--netuid", str(netuid), "--subtensor.network", network,
            "--wallet.path", str(wallets), "--model", str(tiny_models.honest),
        ]  # fmt: skip
        miner_proc = Process(
            [sys.executable, "neurons/miner.py", *common, "--wallet.name", "miner",
             "--axon.ip", "127.0.0.1", "--axon.port", "0"],
            tmp_path / "miner.log",
            stack,
        )  # fmt: skip
        state_path = tmp_path / "validator_state.json"
        validator_args = [
            sys.executable, "neurons/validator.py", *common, "--wallet.name", "validator",
            "--validator.state_path", str(state_path), "--validator.round_interval", "0.3",
            "--validator.alpha", ALPHA, "--validator.weights_every", "5",
        ]  # fmt: skip
        # Started together: the validator's rounds find the miner once it has announced itself.
        first = Process(validator_args, tmp_path / "validator1.log", stack)
        hotkey = miner.hotkey.ss58_address
        before = wait_for_state(state_path, lambda s: miner_score(s, hotkey) > KEPT_AT_LEAST)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        at_kill = read_state(state_path)

        second = Process(validator_args, tmp_path / "validator2.log", stack)
        second.wait_for(rf"restored state from .*: round {at_kill['round']}")
        after = wait_for_state(state_path, lambda s: s["round"] > at_kill["round"])
        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(STOP_TIMEOUT_S) == 0
        miner_proc.proc.send_signal(signal.SIGTERM)
        assert miner_proc.proc.wait(STOP_TIMEOUT_S) == 0

    assert at_kill["round"] >= before["round"]
    kept = miner_score(at_kill, hotkey)
    # One more round moves a kept score by at most alpha; a lost one could reach only alpha.
    assert miner_score(after, hotkey) >= (1 - float(ALPHA)) * kept > float(ALPHA)
    assert "stopped; state saved" in second.output()
