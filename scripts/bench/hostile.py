"""Benchmark of a miner under hostile traffic: does an honest validator still get served?

A real miner process (the tiny model, default `--axon.*` limits) on a dev chain node, and a
registered validator with a permit signing its requests from this process, from 127.0.0.1:

1. Quiet: the validator's signed requests (a short chat completion, two at a time); their
   latencies are the baseline, measured in this run.
2. Hostile: attacker processes open 20,000 idle TCP connections to the miner's port, spread
   over 400 other loopback addresses (50 each, under the per-address limit: the hard case),
   and keep 100 slow-drip clients sending a never-ending request head at 1 byte a second.
   They try to hold all of it: a connection the miner closes is opened again (drip clients at
   once, idle ones at up to REOPEN_PER_S a second: a persistent attacker with a modest connect
   rate). Meanwhile the validator sends the same requests again.

Each phase lasts PHASE_S seconds (longer than the miner's header timeout). Figures: the hostile
p50 latency over the quiet p50 (target: within 2x), requests refused or timed out (target:
none), the miner's RSS growth from the quiet phase to its peak in the hostile one (target: under
100 MB), its log growth from the quiet phase to its stop (target: under 1 MB), and what the
attackers got.

20,000 connections need as many file descriptors on the attacking side: each attacker process
raises its soft open-file limit up to the hard limit; on a machine whose hard limit is too low
the attack is scaled down to fit, and the output says so (`notes`, `fd_limits`).
Usage: python scripts/bench/hostile.py [--quick]. The last line is one JSON object.
"""

from __future__ import annotations

import os
import sys

# This folder holds protocol.py (the protocol benchmark): run as a script, it would shadow the
# `protocol` package the miner and its client use. Drop the folder from the import path first.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

IDLE_CONNECTIONS = 20_000
DRIP_CLIENTS = 100
ATTACK_SOURCES = 400  # loopback addresses the attack comes from (127.0.1.1 upwards)
ATTACK_PROCESSES = 2  # each with its own open-file limit
FILE_RESERVE = 256  # descriptors an attacker process keeps for itself
CONNECT_AT_ONCE = 512  # connects in flight per attacker process (the listen backlog is 2048)
REOPEN_PER_S = 200
DRIP_INTERVAL_S = 1.0
# Each phase lasts longer than the miner's header timeout (5 s), so the slow-drip clients and
# the idle connections are timed out and opened again while the validator is measured.
PHASE_S, QUICK_PHASE_S = 30.0, 12.0
HONEST_IN_FLIGHT = 2  # a validator's tasks_per_miner
HONEST_TIMEOUT_S = 12.0  # a validator's default --validator.timeout
WARMUP_REQUESTS = 6
MAX_TOKENS = 8
READY_TIMEOUT_S = 180.0
START_TIMEOUT_S = 120.0
TEMPO = 10
TARGET_P50_RATIO = 2.0
TARGET_RSS_GROWTH_MB = 100.0
TARGET_LOG_GROWTH_BYTES = 1_000_000
MB = 1024 * 1024
NODE_READY = "dev chain listening on"
MINER_READY = "serving "
SERVED_NAME = "subnet-model"
CHAT_PATH = "/v1/chat/completions"
DRIP_HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: miner\r\nX-Slow: "


# -- the attacker (a child process of this script) -------------------------------------------


@dataclass
class AttackStats:
    fd_soft_limit: int = 0
    fd_hard_limit: int = 0
    idle_wanted: int = 0
    idle_planned: int = 0
    idle_opened: int = 0
    idle_open_now: int = 0
    drip_opened: int = 0
    closed_by_miner: int = 0
    connect_failures: int = 0
    started: float = field(default_factory=time.monotonic)


def raise_own_file_limit(wanted: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class _Held(asyncio.Protocol):
    """One attacking connection: idle, or dripping a request head; it notes when it is closed."""

    def __init__(self, attack: Attack, drip: bool) -> None:
        self.attack, self.drip = attack, drip
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        if self.drip:
            transport.write(DRIP_HEAD)

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc) -> None:
        self.attack.lost(self)


