"""Benchmark of the signed wire (protocol/): what signing costs, and how fast a fan-out is.

1. Throughput. A signed echo endpoint (`protocol.server.create_app`, called through
   `protocol.client.EpistulaClient`: request signed, response verified) against the same
   endpoint with no signing (the same body reading, schema, admission, handler and
   serialisation; a client doing the same steps minus signing and verifying). Each server is a
   uvicorn subprocess on 127.0.0.1; 64 clients, each with its own connection, send one request
   after another. A third endpoint, "headers", is the unsigned one carrying six inert
   Epistula-shaped headers each way (made once, never checked): what the HTTP stack (h11, httpx,
   uvicorn) charges for the wire's headers alone. Rounds of the three alternate; medians are
   reported, with the CPU time each side spends per request and, for scale, the cost of the
   signatures (`signature_cost_us`: our sign and verify at each end; `crypto_floor_us`: the raw
   sr25519 calls alone, 2 signs + 2 verifies). `signed_ceiling_rps_ratio` = unsigned CPU per
   request / (headers CPU per request + crypto floor) bounds what any implementation of the wire
   could reach on this stack when CPU is the limit.
2. Fan-out. 256 signed endpoints, each its own hotkey on its own port (spread over a few uvicorn
   subprocesses), each with its own artificial latency. Each endpoint's own latency is measured
   first (called on its own, at most a few in flight); then `EpistulaClient.fan_out` queries all
   256 at once. The figure is fan-out wall time / the slowest endpoint's measured own latency.

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

from protocol import headers as h  # noqa: E402
from protocol.admission import Admission, AdmissionLimits  # noqa: E402
from protocol.client import (  # noqa: E402
    EpistulaClient,
    Failure,
    NoCookiesClient,
    Target,
    encode_body,
    run_within,
)
from protocol.clock import wall_clock_ms  # noqa: E402
from protocol.epistula import (  # noqa: E402
    SeenRequests,
    message_to_sign,
    new_uuid,
    sign_request,
    sign_response,
    verify_request,
)
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
# Enough slots that the clients never queue: this measures signing, not admission.
SERVER_SLOTS = 256
CALLER_STAKE = 1_000.0
SERVER_START_TIMEOUT_S = 30.0
SERVER_STOP_TIMEOUT_S = 5.0
CALL_TIMEOUT_S = 30.0
SOLO_IN_FLIGHT = 32
CRYPTO_SAMPLES = 2_000
TARGET_SIGNED_RATIO = 0.85
TARGET_FANOUT_RATIO = 1.2
P50, P99 = 50, 99
MS_PER_S = 1_000.0
US_PER_S = 1_000_000.0
# A validator's task as it goes on the wire: a system prompt, a question, sampling settings.
ECHO_BODY = ChatCompletionRequest(
    model="subnet-model",
    messages=[
        {
            "role": "system",
            "content": "You are a careful assistant. Answer in plain English, in at most three "
            "sentences, and say so when you do not know.",
        },
        {
            "role": "user",
            "content": "A train leaves at 09:40 and arrives at 13:05 after two stops of ten "
            "minutes each. How long was it moving, and what is the average speed if the line "
            "is 212 km long? Show the arithmetic.",
        },
    ],
    max_tokens=128,
    temperature=0.0,
    seed=42,
    logprobs=True,
    top_logprobs=5,
)
# Its bytes as the client sends them, for every mode alike.
ECHO_BYTES = encode_body(ECHO_BODY)


def echo_completion(request: ChatCompletionRequest) -> ChatCompletion:
    return ChatCompletion(
        id="bench",
        created=0,
        model=request.model,
        choices=[{"message": {"content": request.messages[-1].text()}, "finish_reason": "stop"}],
        usage={"prompt_tokens": 64, "completion_tokens": 48, "total_tokens": 112},
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


def inert_epistula_headers() -> dict[str, str]:
    """Well-formed Epistula headers, signed once and never checked: the wire's weight alone."""
    miner = Keypair.create_from_uri(ECHO_MINER_URI)
    client = Keypair.create_from_uri(CLIENT_URI).ss58_address
    return sign_response(b"", miner, caller_hotkey=client, request_uuid=new_uuid(), now_ms=0)


