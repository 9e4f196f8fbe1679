"""Sending one organic request to a miner, and to another when that one fails.

    forwarder = Forwarder(clients, router, settings, metrics)
    answer = await forwarder.answer(candidates, path, body, request, response_model)
    stream = await forwarder.open_stream(candidates, path, body, chunk_model)

Each attempt goes to a miner the router picks among those not tried yet for this request. An
attempt fails on an error, a refusal, a bad signature, an answer without its proof (token ids
and logprobs), or, for a stream, no first token within `first_token_timeout`; then the request
goes to the next miner, up to `attempts` miners. A stream is committed to a miner once its
first token arrives: before that, nothing has reached the user, so a retry is invisible; after
it, a failure ends the user's stream with an error event. The calls are the validator's own
signed calls (protocol.client), so a miner cannot tell them from its synthetic tasks.

The calls take turns over several clients of the same key: httpcore's connection pool does
work quadratic in its number of connections on every request (protocol/client.py), and many
concurrent streams to one miner would otherwise all sit in one pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from neurons import translate
from neurons.gateway import errors
from neurons.gateway.metrics import GatewayMetrics
from neurons.gateway.routing import Candidate, Router
from protocol.client import EpistulaClient, Failure, Reply, StreamReply

# Seconds a user waits before retrying when no miner can answer now (routing state changes
# at the validator's next round or metagraph sync, which are seconds apart).
NO_MINER_RETRY_AFTER_S = 5


@dataclass(frozen=True)
class Settings:
    attempts: int
    first_token_timeout_s: float
    timeout_s: float


@dataclass
class Attempts:
    """The miners one request was tried on, and why each failed."""

    tried: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def error(self) -> errors.ApiError:
        if not self.tried:
            return errors.unavailable(
                "no miner with a verified score can take this request now; retry shortly",
                NO_MINER_RETRY_AFTER_S,
            )
        return errors.upstream_failed(
            f"{len(self.tried)} miners failed this request ({'; '.join(self.reasons)}); "
            "nothing was charged: retry it"
        )


@dataclass(frozen=True)
class Answer:
    """A verified, complete answer from one miner."""

    pick: Candidate
    reply: Reply
    claim: translate.Claim
    attempts: int


@dataclass
class OpenStream:
    """A stream committed to one miner: its first chunk arrived; the rest follow."""

    pick: Candidate
    first: Any
    queue: asyncio.Queue
    call: asyncio.Task  # -> StreamReply | Failure
    attempts: int
    ttft_s: float  # from the request's first attempt to this first chunk (what the user waited)

    async def rest(self):
        """The chunks after the first, until the call ends (its result is then in `call`)."""
        while True:
            item = await self.queue.get()
            if item is _END:
                return
            yield item

    async def close(self) -> None:
        if not self.call.done():
            self.call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.call


_END = object()


class Forwarder:
    """Tries miners for one request at a time; see the module docstring."""

    def __init__(
        self,
        clients: Sequence[EpistulaClient],
        router: Router,
        settings: Settings,
        metrics: GatewayMetrics,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not clients:
            raise ValueError("the forwarder needs at least one client")
        self.clients = list(clients)
        self._turn = itertools.cycle(self.clients)
        self.router = router
        self.settings = settings
        self.metrics = metrics
        self.rng = rng or random.Random()
        self.clock = clock

    def _next(self, candidates: Sequence[Candidate], attempts: Attempts) -> Candidate | None:
        if len(attempts.tried) >= self.settings.attempts:
            return None
        pick = self.router.choose(candidates, self.rng, self.clock(), exclude=attempts.tried)
        if pick is not None:
            if attempts.tried:
                self.metrics.retries.inc()
            attempts.tried.append(pick.hotkey)
        return pick

    def _failed(self, attempts: Attempts, pick: Candidate, why: str) -> None:
        self.router.failed(pick.hotkey, self.clock())
        attempts.reasons.append(f"uid {pick.uid}: {why}")

    async def answer(
        self,
        candidates: Sequence[Candidate],
        path: str,
        body: translate.WireRequest,
        request,
        response_model: type,
    ) -> Answer:
        """A whole (non-streamed) answer, from the first miner that gives one with its proof."""
        attempts = Attempts()
        while (pick := self._next(candidates, attempts)) is not None:
            reply = await next(self._turn).call(
                pick.target,
                path,
                body,
                response_model=response_model,
                timeout_s=self.settings.timeout_s,
            )
            if isinstance(reply, Failure):
                self._failed(attempts, pick, f"{reply.reason.value}: {reply.message}")
                continue
            try:
                claim = translate.claim_of(request, reply.parsed)
            except translate.MissingProof as exc:
                self._failed(attempts, pick, f"no proof: {exc}")
                continue
            return Answer(pick, reply, claim, len(attempts.tried))
        raise attempts.error()

    async def open_stream(
        self,
        candidates: Sequence[Candidate],
        path: str,
        body: translate.WireRequest,
        chunk_model: type,
    ) -> OpenStream:
        """A stream whose first token has arrived, from the first miner that sends one in time."""
        attempts = Attempts()
        started = time.perf_counter()
        while (pick := self._next(candidates, attempts)) is not None:
            queue: asyncio.Queue = asyncio.Queue()
            call = asyncio.create_task(
                next(self._turn).stream(
                    pick.target,
                    path,
                    body,
                    chunk_model=chunk_model,
                    timeout_s=self.settings.timeout_s,
                    on_chunk=queue.put_nowait,
                )
            )
            call.add_done_callback(lambda _, q=queue: q.put_nowait(_END))
            try:
                first = await asyncio.wait_for(queue.get(), self.settings.first_token_timeout_s)
            except asyncio.TimeoutError:
                first = None
                why = f"no first token within {self.settings.first_token_timeout_s:g} s"
            if first is not None and first is not _END:
                ttft = time.perf_counter() - started
                return OpenStream(pick, first, queue, call, len(attempts.tried), ttft)
            if first is _END:
                outcome = call.result()
                why = (
                    f"{outcome.reason.value}: {outcome.message}"
                    if isinstance(outcome, Failure)
                    else "the stream had no chunks"
                )
            stream = OpenStream(pick, None, queue, call, 0, 0.0)
            await stream.close()
            self._failed(attempts, pick, why)
        raise attempts.error()


def stream_result(stream: OpenStream) -> StreamReply | Failure:
    """What the committed stream's call ended with (call once `rest()` is exhausted)."""
    return stream.call.result()
