"""The client adapter: sign what is sent, verify what comes back, many miners at once.

    async with EpistulaClient(validator_keypair) as client:
        outcomes = await client.fan_out(
            [Target(miner_hotkey, "http://10.0.0.5:8091"), ...],
            "/v1/chat/completions", request, response_model=ChatCompletion, timeout_s=12.0,
        )
        for outcome in outcomes:
            if isinstance(outcome, Reply): outcome.parsed, outcome.latency_s, outcome.ttfb_s
            else: outcome.reason, outcome.message, outcome.status, outcome.error

A call never raises for anything the miner or the network does: it returns a `Reply` (status 2xx,
signature verified, body valid) or a `Failure` with a `FailureReason`. `stream()` does the same for
server-sent event streams, verifying the signature trailer (see `protocol.streaming`).

Each request is signed over the exact bytes httpx sends, by the rule `EpistulaAuth` (see
`protocol.transport`) applies for other httpx clients; the answer's Epistula headers are read
from the raw response headers (a header sent twice is refused), and its signature must be the
target's, for us, bound to the request's uuid. The types
(`Target`, `Reply`, `StreamReply`, `Failure`, `FailureReason`) live in `protocol.outcomes` and
are re-exported here.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from protocol import headers as h
from protocol.clock import Clock, wall_clock_ms
from protocol.epistula import (
    Signer,
    Verified,
    check_response,
    epistula_values_raw,
    parse_values,
    sign_request,
    verify_response,
)
from protocol.outcomes import (
    Failure,
    FailureReason,
    Reply,
    StreamReply,
    Target,
    error_of,
    successes,
    summarise,
)
from protocol.refusals import Refused
from protocol.schemas import ErrorDetail
from protocol.streaming import DONE_DATA, SignedStreamReader, StreamFormatError
from protocol.transport import EpistulaAuth, NoCookiesClient, run_within

__all__ = [
    "EpistulaAuth",
    "EpistulaClient",
    "Failure",
    "FailureReason",
    "NoCookiesClient",
    "Reply",
    "StreamReply",
    "Target",
    "encode_body",
    "run_within",
    "successes",
]

DEFAULT_MAX_CONNECTIONS_PER_TARGET = 64
DEFAULT_MAX_TARGETS = 1024
DEFAULT_MAX_RESPONSE_BYTES = 8 << 20
DEFAULT_TIMEOUT_S = 30.0
# Drop an idle connection before a server would (uvicorn's default keep-alive is 5 s): reusing
# one the server is closing at that moment fails the request with a read error.
KEEPALIVE_EXPIRY_S = 4.0
_URL_CACHE_FACTOR = 4  # parsed URLs kept per target allowed (a few paths each)
_REQUEST_HEADERS = (("Content-Type", h.CONTENT_TYPE_JSON),)

M = TypeVar("M", bound=BaseModel)
Body = bytes | BaseModel | Mapping[str, Any]


class _Timer:
    __slots__ = ("first_chunk_s", "started", "ttfb_s")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.ttfb_s: float | None = None
        self.first_chunk_s: float | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def mark_first_byte(self) -> None:
        self.ttfb_s = self.elapsed()


def encode_body(body: Body) -> bytes:
    """The wire bytes of a body: given bytes as is, models without unset None fields."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, BaseModel):
        return body.model_dump_json(exclude_none=True).encode()
    return json.dumps(body, separators=(",", ":")).encode()


