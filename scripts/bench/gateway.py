"""Benchmark of the gateway: against calling the same miner directly, and its routing.

    python scripts/bench/gateway.py [--quick]

What runs, on 127.0.0.1, in three processes (this one drives the load):
- a miners process: lightweight miners behind the real signed server (protocol.server), each
  answering a fixed chat completion with its proof (token ids, logprobs, usage), streamed as
  one event per token with a fixed delay per token (standing in for generation);
- a gateway process: the real gateway app (neurons/gateway) with the real router, forwarder,
  key store and accounting, in front of those miners; verification is off (verify_share 0:
  it runs on the validator's verifier thread, off the request path, and is not measured);
- the direct baseline, in this process, in the same run: the same requests signed by the same
  hotkey straight to the miner, as a validator's own client sends them.

Figures:
- added latency: one request at a time, non-streamed, gateway against direct (p50 and p99 of
  each, and their differences in ms);
- throughput at 64 concurrent streams: completed streamed requests per second through the
  gateway over direct (target at least 0.8);
- routing quality: four miners of equal score, two of them 4x slower per token; the share of
  requests the two fast ones served (the router's speed weighting; see routing.py).
The last line is one JSON object.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402

TOKENS = 16
TOKEN_DELAY_S = 0.002
SLOW_FACTOR = 4
CONCURRENCY = 64
LATENCY_REQUESTS, QUICK_LATENCY_REQUESTS = 200, 50
THROUGHPUT_S, QUICK_THROUGHPUT_S = 10.0, 4.0
ROUTING_REQUESTS, QUICK_ROUTING_REQUESTS = 400, 120
ROUTING_CONCURRENCY = 4
TARGET_THROUGHPUT_RATIO = 0.8
GATEWAY_URI = "//BenchGateway"
MINER_URIS = ("//BenchMiner0", "//BenchMiner1", "//BenchMiner2", "//BenchMiner3", "//BenchMiner4")
MODEL = "bench-model"
BENCH_NETUID = 1
START_TIMEOUT_S = 60
MESSAGES = [{"role": "user", "content": "Say something."}]


# ------------------------------------------------------------------------------ miners


def completion_parts(token_ids: list[int]):
    from protocol import schemas as wire

    entries = [wire.TokenLogprob(token="a", logprob=-0.5, token_id=t) for t in token_ids]
    usage = wire.Usage(
        prompt_tokens=5, completion_tokens=len(token_ids), total_tokens=5 + len(token_ids)
    )
    return entries, usage


def whole_answer():
    from protocol import schemas as wire

    ids = list(range(100, 100 + TOKENS))
    entries, usage = completion_parts(ids)
    choice = wire.ChatChoice(
        message=wire.AssistantMessage(content="a" * TOKENS),
        finish_reason="length",
        logprobs=wire.ChoiceLogprobs(content=entries),
        token_ids=ids,
    )
    return wire.ChatCompletion(
        id="c", created=0, model=MODEL, choices=[choice], usage=usage, prompt_token_ids=[1] * 5
    )


async def streamed_answer(delay_s: float):
    from protocol import schemas as wire

    ids = list(range(100, 100 + TOKENS))
    entries, usage = completion_parts(ids)
    for token_id, entry in zip(ids, entries, strict=True):
        await asyncio.sleep(delay_s)
        yield wire.ChatCompletionChunk(
            id="c",
            created=0,
            model=MODEL,
            choices=[
                wire.ChatChunkChoice(
                    delta=wire.ChatDelta(content="a"),
                    logprobs=wire.ChoiceLogprobs(content=[entry]),
                    token_ids=[token_id],
                )
            ],
        )
    yield wire.ChatCompletionChunk(
        id="c",
        created=0,
        model=MODEL,
        choices=[wire.ChatChunkChoice(delta=wire.ChatDelta(), finish_reason="length")],
        usage=usage,
        prompt_token_ids=[1] * 5,
    )


async def serve_miners(ports_file: str) -> None:
    import uvicorn
    from bittensor.keyfiles import Keypair

    from neurons.serving import bind_socket
    from protocol import schemas as wire
    from protocol.admission import AdmissionLimits
    from protocol.policy import CallerInfo, CallerPolicy, StaticDirectory
    from protocol.server import ServerLimits, SignedRoute, create_app

    gateway = Keypair.create_from_uri(GATEWAY_URI).ss58_address
    directory = StaticDirectory({gateway: CallerInfo(0, 1_000.0, True)})
    limits = ServerLimits(admission=AdmissionLimits(max_concurrent=1024, max_queue=1024))
    servers, ports = [], []
    for i, uri in enumerate(MINER_URIS):
        delay = TOKEN_DELAY_S * (SLOW_FACTOR if i >= 3 else 1)

        async def answer(body, caller, delay=delay):
            if body.stream:
                return streamed_answer(delay)
            await asyncio.sleep(delay * TOKENS)
            return whole_answer()

        routes = [SignedRoute("/v1/chat/completions", wire.ChatCompletionRequest, answer)]
        app = create_app(
            Keypair.create_from_uri(uri), directory, CallerPolicy(), routes, limits=limits
        )
        sock = bind_socket("127.0.0.1", 0)
        ports.append(sock.getsockname()[1])
        config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off")
        servers.append(uvicorn.Server(config).serve(sockets=[sock]))
    Path(ports_file).write_text(json.dumps(ports))
    await asyncio.gather(*servers)


# ------------------------------------------------------------------------------ gateway


class BenchHost:
    """What the gateway uses of a validator: a metagraph of the miners, their scores."""

    def __init__(self, ports: list[int], serving: list[int]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from bittensor.keyfiles import Keypair

        from chain import AxonInfo
        from incentive.scoring import MovingAverageScores
        from neurons.metrics import ValidatorMetrics
        from neurons.tasks import SYNTHETIC
        from protocol.client import EpistulaClient

        hotkeys = [Keypair.create_from_uri(uri).ss58_address for uri in MINER_URIS]
        self.metagraph = _Metagraph(hotkeys, [AxonInfo("127.0.0.1", p) for p in ports])
        self.uid = None
        self.scores = MovingAverageScores(len(hotkeys), 1.0)
        self.scores.update(serving, [hotkeys[i] for i in serving], [1.0] * len(serving))
        self.failed_verification: set[str] = set()
        keypair = Keypair.create_from_uri(GATEWAY_URI)
        self.client = EpistulaClient(keypair)
        self.checker = _FitsAll()
        self.verifier_thread = ThreadPoolExecutor(max_workers=1)
        self.model_name = MODEL
        self.task_source = SYNTHETIC
        self.metrics = ValidatorMetrics(BENCH_NETUID, keypair.ss58_address)

    def fold_organic(self, result) -> None:
        pass


class _FitsAll:
    def fits(self, request) -> bool:
        return True

    def check(self, claims):
        raise AssertionError("verification is off in this benchmark")


class _Metagraph:
    def __init__(self, hotkeys, axons) -> None:
        self.hotkeys, self.axons, self.n = hotkeys, axons, len(hotkeys)


async def serve_gateway(spec_file: str) -> None:
    from neurons.gateway.app import GatewayServer
    from neurons.gateway.forward import Settings
    from neurons.gateway.service import Gateway
    from neurons.gateway.store import GatewayStore

    spec = json.loads(Path(spec_file).read_text())
    host = BenchHost(spec["ports"], spec["serving"])
    gateway = Gateway(
        host,
        GatewayStore.open(spec["folder"]),
        verify_share=0.0,
        organic_share=0.0,
        settings=Settings(attempts=3, first_token_timeout_s=10.0, timeout_s=30.0),
    )
    server = GatewayServer(gateway, shutdown_timeout=1.0)
    await server.start("127.0.0.1", 0)
    Path(spec["port_file"]).write_text(str(server.port))
    await asyncio.Event().wait()


# ------------------------------------------------------------------------------ driving


def start(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *argv])


def wait_file(path: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise RuntimeError(f"{path.name} was not written within {START_TIMEOUT_S} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


class Direct:
    """The baseline: the miner called straight, signed as the gateway signs."""

    def __init__(self, port: int) -> None:
        from bittensor.keyfiles import Keypair

        from protocol.client import EpistulaClient, Target

        self.client = EpistulaClient(Keypair.create_from_uri(GATEWAY_URI))
        hotkey = Keypair.create_from_uri(MINER_URIS[0]).ss58_address
        self.target = Target.at(hotkey, "127.0.0.1", port)

    def body(self, stream: bool) -> dict:
        return {
            "model": MODEL,
            "messages": MESSAGES,
            "max_tokens": TOKENS,
            "stream": stream,
            "seed": 1,
        }

    async def once(self) -> bool:
        from protocol import schemas as wire
        from protocol.client import Reply

        reply = await self.client.call(
            self.target,
            "/v1/chat/completions",
            self.body(False),
            response_model=wire.ChatCompletion,
        )
        return isinstance(reply, Reply)

    async def stream(self) -> bool:
        from protocol import schemas as wire
        from protocol.client import StreamReply

        reply = await self.client.stream(
            self.target,
            "/v1/chat/completions",
            self.body(True),
            chunk_model=wire.ChatCompletionChunk,
        )
        return isinstance(reply, StreamReply)


class ViaGateway:
    def __init__(self, port: int, key: str) -> None:
        from protocol.client import KEEPALIVE_EXPIRY_S

        # Idle connections dropped before the server would drop them (as protocol.client does).
        limits = httpx.Limits(
            max_connections=CONCURRENCY * 2,
            max_keepalive_connections=CONCURRENCY * 2,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        )
        self.http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}/v1",
            headers={"Authorization": f"Bearer {key}"},
            limits=limits,
            timeout=30.0,
        )

    def body(self, stream: bool) -> dict:
        return {"model": MODEL, "messages": MESSAGES, "max_tokens": TOKENS, "stream": stream}

    async def once(self) -> bool:
        response = await self.http.post("/chat/completions", json=self.body(False))
        return response.status_code == 200

    async def stream(self) -> bool:
        async with self.http.stream("POST", "/chat/completions", json=self.body(True)) as response:
            text = "".join([chunk async for chunk in response.aiter_text()])
        return response.status_code == 200 and text.rstrip().endswith("data: [DONE]")


async def latencies(call, count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        assert await call(), "a request failed"
        seconds.append(time.perf_counter() - started)
    return seconds


async def throughput(call, concurrency: int, duration_s: float) -> float:
    done = 0
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            assert await call(), "a stream failed"
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


def new_key(folder: Path) -> str:
    from neurons.gateway.store import GatewayStore

    store = GatewayStore.open(folder)
    try:
        return store.create_key("bench", requests_per_minute=0, tokens_per_minute=0)[1]
    finally:
        store.close()


def gateway_process(workdir: Path, name: str, ports: list[int], serving: list[int]):
    folder = workdir / name
    key = new_key(folder)
    port_file = workdir / f"{name}.port"
    spec = {"ports": ports, "serving": serving, "folder": str(folder), "port_file": str(port_file)}
    spec_file = workdir / f"{name}.json"
    spec_file.write_text(json.dumps(spec))
    process = start("--serve-gateway", str(spec_file))
    return process, int(wait_file(port_file)), key


async def routing_share(port: int, key: str, requests: int) -> dict:
    from neurons.gateway.metrics import read_organic

    via = ViaGateway(port, key)
    queue = list(range(requests))

    async def worker() -> None:
        while queue:
            queue.pop()
            assert await via.stream()

    await asyncio.gather(*(worker() for _ in range(ROUTING_CONCURRENCY)))
    figures = read_organic((await via.http.get(f"http://127.0.0.1:{port}/metrics")).text)
    await via.http.aclose()
    fast = figures.per_uid.get(1, 0) + figures.per_uid.get(2, 0)
    return {"per_uid": figures.per_uid, "fast_share": fast / max(1, figures.served)}


async def run(args: argparse.Namespace, workdir: Path) -> dict:
    ports_file = workdir / "miners.json"
    miners = start("--serve-miners", str(ports_file))
    processes = [miners]
    try:
        ports = json.loads(wait_file(ports_file))
        gateway, port, key = gateway_process(workdir, "single", ports, [0])
        processes.append(gateway)
        direct, via = Direct(ports[0]), ViaGateway(port, key)
        count = QUICK_LATENCY_REQUESTS if args.quick else LATENCY_REQUESTS
        await latencies(direct.once, 5)  # warm both paths' connections
        await latencies(via.once, 5)
        direct_s = await latencies(direct.once, count)
        via_s = await latencies(via.once, count)
        duration = QUICK_THROUGHPUT_S if args.quick else THROUGHPUT_S
        direct_rps = await throughput(direct.stream, CONCURRENCY, duration)
        via_rps = await throughput(via.stream, CONCURRENCY, duration)
        await direct.client.aclose()
        await via.http.aclose()
        stop(gateway)
        # Routing: miners 1 and 2 at the base speed, 3 and 4 four times slower per token.
        routed, port, key = gateway_process(workdir, "routing", ports, [1, 2, 3, 4])
        processes.append(routed)
        requests = QUICK_ROUTING_REQUESTS if args.quick else ROUTING_REQUESTS
        routing = await routing_share(port, key, requests)
    finally:
        for process in processes:
            stop(process)
    ms = 1000.0
    return {
        "benchmark": "gateway",
        "quick": args.quick,
        "tokens_per_answer": TOKENS,
        "token_delay_ms": TOKEN_DELAY_S * ms,
        "direct_p50_ms": round(statistics.median(direct_s) * ms, 2),
        "gateway_p50_ms": round(statistics.median(via_s) * ms, 2),
        "added_p50_ms": round((statistics.median(via_s) - statistics.median(direct_s)) * ms, 2),
        "direct_p99_ms": round(percentile(direct_s, 99) * ms, 2),
        "gateway_p99_ms": round(percentile(via_s, 99) * ms, 2),
        "added_p99_ms": round((percentile(via_s, 99) - percentile(direct_s, 99)) * ms, 2),
        "concurrent_streams": CONCURRENCY,
        "direct_streams_per_s": round(direct_rps, 1),
        "gateway_streams_per_s": round(via_rps, 1),
        "throughput_ratio": round(via_rps / direct_rps, 3),
        "throughput_target": TARGET_THROUGHPUT_RATIO,
        "throughput_target_met": via_rps / direct_rps >= TARGET_THROUGHPUT_RATIO,
        "routing_slow_factor": SLOW_FACTOR,
        "routing_requests_per_uid": routing["per_uid"],
        "routing_fast_two_share": round(routing["fast_share"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--serve-miners", help=argparse.SUPPRESS)
    parser.add_argument("--serve-gateway", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_miners:
        asyncio.run(serve_miners(args.serve_miners))
        return 0
    if args.serve_gateway:
        from loguru import logger

        logger.remove()
        asyncio.run(serve_gateway(args.serve_gateway))
        return 0
    random.seed(0)
    with tempfile.TemporaryDirectory() as workdir:
        result = asyncio.run(run(args, Path(workdir)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
