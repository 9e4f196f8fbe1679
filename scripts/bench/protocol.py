"""Benchmark of the signed wire (protocol/): what signing costs, and how fast a fan-out is.

1. Throughput: a signed echo endpoint (`protocol.server.create_app`, called through
   `protocol.client.EpistulaClient`: request signed, response verified) against the same
   endpoint with no signing (same body reading, schema, admission, handler and serialisation;
   a client that does the same steps minus signing), each in its own uvicorn subprocess on
   127.0.0.1, at 64 concurrent clients. The two alternate for several rounds; medians reported.
2. Fan-out: 256 signed endpoints (distinct hotkeys, spread over a few uvicorn subprocesses),
   each with its own artificial latency. Each endpoint's own latency is measured first (each
   called on its own, at most a few in flight), then `EpistulaClient.fan_out` queries all 256 at
   once; the figure is fan-out wall time / the slowest endpoint's measured own latency.

Targets: signed throughput >= 0.85 x unsigned; fan-out <= 1.2 x the slowest own latency.
Last line: one JSON object. `--quick` for a short run.
"""

from __future__ import annotations

import os
import sys

# This file is named protocol.py: run as a script, its own folder would shadow the `protocol`
# package it measures. Drop that folder from the import path before importing anything else.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable, Iterator  # noqa: E402
from contextlib import AsyncExitStack, ExitStack, contextmanager  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from bittensor_core import Keypair  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from starlette.responses import Response  # noqa: E402

from protocol.admission import Admission, AdmissionLimits  # noqa: E402
from protocol.client import EpistulaClient, Failure, NoCookiesClient, Target  # noqa: E402
from protocol.policy import Caller, CallerInfo, CallerPolicy, StaticDirectory  # noqa: E402
from protocol.refusals import Refused  # noqa: E402
from protocol.schemas import ChatCompletion, ChatCompletionRequest  # noqa: E402
from protocol.server import (  # noqa: E402
    ServerLimits,
    SignedRoute,
    create_app,
    listening_socket,
    parse_body,
    read_body_limited,
)

CLIENT_URI = "//BenchValidator"
ECHO_MINER_URI = "//BenchMiner"
FANOUT_MINER_URI = "//BenchFanout/{}"
ECHO_PATH = "/v1/chat/completions"
CONCURRENCY = 64
# Enough slots that 64 clients never queue: the benchmark measures signing, not admission.
SERVER_SLOTS = 256
CALLER_STAKE = 1_000.0
SERVER_START_TIMEOUT_S = 30.0
SERVER_STOP_TIMEOUT_S = 5.0
CALL_TIMEOUT_S = 30.0
SOLO_IN_FLIGHT = 32
TARGET_SIGNED_RATIO = 0.85
TARGET_FANOUT_RATIO = 1.2
PERCENTILE_P50 = 50
PERCENTILE_P99 = 99
MS_PER_S = 1000.0
ECHO_BODY = ChatCompletionRequest(
    model="bench",
    messages=[
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Say the quick brown fox jumps over the lazy dog, twice."},
    ],
    max_tokens=64,
    temperature=0.0,
)


