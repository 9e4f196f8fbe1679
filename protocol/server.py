"""The server adapter: a FastAPI app whose routes only ever see verified, admitted callers.

    app = create_app(
        keypair,                       # the neuron's hotkey: receiver of requests, signer of responses
        directory,                     # CallerDirectory (metagraph view)
        CallerPolicy(min_stake=1000.0),
        [SignedRoute("/v1/chat/completions", ChatCompletionRequest, handle_chat)],
        limits=ServerLimits(max_body_bytes=1 << 20, admission=AdmissionLimits(max_concurrent=4)),
    )
    async def handle_chat(request: ChatCompletionRequest, caller: Caller) -> ChatCompletion: ...

A handler returns a pydantic model (sent as signed JSON) or an async iterator of models (sent as
a signed server-sent event stream, see `protocol.streaming`), or raises `RefusedError`.

Every POST to a route goes through these checks, in this order, and stops at the first failure:
 1. Epistula headers present, version 2, well formed               400
 2. timestamp inside the symmetric window; signed for our hotkey   401
 3. body read up to `max_body_bytes` (larger: refused mid-read)    413
 4. signature over the exact body bytes                            401
 5. (signer, uuid) not seen before                                 401 (503 if the cache is full)
 6. caller policy: registered, validator permit, minimum stake     403
    (only a request that passes the policy has its uuid remembered: refused keys cannot fill
    the replay cache)
 7. body is JSON and matches the route's schema                    400 / 422
 8. admission: a slot, by stake when saturated                     429 + Retry-After (503 on wait)
 9. the handler.
A client that closes its connection during steps 8-9 stops them at once: its place in the queue
or its slot is freed, and the handler's work (an engine's generation) is cancelled.
Nothing costly (reading a large body, verifying, parsing JSON) runs before the cheap checks, and
the metagraph is consulted only for a hotkey whose signature verified. Refusals are
`{"error": {"code", "message"}}`; from step 6 on, when the caller is authenticated, every response
(refusals included) is signed for the caller and bound to the request's uuid.

`app.state.protocol` is the `ServerState`: assign a new `directory` after a metagraph sync.
`EpistulaGuard` (steps 1-6) also works as a FastAPI dependency for routes a neuron adds itself.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from loguru import logger
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

from protocol import headers as h
from protocol.admission import Admission, AdmissionLimits
from protocol.clock import Clock, wall_clock_ms
from protocol.epistula import (
    DEFAULT_SEEN_CAPACITY,
    DEFAULT_WINDOW_MS,
    BodyDigest,
    SeenRequests,
    Signer,
    Verified,
    check_addressing,
    check_signature,
    parse_raw_headers,
    sign_response,
)
from protocol.policy import Caller, CallerDirectory, CallerPolicy, check_caller
from protocol.refusals import STATUS_OF, Reason, Refused, RefusedError
from protocol.streaming import DONE_EVENT, StreamHasher, encode_event, encode_trailer

DEFAULT_MAX_BODY_BYTES = 1 << 20
CLIENT_CLOSED_REQUEST = STATUS_OF[Reason.CLIENT_CLOSED]
MAX_VALIDATION_ERRORS_SHOWN = 5

HandlerResult = BaseModel | AsyncIterator[BaseModel]
Handler = Callable[[Any, Caller], Awaitable[HandlerResult] | AsyncIterator[BaseModel]]


@dataclass(frozen=True)
class ServerLimits:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    window_ms: int = DEFAULT_WINDOW_MS
    seen_capacity: int = DEFAULT_SEEN_CAPACITY
    admission: AdmissionLimits = field(default_factory=AdmissionLimits)

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, got {self.max_body_bytes}")
        if self.window_ms < 1:
            raise ValueError(f"window_ms must be at least 1, got {self.window_ms}")


@dataclass(frozen=True)
class SignedRoute:
    """A POST endpoint: its path, the pydantic model of its body, and its handler."""

    path: str
    request_model: type[BaseModel]
    handler: Handler


@dataclass
class ServerState:
    keypair: Signer
    directory: CallerDirectory
    policy: CallerPolicy
    limits: ServerLimits
    clock: Clock
    seen: SeenRequests
    admission: Admission


@dataclass(frozen=True)
class Authenticated:
    """What `EpistulaGuard` yields: the admitted-by-policy caller and the exact body bytes."""

    caller: Caller
    body: bytes


class _Refusal(Exception):
    """A refusal inside the pipeline; `verified` is set once the caller is authenticated."""

    def __init__(self, refused: Refused, verified: Verified | None = None) -> None:
        super().__init__(refused.message)
        self.refused = refused
        self.verified = verified


async def read_body_limited(request: Request, max_bytes: int) -> bytes | Refused:
    """The request body, refused as soon as it is known to exceed `max_bytes`."""
    declared = h.raw_value(request.scope["headers"], h.CONTENT_LENGTH_RAW)
    if declared is not None:
        if not declared.isdigit():
            return Refused.because(
                Reason.MALFORMED_HEADER,
                f"Content-Length is {declared[:40].decode(errors='replace')!r}, not a number",
            )
        if int(declared) > max_bytes:
            return _too_large(int(declared), max_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                return _too_large(size, max_bytes, at_least=True)
            chunks.append(chunk)
    except ClientDisconnect:  # closed mid-body (or closed by the server's body timeout)
        return Refused.because(Reason.CLIENT_CLOSED, f"the client left after {size} body bytes")
    return b"".join(chunks)  # one chunk comes back as itself, not copied


def _too_large(size: int, max_bytes: int, *, at_least: bool = False) -> Refused:
    return Refused.because(
        Reason.BODY_TOO_LARGE,
        f"body is {'at least ' if at_least else ''}{size} bytes; this server accepts at most "
        f"{max_bytes}",
    )


def parse_body(model: type[BaseModel], body: bytes) -> BaseModel | Refused:
    """Validate the body against `model`: 400 if it is not JSON, 422 if it breaks the schema."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(error["type"] == "json_invalid" for error in errors):
            return Refused.because(
                Reason.MALFORMED_JSON, f"body is not valid JSON: {errors[0]['msg']}"
            )
        shown = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in errors[:MAX_VALIDATION_ERRORS_SHOWN]
        )
        more = len(errors) - MAX_VALIDATION_ERRORS_SHOWN
        return Refused.because(
            Reason.INVALID_REQUEST,
            f"body does not match {model.__name__}: {shown}"
            + (f" (+{more} more)" if more > 0 else ""),
        )


