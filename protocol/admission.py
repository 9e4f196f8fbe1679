"""Admission control: bounded concurrency, a bounded queue ordered by caller stake.

At most `max_concurrent` requests run. When all slots are taken, a request waits in a queue of
at most `max_queue` entries, and a freed slot goes to the waiter with the highest stake (first
come, first served among equal stakes). When the queue is full, a newcomer with more stake than
the lowest waiter takes that waiter's place (the displaced one is refused); otherwise the
newcomer is refused. Either refusal is 429 with Retry-After. A waiter that has not been admitted
after `max_wait_s` is refused with 503. Nothing queues without bound.

    admission = Admission(AdmissionLimits(max_concurrent=4, max_queue=32))
    refused = await admission.acquire(stake=caller.stake)
    if refused is None:
        try: ... run the work ...
        finally: admission.release()

All state changes happen in plain (non-async) methods on one event loop, so each is atomic.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from dataclasses import dataclass, field
from enum import Enum

from protocol.refusals import Reason, Refused

DEFAULT_MAX_CONCURRENT = 8
DEFAULT_MAX_QUEUE = 64
DEFAULT_MAX_WAIT_S = 30.0
DEFAULT_RETRY_AFTER_S = 1
# Dead entries (admitted elsewhere, abandoned, displaced) are dropped lazily; rebuild the heap
# when they outnumber the live ones by this factor so it cannot grow without bound.
_COMPACT_FACTOR = 2


@dataclass(frozen=True)
class AdmissionLimits:
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    max_queue: int = DEFAULT_MAX_QUEUE
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    retry_after_s: int = DEFAULT_RETRY_AFTER_S

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {self.max_concurrent}")
        if self.max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, got {self.max_queue}")
        if not self.max_wait_s > 0:
            raise ValueError(f"max_wait_s must be > 0, got {self.max_wait_s}")
        if self.retry_after_s < 1:
            raise ValueError(f"retry_after_s must be at least 1 second, got {self.retry_after_s}")


class _State(Enum):
    WAITING = "waiting"
    ADMITTED = "admitted"
    REFUSED = "refused"
    ABANDONED = "abandoned"


@dataclass
class _Waiter:
    stake: float
    seq: int
    future: asyncio.Future[Refused | None]
    state: _State = _State.WAITING
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[float, int]:
        """Heap order: highest stake first, then earliest arrival."""
        return (-self.stake, self.seq)


class Admission:
    """Stake-ordered admission for one server (one event loop)."""

    def __init__(self, limits: AdmissionLimits | None = None) -> None:
        self.limits = limits or AdmissionLimits()
        self._running = 0
        self._queued = 0
        self._heap: list[tuple[tuple[float, int], _Waiter]] = []
        self._arrivals = itertools.count()

    @property
    def running(self) -> int:
        return self._running

    @property
    def queued(self) -> int:
        return self._queued

    async def acquire(self, stake: float) -> Refused | None:
        """Wait for a slot; `None` means admitted (call `release()` when done)."""
        if math.isnan(stake):
            raise ValueError("stake must be a number, got NaN")
        if self._running < self.limits.max_concurrent and self._queued == 0:
            self._running += 1
            return None
        waiter = self._enqueue(stake)
        if isinstance(waiter, Refused):
            return waiter
        try:
            return await waiter.future
        except asyncio.CancelledError:
            # The caller went away. If a slot was handed to it in the meantime, pass it on.
            if waiter.state is _State.ADMITTED:
                self.release()
            elif waiter.state is _State.WAITING:
                self._settle(waiter, _State.ABANDONED, None)
            raise

    def release(self) -> None:
        """Free a slot: hand it straight to the best waiter, or leave it free."""
        while self._heap:
            _, waiter = heapq.heappop(self._heap)
            if waiter.state is _State.WAITING:
                self._settle(waiter, _State.ADMITTED, None)
                return
        if self._running <= 0:
            raise RuntimeError("Admission.release() called with no request running")
        self._running -= 1

    def _enqueue(self, stake: float) -> _Waiter | Refused:
        if self._queued >= self.limits.max_queue:
            lowest = self._lowest_waiting()
            if lowest is None or lowest.stake >= stake:
                return self._queue_full(
                    f"the server is busy: {self._running} requests running and {self._queued} "
                    f"waiting, none with less stake than yours ({stake:g}); retry later"
                )
            self._settle(
                lowest,
                _State.REFUSED,
                self._queue_full(
                    f"the server is busy and a caller with more stake ({stake:g} > "
                    f"{lowest.stake:g}) took your place in the queue; retry later"
                ),
            )
        loop = asyncio.get_running_loop()
        waiter = _Waiter(stake, next(self._arrivals), loop.create_future())
        waiter.timer = loop.call_later(self.limits.max_wait_s, self._expire, waiter)
        heapq.heappush(self._heap, (waiter.key, waiter))
        self._queued += 1
        self._compact_if_sparse()
        return waiter

    def _expire(self, waiter: _Waiter) -> None:
        if waiter.state is _State.WAITING:
            self._settle(
                waiter,
                _State.REFUSED,
                Refused.because(
                    Reason.QUEUE_WAIT_EXCEEDED,
                    f"waited {self.limits.max_wait_s:g} s without a free slot; the server is "
                    "overloaded, retry later",
                    retry_after_s=self.limits.retry_after_s,
                ),
            )

    def _settle(self, waiter: _Waiter, state: _State, outcome: Refused | None) -> None:
        """Take a waiter out of the queue (it stays in the heap as a dead entry)."""
        waiter.state = state
        self._queued -= 1
        if waiter.timer is not None:
            waiter.timer.cancel()
        if not waiter.future.done():
            waiter.future.set_result(outcome)

    def _lowest_waiting(self) -> _Waiter | None:
        live = [w for _, w in self._heap if w.state is _State.WAITING]
        return max(live, key=lambda w: w.key, default=None)

    def _queue_full(self, message: str) -> Refused:
        return Refused.because(Reason.QUEUE_FULL, message, retry_after_s=self.limits.retry_after_s)

    def _compact_if_sparse(self) -> None:
        if len(self._heap) > _COMPACT_FACTOR * (self._queued + 1):
            self._heap = [entry for entry in self._heap if entry[1].state is _State.WAITING]
            heapq.heapify(self._heap)