def unsigned_echo_app(response_headers: dict[str, str] | None = None) -> FastAPI:
    """The same endpoint minus Epistula: body limit, schema, admission, handler, serialisation.

    `response_headers` (if given) go on every answer, as a signed server's headers would.
    """
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
        return Response(payload, 200, headers=response_headers, media_type=h.CONTENT_TYPE_JSON)

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.add_route(ECHO_PATH, endpoint, methods=["POST"])
    return app


def endpoint_delay_s(index: int, total: int, min_s: float, max_s: float) -> float:
    """Configured delays, evenly spread; the figure uses the measured latencies, not these."""
    return min_s + (max_s - min_s) * index / max(total - 1, 1)


def fanout_app(ports: list[int], first: int, args: argparse.Namespace) -> Any:
    """One signed miner per port, each its own hotkey and its own latency, like distinct miners."""
    by_port = {}
    for offset, port in enumerate(ports):
        index = first + offset
        delay_s = endpoint_delay_s(index, args.endpoints, args.min_latency_s, args.max_latency_s)

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


def serve(args: argparse.Namespace) -> int:
    """The server subprocess: bind, say the ports on stdout, serve until terminated."""
    sockets = [listening_socket("127.0.0.1", 0) for _ in range(max(args.count, 1))]
    ports = [sock.getsockname()[1] for sock in sockets]
    if args.serve == "signed":
        app: Any = signed_echo_app()
    elif args.serve == "unsigned":
        app = unsigned_echo_app()
    elif args.serve == "headers":
        app = unsigned_echo_app(inert_epistula_headers())
    else:
        app = fanout_app(ports, args.first, args)
    print("PORTS " + ",".join(map(str, ports)), flush=True)
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off", backlog=2048)
    uvicorn.Server(config).run(sockets=sockets)
    return 0


@contextmanager
def server_process(*serve_args: str) -> Iterator[tuple[int, list[int]]]:
    """Start this script as a server subprocess; yield (pid, ports); always stop it."""
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
        yield process.pid, ports
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


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc); None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


# ------------------------------------------------------------------------------ throughput


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100.0 * (len(ordered) - 1))))]


async def drive(
    clients: list[Callable[[], Awaitable[bool]]], duration_s: float, server_pid: int
) -> dict[str, float]:
    """Each client sends one request after another for `duration_s`; all clients at once."""
    latencies: list[float] = []
    failures = 0
    client_cpu, server_cpu = time.process_time(), process_cpu_s(server_pid)
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
    count = len(latencies)
    result = {
        "rps": count / elapsed,
        "p50_ms": percentile(latencies, P50) * MS_PER_S,
        "p99_ms": percentile(latencies, P99) * MS_PER_S,
        "client_cpu_us": (time.process_time() - client_cpu) / count * US_PER_S,
    }
    server_after = process_cpu_s(server_pid)
    if server_cpu is not None and server_after is not None:
        result["server_cpu_us"] = (server_after - server_cpu) / count * US_PER_S
    return result


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
    http: httpx.AsyncClient, url: str, body: bytes, extra_headers: dict[str, str] | None = None
) -> Callable[[], Awaitable[bool]]:
    parsed_url = httpx.URL(url)
    headers = [("Content-Type", h.CONTENT_TYPE_JSON), *(extra_headers or {}).items()]

    async def exchange() -> bool:
        # The same steps as EpistulaClient.call, minus signing and verifying.
        request = httpx.Request("POST", parsed_url, content=body, headers=headers)
        response = await http.send(request, stream=True)
        try:
            payload = b"".join([chunk async for chunk in response.aiter_bytes()])
        finally:
            await response.aclose()
        ChatCompletion.model_validate_json(payload)
        return response.status_code == 200

    async def call_once() -> bool:
        return await run_within(exchange(), CALL_TIMEOUT_S)

    return call_once


MODES = ("unsigned", "headers", "signed")