def echo_completion(request: ChatCompletionRequest) -> ChatCompletion:
    return ChatCompletion(
        id="bench",
        created=0,
        model=request.model,
        choices=[{"message": {"content": request.messages[-1].text()}, "finish_reason": "stop"}],
        usage={"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32},
    )


# ------------------------------------------------------------------------------ servers


def _limits() -> ServerLimits:
    return ServerLimits(
        admission=AdmissionLimits(max_concurrent=SERVER_SLOTS, max_queue=SERVER_SLOTS)
    )


def _directory() -> StaticDirectory:
    client = Keypair.create_from_uri(CLIENT_URI)
    return StaticDirectory({client.ss58_address: CallerInfo(0, CALLER_STAKE, True)})


def signed_echo_app() -> FastAPI:
    async def echo(request: ChatCompletionRequest, caller: Caller) -> ChatCompletion:
        return echo_completion(request)

    return create_app(
        Keypair.create_from_uri(ECHO_MINER_URI),
        _directory(),
        CallerPolicy(),
        [SignedRoute(ECHO_PATH, ChatCompletionRequest, echo)],
        limits=_limits(),
    )


def unsigned_echo_app() -> FastAPI:
    """The same endpoint minus Epistula: body limit, schema, admission, handler, serialisation."""
    limits = _limits()
    admission = Admission(limits.admission)

    async def endpoint(request: Request) -> Response:
        body = await read_body_limited(request, limits.max_body_bytes)
        parsed = parse_body(ChatCompletionRequest, body) if isinstance(body, bytes) else body
        if isinstance(parsed, Refused):
            return Response(parsed.message, parsed.status)
        refused = await admission.acquire(CALLER_STAKE)
        if refused is not None:
            return Response(refused.message, refused.status)
        try:
            payload = echo_completion(parsed).model_dump_json().encode()  # type: ignore[arg-type]
        finally:
            admission.release()
        return Response(payload, 200, media_type="application/json")

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.add_route(ECHO_PATH, endpoint, methods=["POST"])
    return app


def fanout_app(
    ports: list[int], first: int, min_latency_s: float, max_latency_s: float, total: int
) -> Any:
    """One signed miner per port, each its own hotkey and its own latency, like distinct miners."""
    by_port = {}
    for offset, port in enumerate(ports):
        index = first + offset
        delay_s = endpoint_delay_s(index, total, min_latency_s, max_latency_s)

        async def slow_echo(
            request: ChatCompletionRequest, caller: Caller, delay_s: float = delay_s
        ) -> ChatCompletion:
            await asyncio.sleep(delay_s)
            return echo_completion(request)

        by_port[port] = create_app(
            Keypair.create_from_uri(FANOUT_MINER_URI.format(index)),
            _directory(),
            CallerPolicy(),
            [SignedRoute(ECHO_PATH, ChatCompletionRequest, slow_echo)],
            limits=_limits(),
        )

    async def dispatch(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await by_port[scope["server"][1]](scope, receive, send)

    return dispatch


def endpoint_delay_s(index: int, total: int, min_s: float, max_s: float) -> float:
    """Spread the configured delays evenly; the measured latencies are what the figure uses."""
    return min_s + (max_s - min_s) * index / max(total - 1, 1)


def serve(args: argparse.Namespace) -> int:
    sockets = [listening_socket("127.0.0.1", 0) for _ in range(max(args.count, 1))]
    ports = [sock.getsockname()[1] for sock in sockets]
    if args.serve == "signed":
        app: Any = signed_echo_app()
    elif args.serve == "unsigned":
        app = unsigned_echo_app()
    else:
        app = fanout_app(ports, args.first, args.min_latency_s, args.max_latency_s, args.endpoints)
    print("PORTS " + ",".join(map(str, ports)), flush=True)
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off", backlog=2048)
    uvicorn.Server(config).run(sockets=sockets)
    return 0


@contextmanager
def server_process(*serve_args: str) -> Iterator[list[int]]:
    """Start this script as a server subprocess; yield its ports; always stop it."""
    process = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve", *serve_args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("PORTS "):
            raise RuntimeError(f"server subprocess did not start (said {line!r})")
        ports = [int(port) for port in line.split()[1].split(",")]
        _wait_listening(ports[0])
        yield ports
    finally:
        process.terminate()
        try:
            process.wait(SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not answer within {SERVER_START_TIMEOUT_S} s")


# ------------------------------------------------------------------------------ throughput


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(pct / 100.0 * (len(ordered) - 1))))
    return ordered[rank]


async def drive(
    clients: list[Callable[[], Awaitable[bool]]], duration_s: float
) -> dict[str, float]:
    """Each client sends one request after another for `duration_s`; all clients at once."""
    latencies: list[float] = []
    failures = 0
    started = time.perf_counter()
    deadline = started + duration_s

    async def run(call_once: Callable[[], Awaitable[bool]]) -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            ok = await call_once()
            latencies.append(time.perf_counter() - t0)
            failures += not ok

    await asyncio.gather(*(run(call_once) for call_once in clients))
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{failures} of {len(latencies)} benchmark requests failed")
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, PERCENTILE_P50) * MS_PER_S,
        "p99_ms": percentile(latencies, PERCENTILE_P99) * MS_PER_S,
    }