class EpistulaClient:
    """An async client signing as `keypair`, with a keep-alive connection pool per target.

    All calls to one target share that target's pool. One pool per target rather than one pool
    for all: httpcore's pool does work quadratic in its number of connections on every request,
    which makes a single pool of hundreds of connections the bottleneck of a fan-out.
    """

    def __init__(
        self,
        keypair: Signer,
        *,
        max_connections_per_target: int = DEFAULT_MAX_CONNECTIONS_PER_TARGET,
        max_targets: int = DEFAULT_MAX_TARGETS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        clock: Clock = wall_clock_ms,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.keypair = keypair
        self.hotkey = keypair.ss58_address
        self.max_response_bytes = max_response_bytes
        self.max_targets = max_targets
        self.clock = clock
        self._limits = httpx.Limits(
            max_connections=max_connections_per_target,
            max_keepalive_connections=max_connections_per_target,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        )
        self._transport = transport
        # Building an SSL context costs ~25 ms; every per-target pool shares this one.
        self._ssl_context = httpx.create_ssl_context() if transport is None else None
        self._pools: OrderedDict[str, httpx.AsyncClient] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()
        self._urls: dict[tuple[str, str], httpx.URL] = {}

    async def __aenter__(self) -> EpistulaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        await asyncio.gather(*(pool.aclose() for pool in pools), *self._closing)

    def _url(self, target: Target, path: str) -> httpx.URL:
        key = (target.url, path)
        url = self._urls.get(key)
        if url is None:
            if len(self._urls) >= _URL_CACHE_FACTOR * self.max_targets:
                self._urls.clear()
            url = self._urls[key] = httpx.URL(target.url.rstrip("/") + path)
        return url

    def _pool(self, target: Target) -> httpx.AsyncClient:
        pool = self._pools.get(target.url)
        if pool is not None:
            self._pools.move_to_end(target.url)
            return pool
        pool = NoCookiesClient(
            limits=self._limits,
            # The whole exchange runs under one deadline (asyncio.wait_for), not httpx's
            # per-read timeouts, so a miner trickling bytes cannot stretch it.
            timeout=None,
            transport=self._transport,
            verify=self._ssl_context or True,
        )
        self._pools[target.url] = pool
        if len(self._pools) > self.max_targets:
            _, evicted = self._pools.popitem(last=False)
            task = asyncio.get_running_loop().create_task(evicted.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return pool

    async def call(
        self,
        target: Target,
        path: str,
        body: Body,
        *,
        response_model: type[M],
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> Reply[M] | Failure:
        """POST `body` to one target and verify the answer, within `timeout_s` in total."""
        timer = _Timer()
        content = encode_body(body)
        try:
            return await run_within(
                self._exchange(target, path, content, response_model, timer), timeout_s
            )
        except asyncio.TimeoutError:
            return self._timed_out(target, timer, timeout_s)

    async def fan_out(
        self,
        targets: Iterable[Target],
        path: str,
        body: Body,
        *,
        response_model: type[M],
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> list[Reply[M] | Failure]:
        """The same body to every target concurrently; one outcome per target, in order."""
        content = encode_body(body)
        return list(
            await asyncio.gather(
                *(
                    self.call(t, path, content, response_model=response_model, timeout_s=timeout_s)
                    for t in targets
                )
            )
        )

    async def stream(
        self,
        target: Target,
        path: str,
        body: Body,
        *,
        chunk_model: type[M],
        timeout_s: float = DEFAULT_TIMEOUT_S,
        on_chunk: Callable[[M], Awaitable[None] | None] | None = None,
    ) -> StreamReply[M] | Failure:
        """POST and read a signed event stream; `on_chunk` sees each chunk as it arrives.

        Chunks handed to `on_chunk` are not yet proven: only the returned `StreamReply` is.
        """
        timer = _Timer()
        content = encode_body(body)
        try:
            return await run_within(
                self._stream_exchange(target, path, content, chunk_model, timer, on_chunk),
                timeout_s,
            )
        except asyncio.TimeoutError:
            return self._timed_out(target, timer, timeout_s)

    # -------------------------------------------------------------------- internals

    async def _open(
        self, target: Target, path: str, content: bytes, timer: _Timer
    ) -> tuple[httpx.Response, str] | Failure:
        """Send; return the response (headers read, body not yet) and the request's uuid."""
        pool = self._pool(target)
        # Signed here rather than through `EpistulaAuth`, with the same rule over the same
        # bytes: `content` is what httpx sends, verbatim. Passing the headers to the request
        # as it is built saves httpx's per-header merge and its auth generator per call.
        signed = sign_request(content, self.keypair, target.hotkey, now_ms=self.clock())
        request = httpx.Request(
            "POST",
            self._url(target, path),
            content=content,
            headers=[*_REQUEST_HEADERS, *signed.items()],
        )
        try:
            response = await pool.send(request, stream=True)
        except httpx.ConnectError as exc:
            return self._fail(
                target, FailureReason.CONNECTION_REFUSED, f"cannot connect: {exc}", timer
            )
        except httpx.TransportError as exc:
            return self._fail(
                target, FailureReason.CONNECTION_ERROR, f"{type(exc).__name__}: {exc}", timer
            )
        timer.mark_first_byte()
        return response, signed[h.UUID]

    async def _exchange(
        self, target: Target, path: str, content: bytes, model: type[M], timer: _Timer
    ) -> Reply[M] | Failure:
        opened = await self._open(target, path, content, timer)
        if isinstance(opened, Failure):
            return opened
        response, request_uuid = opened
        try:
            body = await self._read_limited(response)
        except httpx.TransportError as exc:
            return self._fail(target, FailureReason.CONNECTION_ERROR, f"reading: {exc}", timer)
        finally:
            await response.aclose()
        if body is None:
            return self._too_large(target, timer, response.status_code)
        if not response.is_success:
            return self._bad_status(target, response, body, request_uuid, timer)
        proof = epistula_values_raw(response.headers.raw)
        verified = self._proof(target, proof, body, request_uuid)
        if isinstance(verified, Refused):
            return self._fail(target, FailureReason.BAD_SIGNATURE, verified.message, timer)
        try:
            parsed = model.model_validate_json(body)
        except ValidationError as exc:
            return self._fail(target, FailureReason.INVALID_SCHEMA, summarise(exc), timer)
        assert timer.ttfb_s is not None and isinstance(proof, dict)
        return Reply(
            target, response.status_code, parsed, body, proof, timer.elapsed(), timer.ttfb_s
        )

    async def _stream_exchange(
        self,
        target: Target,
        path: str,
        content: bytes,
        model: type[M],
        timer: _Timer,
        on_chunk: Callable[[M], Awaitable[None] | None] | None,
    ) -> StreamReply[M] | Failure:
        opened = await self._open(target, path, content, timer)
        if isinstance(opened, Failure):
            return opened
        response, request_uuid = opened
        try:
            if not response.is_success:
                body = await self._read_limited(response)
                if body is None:
                    return self._too_large(target, timer, response.status_code)
                return self._bad_status(target, response, body, request_uuid, timer)
            content_type = response.headers.get("content-type", "")
            if not content_type.startswith(h.CONTENT_TYPE_SSE):
                return self._fail(
                    target,
                    FailureReason.INVALID_SCHEMA,
                    f"expected an event stream, got content-type {content_type!r}",
                    timer,
                )
            return await self._read_stream(target, response, request_uuid, model, timer, on_chunk)
        except httpx.TransportError as exc:
            return self._fail(target, FailureReason.CONNECTION_ERROR, f"reading: {exc}", timer)
        finally:
            await response.aclose()

    async def _read_stream(
        self,
        target: Target,
        response: httpx.Response,
        request_uuid: str,
        model: type[M],
        timer: _Timer,
        on_chunk: Callable[[M], Awaitable[None] | None] | None,
    ) -> StreamReply[M] | Failure:
        reader = SignedStreamReader()
        chunks: list[M] = []
        error: ErrorDetail | None = None
        received = 0
        try:
            async for data in response.aiter_bytes():
                received += len(data)
                if received > self.max_response_bytes:
                    return self._too_large(target, timer, response.status_code)
                for payload in reader.feed(data):
                    if payload == DONE_DATA or error is not None:
                        continue
                    error = error_of(payload)
                    if error is not None:
                        continue
                    chunk = model.model_validate_json(payload)
                    if timer.first_chunk_s is None:
                        timer.first_chunk_s = timer.elapsed()
                    chunks.append(chunk)
                    if on_chunk is not None:
                        maybe = on_chunk(chunk)
                        if asyncio.iscoroutine(maybe):
                            await maybe
            reader.finish()
        except StreamFormatError as exc:
            return self._fail(target, FailureReason.BAD_SIGNATURE, str(exc), timer)
        except ValidationError as exc:
            return self._fail(target, FailureReason.INVALID_SCHEMA, summarise(exc), timer)
        assert reader.trailer is not None
        verified = verify_response(
            reader.trailer,
            reader.digest,
            responder_hotkey=target.hotkey,
            caller_hotkey=self.hotkey,
            request_uuid=request_uuid,
        )
        if isinstance(verified, Refused):
            return self._fail(target, FailureReason.BAD_SIGNATURE, verified.message, timer)
        if error is not None:
            return self._fail(
                target,
                FailureReason.STREAM_ERROR,
                error.message,
                timer,
                response.status_code,
                error,
            )
        assert timer.ttfb_s is not None
        return StreamReply(
            target, chunks, reader.trailer, timer.elapsed(), timer.ttfb_s, timer.first_chunk_s
        )

    async def _read_limited(self, response: httpx.Response) -> bytes | None:
        declared = h.raw_value(response.headers.raw, h.CONTENT_LENGTH_RAW)
        if declared is not None and declared.isdigit() and int(declared) > self.max_response_bytes:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_response_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _fail(
        self,
        target: Target,
        reason: FailureReason,
        message: str,
        timer: _Timer,
        status: int | None = None,
        error: ErrorDetail | None = None,
    ) -> Failure:
        return Failure(target, reason, message, timer.elapsed(), timer.ttfb_s, status, error)

    def _timed_out(self, target: Target, timer: _Timer, timeout_s: float) -> Failure:
        stage = "no response headers" if timer.ttfb_s is None else "response incomplete"
        return self._fail(
            target, FailureReason.TIMEOUT, f"{stage} within the {timeout_s:g} s deadline", timer
        )

    def _too_large(self, target: Target, timer: _Timer, status: int) -> Failure:
        return self._fail(
            target,
            FailureReason.RESPONSE_TOO_LARGE,
            f"response exceeds {self.max_response_bytes} bytes",
            timer,
            status,
        )

    def _proof(
        self, target: Target, proof: object, body: bytes, request_uuid: str
    ) -> Verified | Refused:
        """Whether `body` carries the target's signature, for us, bound to our request."""
        return check_response(
            parse_values(proof),
            body,
            responder_hotkey=target.hotkey,
            caller_hotkey=self.hotkey,
            request_uuid=request_uuid,
        )

    def _bad_status(
        self,
        target: Target,
        response: httpx.Response,
        body: bytes,
        request_uuid: str,
        timer: _Timer,
    ) -> Failure:
        """A refusal. Its error body counts as the target's own word (`signed`) only when the
        target signed it for this request: anyone on the path can write an unsigned one."""
        status = response.status_code
        error = error_of(body)
        message = error.message if error is not None else body[:200].decode(errors="replace")
        proof = epistula_values_raw(response.headers.raw)
        signed = error is not None and isinstance(
            self._proof(target, proof, body, request_uuid), Verified
        )
        return Failure(
            target,
            FailureReason.BAD_STATUS,
            f"HTTP {status}: {message}",
            timer.elapsed(),
            timer.ttfb_s,
            status,
            error,
            signed,
        )