async def throughput(
    servers: dict[str, tuple[int, list[int]]], args: argparse.Namespace
) -> dict[str, Any]:
    """`args.concurrency` clients, each with its own connection, as separate validators are."""
    client_key = Keypair.create_from_uri(CLIENT_URI)
    miner = Keypair.create_from_uri(ECHO_MINER_URI).ss58_address
    target = Target.at(miner, "127.0.0.1", servers["signed"][1][0])
    inert = inert_epistula_headers()
    async with AsyncExitStack() as stack:

        async def plain(mode: str, extra: dict[str, str] | None) -> Callable[[], Awaitable[bool]]:
            http = await stack.enter_async_context(NoCookiesClient(timeout=None))
            url = f"http://127.0.0.1:{servers[mode][1][0]}{ECHO_PATH}"
            return unsigned_client(http, url, ECHO_BYTES, extra)

        async def signed() -> Callable[[], Awaitable[bool]]:
            client = await stack.enter_async_context(EpistulaClient(client_key))
            return signed_client(client, target, ECHO_BYTES)

        modes = {
            "unsigned": [await plain("unsigned", None) for _ in range(args.concurrency)],
            "headers": [await plain("headers", inert) for _ in range(args.concurrency)],
            "signed": [await signed() for _ in range(args.concurrency)],
        }
        for mode, clients in modes.items():
            await drive(clients, args.warmup_s, servers[mode][0])
        rounds: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for _ in range(args.rounds):
            for mode in MODES:
                rounds[mode].append(await drive(modes[mode], args.duration_s, servers[mode][0]))

    def median_of(mode: str, key: str) -> float | None:
        values = [run[key] for run in rounds[mode] if key in run]
        return round(statistics.median(values), 1) if values else None

    def ratio(over: str, under: str) -> float:
        pairs = zip(rounds[over], rounds[under], strict=True)
        return round(statistics.median(o["rps"] / u["rps"] for o, u in pairs), 3)

    result: dict[str, Any] = {"request_bytes": len(ECHO_BYTES)}
    for mode in MODES:
        for key in ("rps", "p50_ms", "p99_ms", "client_cpu_us", "server_cpu_us"):
            result[f"{mode}_{key}"] = median_of(mode, key)
    result["signed_over_unsigned_rps"] = ratio("signed", "unsigned")
    result["headers_over_unsigned_rps"] = ratio("headers", "unsigned")
    result["signed_over_headers_rps"] = ratio("signed", "headers")
    cpu = {mode: cpu_per_request(result, mode) for mode in MODES}
    if cpu["signed"] is not None and cpu["unsigned"] is not None:
        result["unsigned_over_signed_cpu_per_request"] = round(cpu["unsigned"] / cpu["signed"], 3)
    return result


def cpu_per_request(result: dict[str, Any], mode: str) -> float | None:
    """Client plus server CPU microseconds per request, when both were measured."""
    client, server = result[f"{mode}_client_cpu_us"], result[f"{mode}_server_cpu_us"]
    return client + server if client is not None and server is not None else None


def signature_cost_us() -> float:
    """One sign and one verify at each end of an exchange, timed here: the floor of the cost."""
    sender, receiver = Keypair.create_from_uri(CLIENT_URI), Keypair.create_from_uri(ECHO_MINER_URI)
    seen = SeenRequests(CRYPTO_SAMPLES + 1)
    started = time.perf_counter()
    for _ in range(CRYPTO_SAMPLES):
        now_ms = wall_clock_ms()
        headers = sign_request(ECHO_BYTES, sender, receiver.ss58_address, now_ms=now_ms)
        verify_request(
            headers, ECHO_BYTES, receiver_hotkey=receiver.ss58_address, now_ms=now_ms, seen=seen
        )
    one_way = (time.perf_counter() - started) / CRYPTO_SAMPLES
    return round(2 * one_way * US_PER_S, 1)


def crypto_floor_us() -> float:
    """Two raw sr25519 signs and two verifies (request and response), timed here: what any
    implementation of the wire pays per exchange before any header, hash or check of its own."""
    sender = Keypair.create_from_uri(CLIENT_URI)
    verifier = Keypair(ss58_address=sender.ss58_address)
    message = message_to_sign(b"", new_uuid(), 0, sender.ss58_address)
    signature = sender.sign(message)
    started = time.perf_counter()
    for _ in range(CRYPTO_SAMPLES):
        sender.sign(message)
        verifier.verify(message, signature)
    one_way = (time.perf_counter() - started) / CRYPTO_SAMPLES
    return round(2 * one_way * US_PER_S, 1)


# ------------------------------------------------------------------------------ fan-out


