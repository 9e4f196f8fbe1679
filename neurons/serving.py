"""Running the miner's ASGI app inside the neuron's own event loop, and counting its requests.

The socket is bound here, before the server starts, so a port already in use is a clear
start-up error rather than a server that exits on its own. It is protocol/'s listening socket
(`protocol.server.listening_socket`), which names TCP as its protocol so that asyncio turns
Nagle's algorithm off on every connection: without that, each answer waits ~40 ms for a
delayed ACK. uvicorn's own signal capture is
switched off: the neuron owns SIGINT/SIGTERM and stops the server itself, letting in-flight
requests finish within the shutdown timeout while new connections are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from http import HTTPStatus

import uvicorn

from neurons.metrics import MinerMetrics
from protocol.connections import ConnectionGuard, ConnectionLimits
from protocol.outcomes import error_of
from protocol.server import CLIENT_CLOSED_REQUEST, listening_socket

OUTCOME_OF_STATUS = {
    200: "served",
    403: "refused",
    429: "busy",
    503: "busy",
    CLIENT_CLOSED_REQUEST: "dropped",
}
LISTEN_BACKLOG = 2048
# Refusal bodies are small JSON; more than this of one is not read for its reason.
MAX_REFUSAL_BODY_BYTES = 4096


class PortInUse(OSError):
    """The port cannot be bound; the message says which option to change."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening, non-blocking socket on host:port, or PortInUse saying what to change."""
    try:
        sock = listening_socket(host, port)
    except OSError as exc:
        raise PortInUse(
            f"cannot listen on {host}:{port} ({exc.strerror}): another process holds the port; "
            "stop it or pass another --axon.port (0 picks a free one)"
        ) from exc
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the neuron handles signals (see the module docstring)


@dataclass
class Tally:
    """Requests since the last summary line, by outcome (a refusal by its reason), and their
    latency."""

    outcomes: dict[str, int] = field(default_factory=dict)
    tokens: int = 0
    served_seconds: float = 0.0

    def add(self, outcome: str, seconds: float) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if outcome == "served":
            self.served_seconds += seconds

    def summary(self) -> str:
        served = self.outcomes.get("served", 0)
        others = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items()) if k != "served")
        mean = f", mean {self.served_seconds / served:.3f} s" if served else ""
        return f"{served} served ({others or 'none refused'}), {self.tokens} tokens{mean}"


def reason_of(body: bytes) -> str | None:
    """The reason code of a refusal body (`{"error": {"code": ...}}`), if it is one."""
    error = error_of(body)
    return error.code if error is not None else None


def outcome_of(status: int | None) -> str:
    if status is None:
        return "dropped"
    if status in OUTCOME_OF_STATUS:
        return OUTCOME_OF_STATUS[status]
    return "error" if status >= 500 else "rejected"


class CountRequests:
    """ASGI middleware: every HTTP request counted by outcome, and every refusal by the reason
    its body gives, in metrics and in a `Tally`."""

    def __init__(self, app, metrics: MinerMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.tally = Tally()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = []
        error_body = bytearray()

        async def send_and_watch(message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            elif (
                message["type"] == "http.response.body"
                and status
                and status[0] >= HTTPStatus.BAD_REQUEST
                and len(error_body) < MAX_REFUSAL_BODY_BYTES
            ):
                error_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            seconds = time.perf_counter() - started
            outcome = outcome_of(status[0] if status else None)
            self.metrics.requests.labels(outcome=outcome).inc()
            reason = reason_of(bytes(error_body)) if error_body else None
            if reason is not None:
                self.metrics.refusals.labels(reason=reason).inc()
            if outcome == "served":
                self.metrics.request_seconds.observe(seconds)
            self.tally.add(reason or outcome, seconds)

    def take_tally(self) -> Tally:
        tally, self.tally = self.tally, Tally()
        return tally


class HttpServer:
    """One uvicorn server on an already bound socket, started and stopped by the neuron; with
    `connections`, its clients are bounded by a `ConnectionGuard` (protocol/connections.py)."""

    def __init__(
        self,
        app,
        sock: socket.socket,
        shutdown_timeout: float,
        connections: ConnectionLimits | None = None,
    ) -> None:
        self.sock = sock
        self.guard = None if connections is None else ConnectionGuard(connections)
        guarded = {} if self.guard is None else self.guard.uvicorn_options()
        if self.guard is not None:
            guarded["http"] = self.guard.protocol_factory()
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=shutdown_timeout,
            **guarded,
        )
        self._server = _Server(config)
        self._task: asyncio.Task | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def start(self) -> None:
        if self.guard is not None:
            await self.guard.start()
        self._task = asyncio.create_task(self._server.serve(sockets=[self.sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("the HTTP server stopped during start-up")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Refuse new connections, let in-flight requests finish (within the timeout)."""
        if self._task is None:
            self.sock.close()
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self.sock.close()
        if self.guard is not None:
            await self.guard.stop()
