"""Benchmark of the dev chain: set_weights throughput through the node against in-process, and
the time of a block that runs an epoch.

Subnet of 256 neurons, 64 of them validators with stake and permits, commit-reveal off, rate
limit 0. Each round, all 64 validators set weights on all 256 uids concurrently.

1. set_weights transactions per second on `dev:memory` (the state machine called in-process:
   the baseline) and through a `subnet devchain` node started here (JSON-RPC over HTTP, sr25519
   checks, SQLite commit before every answer). The ratio is the node's overhead.
2. Time of one block that runs the subnet's epoch (tempo 1: every block is an epoch block),
   in-process and through the node, against a block with no epoch.

Target: an epoch block at 256/64 under 50 ms, so 0.25 s blocks stay on time.
Usage: python scripts/bench/chain.py [--quick]. Medians; the last line is one JSON object.
"""

from __future__ import annotations

import os
import sys

# This file is named chain.py: run as a script, its folder would shadow the `chain` package it
# measures. Drop that folder from the import path before importing anything else.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import chain  # noqa: E402

NEURONS = 256
VALIDATORS = 64
EPOCH_TARGET_MS = 50.0
SLOW_TEMPO = 10_000  # no epoch while throughput is measured
STAKE_TAO = 1_000
SEED = 11
REPO = Path(__file__).resolve().parents[2]
NODE_START_TIMEOUT = 30.0

ALICE = chain.dev_wallet("//Alice")


def hotkeys(count: int) -> list[chain.DevWallet]:
    return [chain.dev_wallet("//Bob", f"//Bob//bench{i}") for i in range(count)]


async def build_subnet(c, wallets) -> int:
    """256 neurons, 64 staked validators holding permits, no commit-reveal, no rate limit."""
    netuid = await c.create_subnet(ALICE)
    settings = {
        "max_regs_per_block": NEURONS,
        "weights_rate_limit": 0,
        "commit_reveal_weights_enabled": False,
        "immunity_period": 0,
        "tempo": 1,
    }
    for name, value in settings.items():
        await c.set_hyperparameter(ALICE, netuid, name, value)
    for wallet in wallets:
        await c.register(wallet, netuid)
    for wallet in wallets[: VALIDATORS - 1]:  # the owner's hotkey is the 64th validator
        await c.add_stake(wallets[0], netuid, wallet.hotkey.ss58_address, STAKE_TAO)
    await c.mine(1)  # one epoch hands out the permits
    await c.set_hyperparameter(ALICE, netuid, "tempo", SLOW_TEMPO)
    permits = int((await c.metagraph(netuid)).validator_permit.sum())
    if permits != VALIDATORS:
        raise RuntimeError(f"expected {VALIDATORS} permits, got {permits}")
    return netuid


async def weights_round(c, netuid: int, validators, rng: random.Random) -> None:
    uids = list(range(NEURONS))
    rows = [[rng.random() for _ in uids] for _ in validators]
    await asyncio.gather(
        *(c.set_weights(v, netuid, uids, row) for v, row in zip(validators, rows, strict=True))
    )


async def measure_throughput(c, netuid: int, validators, rounds: int, repeats: int) -> float:
    rng = random.Random(SEED)
    await weights_round(c, netuid, validators, rng)  # warm caches and connections
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(rounds):
            await weights_round(c, netuid, validators, rng)
        rates.append(rounds * len(validators) / (time.perf_counter() - start))
    return statistics.median(rates)


async def measure_blocks(c, netuid: int, tempo: int, blocks: int) -> float:
    await c.set_hyperparameter(ALICE, netuid, "tempo", tempo)
    times = []
    for _ in range(blocks):
        start = time.perf_counter()
        await c.mine(1)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


async def run_backend(c, rounds: int, repeats: int, blocks: int) -> dict:
    wallets = hotkeys(NEURONS - 1)
    netuid = await build_subnet(c, wallets)
    validators = [ALICE, *wallets[: VALIDATORS - 1]]
    tps = await measure_throughput(c, netuid, validators, rounds, repeats)
    plain_ms = await measure_blocks(c, netuid, SLOW_TEMPO, blocks)
    epoch_ms = await measure_blocks(c, netuid, 1, blocks)
    await c.close()
    return {"tps": tps, "plain_block_ms": plain_ms, "epoch_block_ms": epoch_ms}


def start_node(db: str) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "chain.dev.node", "--port", "0", "--db", db, "--manual"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + NODE_START_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            return process, f"dev://127.0.0.1:{match.group(1)}"
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError("the dev chain node did not start")


async def main_async(quick: bool) -> dict:
    rounds, repeats, blocks = (2, 3, 5) if quick else (5, 5, 15)
    memory = await run_backend(chain.connect("dev:memory"), rounds, repeats, blocks)
    with tempfile.TemporaryDirectory() as tmp:
        process, network = start_node(os.path.join(tmp, "bench.sqlite"))
        try:
            node = await run_backend(chain.connect(network), rounds, repeats, blocks)
        finally:
            process.terminate()
            process.wait(timeout=10)
    return {
        "bench": "chain",
        "neurons": NEURONS,
        "validators": VALIDATORS,
        "set_weights_tps_memory": round(memory["tps"], 1),
        "set_weights_tps_node": round(node["tps"], 1),
        "node_overhead_ratio": round(memory["tps"] / node["tps"], 2),
        "epoch_block_ms_memory": round(memory["epoch_block_ms"], 2),
        "epoch_block_ms_node": round(node["epoch_block_ms"], 2),
        "plain_block_ms_memory": round(memory["plain_block_ms"], 2),
        "plain_block_ms_node": round(node["plain_block_ms"], 2),
        "epoch_target_ms": EPOCH_TARGET_MS,
        "epoch_block_on_time": memory["epoch_block_ms"] < EPOCH_TARGET_MS
        and node["epoch_block_ms"] < EPOCH_TARGET_MS,
        "quick": quick,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and blocks")
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args.quick))
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