async def fanout(ports: list[int], args: argparse.Namespace) -> dict[str, Any]:
    client_key = Keypair.create_from_uri(CLIENT_URI)
    targets = [
        Target(
            Keypair.create_from_uri(FANOUT_MINER_URI.format(index)).ss58_address,
            f"http://127.0.0.1:{ports[index]}",
        )
        for index in range(args.endpoints)
    ]

    def check(outcomes: list[Any]) -> None:
        failed = [o for o in outcomes if isinstance(o, Failure)]
        if failed:
            raise RuntimeError(f"{len(failed)} calls failed, e.g. {failed[0].message}")

    async with EpistulaClient(client_key) as client:
        gate = asyncio.Semaphore(SOLO_IN_FLIGHT)

        async def alone(target: Target) -> Any:
            async with gate:
                return await client.call(
                    target,
                    ECHO_PATH,
                    ECHO_BYTES,
                    response_model=ChatCompletion,
                    timeout_s=CALL_TIMEOUT_S,
                )

        own = await asyncio.gather(*(alone(t) for t in targets))
        check(own)
        own_latency = [outcome.latency_s for outcome in own]
        walls: list[float] = []
        for _ in range(args.fanout_rounds):
            started = time.perf_counter()
            outcomes = await client.fan_out(
                targets,
                ECHO_PATH,
                ECHO_BYTES,
                response_model=ChatCompletion,
                timeout_s=CALL_TIMEOUT_S,
            )
            walls.append(time.perf_counter() - started)
            check(outcomes)
    slowest, wall = max(own_latency), statistics.median(walls)
    return {
        "fanout_endpoints": args.endpoints,
        "fanout_slowest_own_latency_ms": round(slowest * MS_PER_S, 1),
        "fanout_fastest_own_latency_ms": round(min(own_latency) * MS_PER_S, 1),
        "fanout_wall_ms": round(wall * MS_PER_S, 1),
        "fanout_overhead_ms": round((wall - slowest) * MS_PER_S, 1),
        "fanout_over_slowest": round(wall / slowest, 3),
    }


def fanout_servers(args: argparse.Namespace, stack: ExitStack) -> list[int]:
    """Start the fan-out servers; every endpoint's port, in endpoint order."""
    per_server = -(-args.endpoints // args.servers)
    ports: list[int] = []
    for first in range(0, args.endpoints, per_server):
        _, server_ports = stack.enter_context(
            server_process(
                "fanout",
                *("--first", str(first), "--count", str(min(per_server, args.endpoints - first))),
                *("--endpoints", str(args.endpoints)),
                *("--min-latency-s", str(args.min_latency_s)),
                *("--max-latency-s", str(args.max_latency_s)),
            )
        )
        ports += server_ports
    return ports


# ------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short run (fewer, shorter rounds)")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent clients")
    parser.add_argument("--duration-s", type=float, default=4.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=5, help="signed/unsigned round pairs")
    parser.add_argument("--warmup-s", type=float, default=1.0)
    parser.add_argument("--endpoints", type=int, default=256, help="fan-out endpoints")
    parser.add_argument("--servers", type=int, default=4, help="uvicorn processes for them")
    parser.add_argument("--min-latency-s", type=float, default=0.5, help="fastest endpoint")
    parser.add_argument("--max-latency-s", type=float, default=1.0, help="slowest endpoint")
    parser.add_argument("--fanout-rounds", type=int, default=5)
    parser.add_argument(
        "--serve", choices=["signed", "unsigned", "headers", "fanout"], help=argparse.SUPPRESS
    )
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
    with ExitStack() as stack:
        servers = {mode: stack.enter_context(server_process(mode)) for mode in MODES}
        echo = asyncio.run(throughput(servers, args))
    echo["signature_cost_us"] = signature_cost_us()
    echo["crypto_floor_us"] = crypto_floor_us()
    unsigned_cpu, headers_cpu = cpu_per_request(echo, "unsigned"), cpu_per_request(echo, "headers")
    if unsigned_cpu is not None and headers_cpu is not None:
        ceiling = unsigned_cpu / (headers_cpu + echo["crypto_floor_us"])
        echo["signed_ceiling_rps_ratio"] = round(ceiling, 3)
    print(f"echo, {args.concurrency} clients: " + ", ".join(f"{k}={v}" for k, v in echo.items()))
    with ExitStack() as stack:
        fan = asyncio.run(fanout(fanout_servers(args, stack), args))
    print("fan-out: " + ", ".join(f"{k}={v}" for k, v in fan.items()))
    result: dict[str, Any] = {
        "benchmark": "protocol",
        "quick": args.quick,
        "concurrency": args.concurrency,
        **echo,
        "signed_target": TARGET_SIGNED_RATIO,
        **fan,
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