class EpistulaGuard:
    """Checks 1-6 of the module docstring; usable as a FastAPI dependency.

    Raises `RefusedError` (rendered as the JSON error by the app's exception handler).
    """

    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def __call__(self, request: Request) -> Authenticated:
        try:
            return await self.authenticate(request)
        except _Refusal as refusal:
            raise RefusedError(refusal.refused) from None

    async def authenticate(self, request: Request) -> Authenticated:
        state = self.state
        now_ms = state.clock()
        # The raw ASGI header pairs: only the Epistula values are decoded, and a duplicate cannot
        # hide behind a merged mapping.
        parsed = parse_raw_headers(request.scope["headers"])
        if isinstance(parsed, Refused):
            raise _Refusal(parsed)
        refused = check_addressing(
            parsed,
            receiver_hotkey=state.keypair.ss58_address,
            now_ms=now_ms,
            window_ms=state.limits.window_ms,
        )
        if refused is not None:
            raise _Refusal(refused)
        body = await read_body_limited(request, state.limits.max_body_bytes)
        if isinstance(body, Refused):
            raise _Refusal(body)
        refused = check_signature(parsed, body) or state.seen.check(
            parsed.signed_by, parsed.uuid, now_ms=now_ms
        )
        if refused is not None:
            raise _Refusal(refused)
        verified = Verified(parsed.signed_by, parsed.signed_for, parsed.uuid, parsed.timestamp_ms)
        caller = check_caller(state.policy, state.directory, verified)
        if isinstance(caller, Refused):
            raise _Refusal(caller, verified)
        # Remembered only now, with no await since `check`: an accepted request's uuid cannot
        # slip in twice, and keys the policy refuses cannot fill the replay cache.
        state.seen.record(
            parsed.signed_by,
            parsed.uuid,
            expires_at_ms=parsed.timestamp_ms + state.limits.window_ms,
        )
        return Authenticated(caller, body)