class Attack:
    def __init__(self, port: int, sources: list[str], idle: int, drip: int) -> None:
        self.port, self.sources = port, sources
        self.stats = AttackStats(idle_wanted=idle)
        soft, hard = raise_own_file_limit(idle + drip + FILE_RESERVE)
        self.stats.fd_soft_limit, self.stats.fd_hard_limit = soft, hard
        self.stats.idle_planned = max(0, min(idle, soft - drip - FILE_RESERVE))
        self.drip = drip
        self.held: set[_Held] = set()
        self.reopen: asyncio.Queue[bool] = asyncio.Queue()
        self.stopping = False
        self._opening: set[asyncio.Task] = set()
        self._source = itertools.cycle(sources)
        self._gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def open(self, drip: bool) -> None:
        loop = asyncio.get_running_loop()
        async with self._gate:
            try:
                _, protocol = await loop.create_connection(
                    lambda: _Held(self, drip),
                    "127.0.0.1",
                    self.port,
                    local_addr=(next(self._source), 0),
                )
            except OSError:
                self.stats.connect_failures += 1
                return
        self.held.add(protocol)
        if drip:
            self.stats.drip_opened += 1
        else:
            self.stats.idle_opened += 1

    def lost(self, held: _Held) -> None:
        self.held.discard(held)
        if self.stopping:
            return
        self.stats.closed_by_miner += 1
        self.reopen.put_nowait(held.drip)

    async def drip_bytes(self) -> None:
        while True:
            await asyncio.sleep(DRIP_INTERVAL_S)
            for held in [h for h in self.held if h.drip and h.transport is not None]:
                held.transport.write(b"a")

    async def reopen_closed(self) -> None:
        budget = 0.0
        last = time.monotonic()
        while True:
            drip = await self.reopen.get()
            if not drip:  # idle connections come back at a bounded rate
                now = time.monotonic()
                budget = min(REOPEN_PER_S, budget + (now - last) * REOPEN_PER_S)
                last = now
                if budget < 1:
                    await asyncio.sleep((1 - budget) / REOPEN_PER_S)
                    budget, last = 1.0, time.monotonic()
                budget -= 1
            task = asyncio.create_task(self.open(drip))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)

    async def run(self) -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await asyncio.gather(*(self.open(True) for _ in range(self.drip)))
        await asyncio.gather(*(self.open(False) for _ in range(self.stats.idle_planned)))
        self.report("ready")
        workers = [
            asyncio.create_task(self.drip_bytes()),
            asyncio.create_task(self.reopen_closed()),
        ]
        await stop.wait()
        self.stopping = True
        for worker in workers:
            worker.cancel()
        self.stats.idle_open_now = sum(1 for h in self.held if not h.drip)
        for held in list(self.held):
            if held.transport is not None:
                held.transport.abort()
        self.report("done")

    def report(self, event: str) -> None:
        stats = {k: v for k, v in self.stats.__dict__.items() if k != "started"}
        print(json.dumps({"event": event, **stats}), flush=True)


def attack_main(port: int, first_source: int, sources: int, idle: int, drip: int) -> int:
    addresses = [
        f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(first_source, first_source + sources)
    ]
    asyncio.run(Attack(port, addresses, idle, drip).run())
    return 0


# -- the bench -------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time the process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_line(log: Path, marker: str, process: subprocess.Popen, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if marker in line:
                return line
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"{log.name}: no {marker!r} line; its log ends:\n{log.read_text()[-2000:]}")