def signed_client(
    client: EpistulaClient, target: Target, body: bytes
) -> Callable[[], Awaitable[bool]]:
    async def call_once() -> bool:
        outcome = await client.call(
            target, ECHO_PATH, body, response_model=ChatCompletion, timeout_s=CALL_TIMEOUT_S
        )
        return not isinstance(outcome, Failure)

    return call_once


def unsigned_client(
    http: httpx.AsyncClient, url: str, body: bytes
) -> Callable[[], Awaitable[bool]]:
    async def exchange() -> bool:
        # The same steps as EpistulaClient.call, minus signing and verifying.
        request = http.build_request(
            "POST", url, content=body, headers={"Content-Type": "application/json"}
        )
        response = await http.send(request, stream=True)
        try:
            payload = b"".join([chunk async for chunk in response.aiter_bytes()])
        finally:
            await response.aclose()
        ChatCompletion.model_validate_json(payload)
        return response.status_code == 200

    async def call_once() -> bool:
        return await asyncio.wait_for(exchange(), CALL_TIMEOUT_S)

    return call_once


async def throughput(
    signed_port: int, unsigned_port: int, args: argparse.Namespace
) -> dict[str, object]:
    """`args.concurrency` clients, each with its own connection, as separate validators are."""
    client_key = Keypair.create_from_uri(CLIENT_URI)
    target = Target.at(
        Keypair.create_from_uri(ECHO_MINER_URI).ss58_address, "127.0.0.1", signed_port
    )
    body = ECHO_BODY.model_dump_json(exclude_none=True).encode()
    unsigned_url = f"http://127.0.0.1:{unsigned_port}{ECHO_PATH}"
    async with AsyncExitStack() as stack:
        signed = [
            signed_client(await stack.enter_async_context(EpistulaClient(client_key)), target, body)
            for _ in range(args.concurrency)
        ]
        unsigned = [
            unsigned_client(
                await stack.enter_async_context(NoCookiesClient(timeout=None)), unsigned_url, body
            )
            for _ in range(args.concurrency)
        ]
        await drive(signed, args.warmup_s)
        await drive(unsigned, args.warmup_s)
        rounds: dict[str, list[dict[str, float]]] = {"signed": [], "unsigned": []}
        for _ in range(args.rounds):
            rounds["unsigned"].append(await drive(unsigned, args.duration_s))
            rounds["signed"].append(await drive(signed, args.duration_s))

    def medians(runs: list[dict[str, float]]) -> dict[str, float]:
        return {key: round(statistics.median(run[key] for run in runs), 2) for key in runs[0]}

    signed, unsigned = medians(rounds["signed"]), medians(rounds["unsigned"])
    ratios = [
        s["rps"] / u["rps"] for s, u in zip(rounds["signed"], rounds["unsigned"], strict=True)
    ]
    return {
        "signed": signed,
        "unsigned": unsigned,
        "signed_over_unsigned_rps": round(statistics.median(ratios), 3),
    }


# ------------------------------------------------------------------------------ fan-out


