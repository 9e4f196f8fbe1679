"""Shared test helpers for protocol/: keys, a recording handler and directory, an app builder,
an independent Epistula signer, and a real uvicorn server."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import uuid as uuidlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from bittensor_core import Keypair
from fastapi import FastAPI

from protocol.admission import AdmissionLimits
from protocol.clock import wall_clock_ms
from protocol.policy import Caller, CallerInfo, CallerPolicy, StaticDirectory
from protocol.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Completion,
    CompletionRequest,
)
from protocol.server import ServerLimits, SignedRoute, create_app, listening_socket

MINER = Keypair.create_from_uri("//Bob")
VALIDATOR = Keypair.create_from_uri("//Alice")
RICH_VALIDATOR = Keypair.create_from_uri("//Ferdie")
MID_VALIDATOR = Keypair.create_from_uri("//Charlie")
STRANGER = Keypair.create_from_uri("//Mallory")  # not registered
NO_PERMIT = Keypair.create_from_uri("//Dave")  # registered, no validator permit
POOR_VALIDATOR = Keypair.create_from_uri("//Eve")  # permit, stake below the minimum

MIN_STAKE = 100.0
CALLERS = {
    VALIDATOR.ss58_address: CallerInfo(uid=0, stake=1_000.0, validator_permit=True),
    MID_VALIDATOR.ss58_address: CallerInfo(uid=2, stake=5_000.0, validator_permit=True),
    RICH_VALIDATOR.ss58_address: CallerInfo(uid=5, stake=50_000.0, validator_permit=True),
    NO_PERMIT.ss58_address: CallerInfo(uid=3, stake=20_000.0, validator_permit=False),
    POOR_VALIDATOR.ss58_address: CallerInfo(uid=4, stake=10.0, validator_permit=True),
}
CHAT_PATH = "/v1/chat/completions"
STREAM_PATH = "/v1/chat/stream"
TEXT_PATH = "/v1/completions"
MINER_URL = "http://miner.test"
GRACEFUL_SHUTDOWN_S = 1  # a test server does not wait long for handlers still running
CHAT_BODY: dict[str, Any] = {
    "model": "tiny",
    "messages": [{"role": "user", "content": "Say hello."}],
    "max_tokens": 8,
}
STREAMED_WORDS = ("Hello", ",", " world")


class RecordingDirectory(StaticDirectory):
    """A directory that remembers every hotkey it was asked about."""

    def __init__(self) -> None:
        super().__init__(CALLERS)
        self.lookups: list[str] = []

    def lookup(self, hotkey: str) -> CallerInfo | None:
        self.lookups.append(hotkey)
        return super().lookup(hotkey)


@dataclass
class RecordingHandler:
    """Chat handlers that record every call; `gate` (if set) holds calls until released."""

    calls: list[tuple[Any, Caller]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    stream_delay_s: float = 0.0

    async def chat(
        self, request: ChatCompletionRequest, caller: Caller
    ) -> ChatCompletion | AsyncIterator[ChatCompletionChunk]:
        if request.stream:
            return self.stream(request, caller)
        self.calls.append((request, caller))
        if self.gate is not None:
            await self.gate.wait()
        return echo(request)

    async def stream(
        self, request: ChatCompletionRequest, caller: Caller
    ) -> AsyncIterator[ChatCompletionChunk]:
        self.calls.append((request, caller))
        for word in STREAMED_WORDS:
            if self.stream_delay_s:
                await asyncio.sleep(self.stream_delay_s)
            yield ChatCompletionChunk(
                id="chunk", created=0, model=request.model, choices=[{"delta": {"content": word}}]
            )

    async def text(self, request: CompletionRequest, caller: Caller) -> Completion:
        self.calls.append((request, caller))
        return Completion(
            id="text-1",
            created=1,
            model=request.model,
            choices=[{"text": str(request.prompt), "finish_reason": "length"}],
        )


def echo(request: ChatCompletionRequest) -> ChatCompletion:
    return echo_text(request.messages[-1].text(), model=request.model)


def echo_text(text: str, model: str = "tiny") -> ChatCompletion:
    return ChatCompletion(
        id="cmpl-1",
        created=1,
        model=model,
        choices=[{"message": {"content": text}, "finish_reason": "stop", "token_ids": [1, 2]}],
        usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    )


def build_app(
    handler: RecordingHandler,
    directory: RecordingDirectory | None = None,
    *,
    policy: CallerPolicy | None = None,
    limits: ServerLimits | None = None,
    clock: Callable[[], int] = wall_clock_ms,
) -> FastAPI:
    return create_app(
        MINER,
        directory or RecordingDirectory(),
        policy or CallerPolicy(min_stake=MIN_STAKE),
        [
            SignedRoute(CHAT_PATH, ChatCompletionRequest, handler.chat),
            SignedRoute(STREAM_PATH, ChatCompletionRequest, handler.stream),
            SignedRoute(TEXT_PATH, CompletionRequest, handler.text),
        ],
        limits=limits,
        clock=clock,
    )


def independent_headers(
    body: bytes,
    signer: Keypair,
    signed_for: str,
    *,
    timestamp_ms: int | None = None,
    request_uuid: str | None = None,
) -> dict[str, str]:
    """Epistula v2 headers written from DESIGN.md's rule with hashlib and the Keypair alone."""
    timestamp = str(timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000)
    request_uuid = request_uuid or str(uuidlib.uuid4())
    message = f"{hashlib.sha256(body).hexdigest()}.{request_uuid}.{timestamp}.{signed_for}"
    return {
        "Epistula-Version": "2",
        "Epistula-Timestamp": timestamp,
        "Epistula-Uuid": request_uuid,
        "Epistula-Signed-By": signer.ss58_address,
        "Epistula-Signed-For": signed_for,
        "Epistula-Request-Signature": "0x" + signer.sign(message.encode("utf-8")).hex(),
    }


@contextmanager
def running_server(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (a free port) in a thread; always stop it."""
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def limits(**admission: Any) -> ServerLimits:
    return ServerLimits(admission=AdmissionLimits(**admission))