def start(argv: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with open(log, "wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def prepare_subnet(network: str, wallets: Path) -> tuple[int, object, str]:
    """A subnet with one validator (holding a permit) and one miner: its netuid, the
    validator's wallet and the miner's hotkey."""
    import bittensor

    import chain as chain_api
    from scripts.localnet_chain import build_subnet

    client = chain_api.connect(network)
    try:
        subnet = await build_subnet(
            client, wallets, miners=1, validators=1, cheaters=0, tempo=TEMPO
        )
        await client.mine(2 * TEMPO + 1)  # permits are handed out at the first epoch
    finally:
        await client.close()
    validator = next(n for n in subnet.neurons if n.role == "validator")
    miner = next(n for n in subnet.neurons if n.is_miner)
    wallet = bittensor.Wallet(name=validator.wallet_name, hotkey="default", path=str(wallets))
    return subnet.netuid, wallet, miner.hotkey


async def honest_round(
    client, target, *, requests: int = 0, seconds: float = 0.0
) -> tuple[list[float], list[str]]:
    """The validator's requests, HONEST_IN_FLIGHT at a time, one after another: `requests` of
    them, or as many as fit in `seconds`. Latencies of the answers, and what failed."""
    from protocol.client import Reply
    from protocol.schemas import ChatCompletion

    body = {
        "model": SERVED_NAME,
        "messages": [{"role": "user", "content": "the river runs to the sea"}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
    }
    latencies: list[float] = []
    failures: list[str] = []
    deadline = time.monotonic() + seconds
    numbers = itertools.count()

    def more() -> bool:
        return next(numbers) < requests or time.monotonic() < deadline

    async def worker() -> None:
        while more():
            reply = await client.call(
                target, CHAT_PATH, body, response_model=ChatCompletion, timeout_s=HONEST_TIMEOUT_S
            )
            if isinstance(reply, Reply):
                latencies.append(reply.latency_s)
            else:
                failures.append(f"{reply.reason}: {reply.message}"[:200])

    await asyncio.gather(*(worker() for _ in range(HONEST_IN_FLIGHT)))
    return latencies, failures


def miner_argv(network: str, netuid: int, wallets: Path, model: Path) -> list[str]:
    """The miner as an operator starts it, with the default connection limits."""
    return [
        *(sys.executable, "-m", "neurons.miner", "--netuid", str(netuid)),
        *("--subtensor.network", network, "--wallet.name", "miner0", "--wallet.path", str(wallets)),
        *("--model", str(model), "--model.request_name", SERVED_NAME, "--model.threads", "1"),
        *("--axon.ip", "127.0.0.1", "--axon.port", "0"),
    ]


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def start_attackers(port: int, work: Path) -> list[tuple[subprocess.Popen, Path]]:
    attackers = []
    per_idle, per_drip = IDLE_CONNECTIONS // ATTACK_PROCESSES, DRIP_CLIENTS // ATTACK_PROCESSES
    per_sources = ATTACK_SOURCES // ATTACK_PROCESSES
    for index in range(ATTACK_PROCESSES):
        log = work / f"attacker{index}.log"
        argv = [sys.executable, __file__, "attack", str(port), str(index * per_sources)]
        argv += [str(per_sources), str(per_idle), str(per_drip)]
        attackers.append((start(argv, log), log))
    return attackers


def attacker_events(log: Path, event: str) -> dict | None:
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and f'"event": "{event}"' in line:
            return json.loads(line)
    return None


async def bench(quick: bool) -> dict:
    from protocol.client import EpistulaClient, Target

    phase_s = QUICK_PHASE_S if quick else PHASE_S
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = work / "tiny"
        subprocess.run(
            [sys.executable, "-m", "inference.tiny", "--out", str(model), "--seed", "0"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        node_log = work / "chain.log"
        node = start([sys.executable, "-m", "chain.dev.node", "--port", "0", "--manual"], node_log)
        miner = None
        attackers: list[tuple[subprocess.Popen, Path]] = []
        try:
            line = wait_for_line(node_log, NODE_READY, node, START_TIMEOUT_S)
            network = "dev://" + line.split(NODE_READY, 1)[1].split()[0]
            netuid, validator, miner_hotkey = await prepare_subnet(network, work / "wallets")
            miner_log = work / "miner.log"
            miner = start(miner_argv(network, netuid, work / "wallets", model), miner_log)
            line = wait_for_line(miner_log, MINER_READY, miner, START_TIMEOUT_S)
            port = int(line.split(" on 127.0.0.1:", 1)[1].split()[0])
            target = Target.at(miner_hotkey, "127.0.0.1", port)
            async with EpistulaClient(validator.hotkey) as client:
                await honest_round(client, target, requests=WARMUP_REQUESTS)
                cpu_before = cpu_seconds(miner.pid)
                quiet, quiet_failures = await honest_round(client, target, seconds=phase_s)
                cpu_quiet = cpu_seconds(miner.pid)
                rss_quiet, log_quiet = rss_bytes(miner.pid), miner_log.stat().st_size
                print(f"quiet: p50 {statistics.median(quiet) * 1e3:.1f} ms", flush=True)
                attackers = start_attackers(port, work)
                ready = []
                deadline = time.monotonic() + READY_TIMEOUT_S
                for process, log in attackers:
                    while (event := attacker_events(log, "ready")) is None:
                        if process.poll() is not None or time.monotonic() > deadline:
                            raise SystemExit(f"an attacker failed:\n{log.read_text()[-2000:]}")
                        await asyncio.sleep(0.2)
                    ready.append(event)
                print(
                    f"attack ready: {sum(e['idle_opened'] for e in ready)} idle opened", flush=True
                )
                peak = rss_quiet or 0

                async def watch_rss() -> None:
                    nonlocal peak
                    while True:
                        peak = max(peak, rss_bytes(miner.pid) or 0)
                        await asyncio.sleep(0.25)

                watcher = asyncio.create_task(watch_rss())
                cpu_attacked = cpu_seconds(miner.pid)
                hostile, hostile_failures = await honest_round(client, target, seconds=phase_s)
                cpu_hostile = cpu_seconds(miner.pid)
                watcher.cancel()
                peak = max(peak, rss_bytes(miner.pid) or 0)
            for process, _ in attackers:
                stop(process)
            done = [attacker_events(log, "done") or {} for _, log in attackers]
            stop(miner)  # its last connection report is written as it stops: counted too
            log_after = miner_log.stat().st_size
        finally:
            for process, _ in attackers:
                stop(process)
            if miner is not None:
                stop(miner)
            stop(node)
        for event in ready:
            if event["idle_planned"] < event["idle_wanted"]:
                notes.append(
                    f"an attacker's open-file limit ({event['fd_soft_limit']}, hard "
                    f"{event['fd_hard_limit']}) held {event['idle_planned']} of its "
                    f"{event['idle_wanted']} idle connections: the attack was scaled down"
                )
        if rss_quiet is None:
            notes.append("no /proc on this system: RSS was not measured")
        miner_tail = miner_log.read_text(errors="replace").splitlines()[-5:]
    quiet_p50, hostile_p50 = statistics.median(quiet), statistics.median(hostile)
    idle_held = sum(e["idle_opened"] for e in ready)
    rss_growth_mb = (peak - rss_quiet) / MB if rss_quiet else None
    log_growth = log_after - log_quiet
    failures = quiet_failures + hostile_failures
    return {
        "bench": "hostile",
        "quick": quick,
        "cpus": os.cpu_count(),
        "phase_s": phase_s,
        "honest_requests": [len(quiet) + len(quiet_failures), len(hostile) + len(hostile_failures)],
        "quiet_p50_ms": round(quiet_p50 * 1e3, 2),
        "quiet_p95_ms": round(percentile(quiet, 95) * 1e3, 2),
        "hostile_p50_ms": round(hostile_p50 * 1e3, 2),
        "hostile_p95_ms": round(percentile(hostile, 95) * 1e3, 2),
        "p50_ratio": round(hostile_p50 / quiet_p50, 3),
        "target_p50_ratio": TARGET_P50_RATIO,
        "refused_or_timed_out": len(failures),
        "failures": failures[:5],
        # The miner's CPU per honest request answered: what the attack costs it.
        "miner_cpu_ms_per_request": None
        if cpu_before is None
        else [
            round((cpu_quiet - cpu_before) / len(quiet) * 1e3, 2),
            round((cpu_hostile - cpu_attacked) / len(hostile) * 1e3, 2),
        ],
        "miner_rss_quiet_mb": round(rss_quiet / MB, 1) if rss_quiet else None,
        "miner_rss_growth_mb": None if rss_growth_mb is None else round(rss_growth_mb, 1),
        "target_rss_growth_mb": TARGET_RSS_GROWTH_MB,
        "miner_log_growth_bytes": log_growth,
        "target_log_growth_bytes": TARGET_LOG_GROWTH_BYTES,
        "idle_connections_opened_at_start": idle_held,
        "idle_connections_offered": IDLE_CONNECTIONS,
        "drip_clients": sum(e["drip_opened"] for e in ready),
        "closed_by_miner": sum(e.get("closed_by_miner", 0) for e in done),
        "idle_open_at_end": sum(e.get("idle_open_now", 0) for e in done),
        "reopen_per_s": REOPEN_PER_S,
        "attack_processes": ATTACK_PROCESSES,
        "fd_limits": [[e["fd_soft_limit"], e["fd_hard_limit"]] for e in ready],
        "miner_log_tail": miner_tail,
        "targets_met": {
            "p50_within_2x": hostile_p50 <= TARGET_P50_RATIO * quiet_p50,
            "none_refused_or_timed_out": not failures,
            "rss_growth_under_100mb": rss_growth_mb is not None
            and rss_growth_mb < TARGET_RSS_GROWTH_MB,
            "log_growth_under_1mb": log_growth < TARGET_LOG_GROWTH_BYTES,
        },
        "notes": notes,
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "attack":
        port, first, sources, idle, drip = (int(a) for a in sys.argv[2:7])
        return attack_main(port, first, sources, idle, drip)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_PHASE_S:g} s a phase instead of {PHASE_S:g}"
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args.quick))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