async def fanout(ports: list[int], args: argparse.Namespace) -> dict[str, object]:
    client_key = Keypair.create_from_uri(CLIENT_URI)
    targets = [
        Target(
            Keypair.create_from_uri(FANOUT_MINER_URI.format(index)).ss58_address,
            f"http://127.0.0.1:{ports[index]}",
        )
        for index in range(args.endpoints)
    ]
    body = ECHO_BODY.model_dump_json(exclude_none=True).encode()
    async with EpistulaClient(client_key) as client:
        gate = asyncio.Semaphore(SOLO_IN_FLIGHT)

        async def own_latency(target: Target) -> float:
            async with gate:
                outcome = await client.call(
                    target, ECHO_PATH, body, response_model=ChatCompletion, timeout_s=CALL_TIMEOUT_S
                )
            if isinstance(outcome, Failure):
                raise RuntimeError(f"{target.url}: {outcome.reason.value}: {outcome.message}")
            return outcome.latency_s

        own = await asyncio.gather(*(own_latency(t) for t in targets))
        slowest = max(own)
        walls: list[float] = []
        for _ in range(args.fanout_rounds):
            started = time.perf_counter()
            outcomes = await client.fan_out(
                targets, ECHO_PATH, body, response_model=ChatCompletion, timeout_s=CALL_TIMEOUT_S
            )
            walls.append(time.perf_counter() - started)
            failed = [o for o in outcomes if isinstance(o, Failure)]
            if failed:
                raise RuntimeError(f"{len(failed)} fan-out calls failed, e.g. {failed[0].message}")
    wall = statistics.median(walls)
    return {
        "endpoints": args.endpoints,
        "slowest_own_latency_ms": round(slowest * MS_PER_S, 1),
        "fastest_own_latency_ms": round(min(own) * MS_PER_S, 1),
        "fanout_wall_ms": round(wall * MS_PER_S, 1),
        "fanout_over_slowest": round(wall / slowest, 3),
    }


# ------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short run (fewer, shorter rounds)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument(
        "--duration-s", type=float, default=4.0, help="seconds per throughput round"
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating signed/unsigned rounds")
    parser.add_argument("--warmup-s", type=float, default=1.0)
    parser.add_argument("--endpoints", type=int, default=256)
    parser.add_argument("--servers", type=int, default=4, help="uvicorn processes for the fan-out")
    parser.add_argument("--min-latency-s", type=float, default=0.5)
    parser.add_argument("--max-latency-s", type=float, default=1.0)
    parser.add_argument("--fanout-rounds", type=int, default=5)
    parser.add_argument("--serve", choices=["signed", "unsigned", "fanout"], help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration_s, args.rounds, args.warmup_s, args.fanout_rounds = 1.5, 3, 0.5, 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        return serve(args)
    per_server = -(-args.endpoints // args.servers)
    with server_process("signed") as signed, server_process("unsigned") as unsigned:
        echo = asyncio.run(throughput(signed[0], unsigned[0], args))
    print(
        f"echo at {args.concurrency} clients: signed {echo['signed']}, unsigned {echo['unsigned']}"
    )
    with ExitStack() as stack:
        ports = [
            port
            for first in range(0, args.endpoints, per_server)
            for port in stack.enter_context(
                server_process(
                    "fanout",
                    *(
                        "--first",
                        str(first),
                        "--count",
                        str(min(per_server, args.endpoints - first)),
                    ),
                    *(
                        "--min-latency-s",
                        str(args.min_latency_s),
                        "--max-latency-s",
                        str(args.max_latency_s),
                    ),
                    *("--endpoints", str(args.endpoints)),
                )
            )
        ]
        fan = asyncio.run(fanout(ports, args))
    print(f"fan-out: {fan}")
    result = {
        "benchmark": "protocol",
        "quick": args.quick,
        "concurrency": args.concurrency,
        **{f"signed_{k}": v for k, v in echo["signed"].items()},  # type: ignore[union-attr]
        **{f"unsigned_{k}": v for k, v in echo["unsigned"].items()},  # type: ignore[union-attr]
        "signed_over_unsigned_rps": echo["signed_over_unsigned_rps"],
        "signed_target": TARGET_SIGNED_RATIO,
        **{f"fanout_{k}" if not k.startswith("fanout") else k: v for k, v in fan.items()},
        "fanout_target": TARGET_FANOUT_RATIO,
    }
    result["meets_targets"] = (
        result["signed_over_unsigned_rps"] >= TARGET_SIGNED_RATIO
        and result["fanout_over_slowest"] <= TARGET_FANOUT_RATIO
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
