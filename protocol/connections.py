"""What an unauthenticated client can hold on a server: connections, and time.

A miner's port is open to anyone. Before a request is signed and verified, a client holds only
a TCP connection and the server's patience, and both are bounded here:

- connections overall (`max_connections`) and from one address (`max_per_address`); a new
  connection over the address limit is closed at once;
- at the overall limit, the accept path keeps room for the next signed request: the
  connection that has waited longest without a complete request (an idle or trickling one) is
  closed to let the new one in; only when every connection is being served is the newcomer
  closed instead;
- a request head must arrive within `header_timeout_s` of the connection opening or of the
  previous answer, and its body within `body_timeout_s` of the head (a body finishing later is
  past the Epistula window anyway); a client trickling one byte a second is closed then;
- an idle keep-alive connection closes after `keep_alive_s` (uvicorn's own timer).

Each of these conditions is counted and logged once per `report_interval_s` with its count,
never once per connection (an attack would otherwise write the log full). The same goes for
uvicorn's "Invalid HTTP request" line and asyncio's "out of system resource" accept error.

`ConnectionTable` is the pure core (connections, phases and clocks passed in, decisions out);
`GuardedH11Protocol` is the adapter: uvicorn's h11 protocol reporting each connection's phase
to a `ConnectionGuard`, which owns the table, the timeout sweep and the report.

    guard = ConnectionGuard(ConnectionLimits(max_connections=1024))
    config = uvicorn.Config(app, http=guard.protocol_factory(), **guard.uvicorn_options())
    await guard.start(); ...; await guard.stop()
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import resource
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import h11
from loguru import logger
from uvicorn.protocols.http.h11_impl import H11Protocol

# Defaults, each with what it rests on:
# A validator holds one connection per request in flight to a miner; a miner accepts at most
# max_concurrent + queue_size (8 + 32 by default) requests at once, so 64 connections from one
# address is room for all of them and a pool's idle spares.
DEFAULT_MAX_PER_ADDRESS = 64
# 64 validators (a subnet's default max_validators) at their full per-address share. A held
# connection costs the miner about 9 KB: scripts/bench/hostile.py offered 20,000, the miner held
# this many and its RSS grew 34-36 MB. It must stay below the process's open-file limit, which
# the miner raises to fit (see `raise_file_limit`).
DEFAULT_MAX_CONNECTIONS = 4096
# A request head arrives in one round trip (milliseconds here, 0.3 s across the world): 5 s is
# a wide margin, and short enough that trickling clients cannot pile up.
DEFAULT_HEADER_TIMEOUT_S = 5.0
# The Epistula window: a body that completes later is refused as too old anyway.
DEFAULT_BODY_TIMEOUT_S = 10.0
DEFAULT_KEEP_ALIVE_S = 5.0  # uvicorn's default keep-alive
DEFAULT_REPORT_INTERVAL_S = 60.0
# How often deadlines are checked: a timeout fires at most this much late.
SWEEP_INTERVAL_S = 0.5
# File descriptors the process needs besides client connections: the model's files, the chain
# and metrics sockets, logs, the interpreter's own.
FILE_RESERVE = 256
ACCEPT_OUT_OF_RESOURCES = "socket.accept() out of system resource"
# uvicorn's per-connection log lines that an attacker can cause at will.
PER_CONNECTION_LINES = {"Invalid HTTP request received.": "invalid_request"}


class Phase(enum.Enum):
    HEAD = "waiting for a request head"
    BODY = "reading a request body"
    SERVING = "serving a request"


# Condition -> how the report says it (with the count in front).
CONDITIONS = {
    "over_address_limit": "refused: their address already held the most connections allowed",
    "evicted_at_capacity": "closed at the connection limit to make room (the longest waiting)",
    "refused_at_capacity": "refused at the connection limit (every connection busy serving)",
    "head_timeout": "closed without a complete request head in time",
    "body_timeout": "closed without a complete request body in time",
    "invalid_request": "closed for invalid HTTP",
    "accept_failed": "accepts failed: the process is out of file descriptors",
}


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_per_address: int = DEFAULT_MAX_PER_ADDRESS
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    keep_alive_s: float = DEFAULT_KEEP_ALIVE_S
    report_interval_s: float = DEFAULT_REPORT_INTERVAL_S

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_per_address"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("header_timeout_s", "body_timeout_s", "keep_alive_s", "report_interval_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be greater than 0, got {getattr(self, name)}")

    def timeout_of(self, phase: Phase) -> float | None:
        return {Phase.HEAD: self.header_timeout_s, Phase.BODY: self.body_timeout_s}.get(phase)


@dataclass
class _Entry:
    address: str
    phase: Phase
    since: float


@dataclass(frozen=True)
class Admitted:
    """What `admit` decided: take the new connection (closing `evict` first, if set), or not."""

    accepted: bool
    evict: Hashable | None = None
    condition: str | None = None


@dataclass
class ConnectionTable:
    """Every open connection's address and phase; decides admissions and expiries."""

    limits: ConnectionLimits
    counts: Counter = field(default_factory=Counter)
    _entries: dict[Hashable, _Entry] = field(default_factory=dict)
    _per_address: Counter = field(default_factory=Counter)
    # Connections not being served, longest waiting first: evicted in this order, and swept.
    _waiting: OrderedDict = field(default_factory=OrderedDict)

    @property
    def open(self) -> int:
        return len(self._entries)

    def held_by(self, address: str) -> int:
        return self._per_address[address]

    def admit(self, key: Hashable, address: str, now: float) -> Admitted:
        """A new connection: record it (in the HEAD phase) or refuse it."""
        if self._per_address[address] >= self.limits.max_per_address:
            self.counts["over_address_limit"] += 1
            return Admitted(False, condition="over_address_limit")
        evict = None
        if len(self._entries) >= self.limits.max_connections:
            if not self._waiting:
                self.counts["refused_at_capacity"] += 1
                return Admitted(False, condition="refused_at_capacity")
            evict = next(iter(self._waiting))
            self.forget(evict)
            self.counts["evicted_at_capacity"] += 1
        self._entries[key] = _Entry(address, Phase.HEAD, now)
        self._per_address[address] += 1
        self._waiting[key] = None
        return Admitted(True, evict, "evicted_at_capacity" if evict is not None else None)

    def enter(self, key: Hashable, phase: Phase, now: float) -> None:
        """The connection moved to `phase` (its clock restarts); unknown keys are ignored."""
        entry = self._entries.get(key)
        if entry is None or entry.phase is phase:
            return
        entry.phase, entry.since = phase, now
        self._waiting.pop(key, None)
        if phase is not Phase.SERVING:
            self._waiting[key] = None  # newest at the end

    def forget(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._waiting.pop(key, None)
        self._per_address[entry.address] -= 1
        if self._per_address[entry.address] <= 0:
            del self._per_address[entry.address]

    def expired(self, now: float) -> list[tuple[Hashable, str]]:
        """Connections past their phase's deadline, with the condition; they are forgotten."""
        shortest = min(self.limits.header_timeout_s, self.limits.body_timeout_s)
        found = []
        for key in self._waiting:
            entry = self._entries[key]
            if entry.since + shortest > now:
                break  # later entries started later still
            if entry.since + self.limits.timeout_of(entry.phase) <= now:
                found.append((key, "head_timeout" if entry.phase is Phase.HEAD else "body_timeout"))
        for key, condition in found:
            self.forget(key)
            self.counts[condition] += 1
        return found

    def take_report(self, interval_s: float) -> str | None:
        """One line for the conditions counted since the last report (None if there were none)."""
        if not self.counts:
            return None
        parts = [f"{n:,} {CONDITIONS[c]}" for c, n in sorted(self.counts.items())]
        self.counts.clear()
        return f"connections in the last {interval_s:.0f} s: {'; '.join(parts)}; {self.open:,} open"


def phase_of(conn: h11.Connection) -> Phase:
    """Where an h11 server connection stands, from the client's side."""
    if conn.their_state is h11.SEND_BODY:
        return Phase.BODY
    if conn.their_state is h11.IDLE:
        return Phase.HEAD
    return Phase.SERVING


class _ProtocolLog:
    """Stands in for uvicorn's logger in a guarded protocol: the per-connection lines an attacker
    can cause are counted in the table; everything else goes to uvicorn's logger."""

    level = logging.WARNING  # uvicorn formats its per-connection trace lines below this

    def __init__(self, table: ConnectionTable) -> None:
        self.table = table
        self.inner = logging.getLogger("uvicorn.error")

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        condition = PER_CONNECTION_LINES.get(msg)
        if condition is not None:
            self.table.counts[condition] += 1
        elif level >= self.level:
            self.inner.log(level, msg, *args, **kwargs)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, **kwargs)