def _json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _signed_for(
    state: ServerState, body: bytes | BodyDigest, hotkey: str, uuid: str
) -> dict[str, str]:
    return sign_response(
        body, state.keypair, caller_hotkey=hotkey, request_uuid=uuid, now_ms=state.clock()
    )


def refusal_response(
    state: ServerState, refused: Refused, verified: Verified | Caller | None = None
) -> Response:
    """The JSON error response; signed for the caller when the caller is authenticated."""
    body = _json_bytes(refused.error_body())
    headers: dict[str, str] = {}
    if refused.retry_after_s is not None:
        headers[h.RETRY_AFTER] = str(refused.retry_after_s)
    if verified is not None:
        hotkey = verified.hotkey if isinstance(verified, Caller) else verified.signed_by
        headers.update(_signed_for(state, body, hotkey, verified.uuid))
    logger.debug("refused {} ({}): {}", refused.code, refused.status, refused.message)
    return Response(body, refused.status, headers=headers, media_type=h.CONTENT_TYPE_JSON)


class _SignedEventStream(StreamingResponse):
    """An SSE response that frees its admission slot however the stream ends."""

    def __init__(self, content: AsyncIterator[bytes], on_close: Callable[[], None]) -> None:
        super().__init__(
            content, media_type=h.CONTENT_TYPE_SSE, headers={"Cache-Control": "no-cache"}
        )
        self._on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()

    def abandon(self) -> None:
        """Free the slot of a stream that will never be sent."""
        self._on_close()


async def _signed_events(
    state: ServerState, caller: Caller, events: AsyncIterator[BaseModel]
) -> AsyncIterator[bytes]:
    hasher = StreamHasher()
    try:
        async for event in events:
            yield hasher.add(encode_event(event.model_dump_json().encode()))
    except RefusedError as exc:
        yield hasher.add(encode_event(_json_bytes(exc.refused.error_body())))
    except Exception:
        logger.exception("stream handler failed for {}", caller.uuid)
        failed = Refused.because(Reason.HANDLER_ERROR, "the handler failed while streaming")
        yield hasher.add(encode_event(_json_bytes(failed.error_body())))
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
    yield hasher.add(DONE_EVENT)
    yield encode_trailer(_signed_for(state, hasher.digest(), caller.hotkey, caller.uuid))


async def _run_handler(
    route: SignedRoute, request_body: BaseModel, caller: Caller
) -> HandlerResult:
    result = route.handler(request_body, caller)
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, BaseModel) or hasattr(result, "__aiter__"):
        return result  # type: ignore[return-value]
    raise TypeError(
        f"handler for {route.path} returned {type(result).__name__}; return a pydantic model "
        "or an async iterator of models"
    )


async def _answer(
    state: ServerState, route: SignedRoute, request_body: BaseModel, caller: Caller
) -> Response:
    """Steps 8 and 9: a slot, then the handler. The slot is freed however this ends (a stream
    frees it when the stream closes), cancellation included."""
    refused = await state.admission.acquire(caller.stake)
    if refused is not None:
        return refusal_response(state, refused, caller)
    streaming = False
    try:
        result = await _run_handler(route, request_body, caller)
        if isinstance(result, BaseModel):
            body = result.model_dump_json().encode()
            headers = _signed_for(state, body, caller.hotkey, caller.uuid)
            return Response(body, 200, headers=headers, media_type=h.CONTENT_TYPE_JSON)
        response = _SignedEventStream(
            _signed_events(state, caller, result), on_close=state.admission.release
        )
        streaming = True
        return response
    except RefusedError as exc:
        return refusal_response(state, exc.refused, caller)
    except Exception as exc:
        logger.exception("handler for {} failed", route.path)
        failed = Refused.because(
            Reason.HANDLER_ERROR,
            f"the handler failed ({type(exc).__name__}); see the server log",
        )
        return refusal_response(state, failed, caller)
    finally:
        if not streaming:
            state.admission.release()


async def _client_gone(request: Request) -> None:
    """Returns when the client closes its connection. Called once the body has been read, when
    the server's next message can only be the disconnect (or the end of the response)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _endpoint(state: ServerState, guard: EpistulaGuard, route: SignedRoute) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        try:
            authenticated = await guard.authenticate(request)
        except _Refusal as refusal:
            return refusal_response(state, refusal.refused, refusal.verified)
        caller = authenticated.caller
        request_body = parse_body(route.request_model, authenticated.body)
        if isinstance(request_body, Refused):
            return refusal_response(state, request_body, caller)
        # A client that goes away while waiting for a slot or for its answer gives both up at
        # once: the work is cancelled (the engine drops the sequence, admission the slot).
        work = asyncio.ensure_future(_answer(state, route, request_body, caller))
        gone = asyncio.ensure_future(_client_gone(request))
        try:
            await asyncio.wait((work, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not work.done():
                work.cancel()
        if work.done() and not work.cancelled():
            return work.result()
        try:
            late = await work
        except asyncio.CancelledError:
            late = None
        if isinstance(late, _SignedEventStream):  # finished as it was cancelled: never sent
            late.abandon()
        logger.debug(
            "{} from {} abandoned by the client; its work was stopped", route.path, caller.hotkey
        )
        return Response(b"", CLIENT_CLOSED_REQUEST)

    return endpoint


def listening_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound TCP socket to hand to `uvicorn.Server(config).run(sockets=[sock])`.

    Port 0 picks a free port (read it back with `sock.getsockname()[1]`). The protocol is given
    explicitly: asyncio sets TCP_NODELAY only on connections accepted from a socket whose `proto`
    is TCP, and `socket.socket()` says 0; without it each response waits ~40 ms for a delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def create_app(
    keypair: Signer,
    directory: CallerDirectory,
    policy: CallerPolicy,
    routes: Sequence[SignedRoute],
    *,
    limits: ServerLimits | None = None,
    clock: Clock = wall_clock_ms,
    title: str = "subnetkit neuron",
) -> FastAPI:
    """A FastAPI app serving `routes` (POST) behind the checks in this module's docstring."""
    limits = limits or ServerLimits()
    state = ServerState(
        keypair=keypair,
        directory=directory,
        policy=policy,
        limits=limits,
        clock=clock,
        seen=SeenRequests(limits.seen_capacity),
        admission=Admission(limits.admission),
    )
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.protocol = state
    app.state.guard = EpistulaGuard(state)
    for route in routes:
        app.add_route(route.path, _endpoint(state, app.state.guard, route), methods=["POST"])

    async def on_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RefusedError)
        return refusal_response(state, exc.refused)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        reason = {404: Reason.NOT_FOUND, 405: Reason.METHOD_NOT_ALLOWED}.get(exc.status_code)
        refused = (
            Refused.because(reason, f"{request.method} {request.url.path}: {exc.detail}")
            if reason is not None
            else Refused(str(exc.status_code), exc.status_code, str(exc.detail))
        )
        return refusal_response(state, refused)

    app.add_exception_handler(RefusedError, on_refused)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    return app