class ConnectionGuard:
    """The table, the clock, the timeout sweep and the periodic report of one server."""

    def __init__(self, limits: ConnectionLimits, clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self.table = ConnectionTable(limits)
        self.clock = clock
        self._transports: dict[Hashable, asyncio.BaseTransport] = {}
        self._tasks: list[asyncio.Task] = []
        self.protocol_log = _ProtocolLog(self.table)
        self._last_report = clock()
        self._previous_handler: Any = None

    def protocol_factory(self) -> Callable[..., asyncio.Protocol]:
        """What to give `uvicorn.Config(http=...)`."""
        return functools.partial(GuardedH11Protocol, guard=self)

    def uvicorn_options(self) -> dict[str, Any]:
        return {"timeout_keep_alive": self.limits.keep_alive_s}

    # -- connections (called by the protocol) ------------------------------------------------

    def opened(self, key: Hashable, address: str, transport: asyncio.BaseTransport) -> bool:
        decision = self.table.admit(key, address, self.clock())
        if decision.evict is not None:
            evicted = self._transports.pop(decision.evict, None)
            if evicted is not None:
                evicted.close()
        if not decision.accepted:
            transport.close()
            return False
        self._transports[key] = transport
        return True

    def moved(self, key: Hashable, phase: Phase) -> None:
        self.table.enter(key, phase, self.clock())

    def closed(self, key: Hashable) -> None:
        self._transports.pop(key, None)
        self.table.forget(key)

    # -- the background work -----------------------------------------------------------------

    def sweep(self) -> None:
        """Close every connection past its deadline."""
        for key, _ in self.table.expired(self.clock()):
            transport = self._transports.pop(key, None)
            if transport is not None:
                transport.close()

    def report(self) -> None:
        now = self.clock()
        line = self.table.take_report(now - self._last_report)
        self._last_report = now
        if line is not None:
            logger.warning(line)

    async def start(self) -> None:
        """Sweep and report in the running loop; count asyncio's accept failures."""
        loop = asyncio.get_running_loop()
        self._previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._on_loop_exception)
        self._tasks = [
            asyncio.create_task(self._every(SWEEP_INTERVAL_S, self.sweep)),
            asyncio.create_task(self._every(self.limits.report_interval_s, self.report)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.report()
        asyncio.get_running_loop().set_exception_handler(self._previous_handler)

    @staticmethod
    async def _every(interval_s: float, work: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            work()

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        # asyncio logs a traceback for every accept that finds no file descriptor left.
        if context.get("message") == ACCEPT_OUT_OF_RESOURCES:
            self.table.counts["accept_failed"] += 1
        elif self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, reporting each connection's phase to a `ConnectionGuard`."""

    def __init__(self, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.logger = guard.protocol_log  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else "?"
        self.guard.opened(self, address, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.closed(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.guard.moved(self, phase_of(self.conn))

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.guard.moved(self, phase_of(self.conn))


def raise_file_limit(connections: int) -> int:
    """Raise this process's open-file limit to fit `connections` clients plus FILE_RESERVE (up
    to the hard limit); the number of connections that fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + FILE_RESERVE
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if ceiling > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        soft = ceiling
    return max(1, min(connections, soft - FILE_RESERVE))
