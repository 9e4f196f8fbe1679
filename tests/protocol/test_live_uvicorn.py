"""Real sockets: uvicorn on 127.0.0.1 (free ports), the client over TCP, streaming as it
happens, and a fan-out that a slow or absent miner cannot stall."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from protocol_support import (
    CHAT_BODY,
    CHAT_PATH,
    MINER,
    STREAM_PATH,
    STREAMED_WORDS,
    VALIDATOR,
    RecordingHandler,
    build_app,
    running_server,
)

from protocol.client import EpistulaClient, Failure, FailureReason, Reply, StreamReply, Target
from protocol.schemas import ChatCompletion, ChatCompletionChunk
from protocol.server import listening_socket

STREAM_GAP_S = 0.15
SLOW_HANDLER_S = 3.0
FAN_OUT_TIMEOUT_S = 0.5


@pytest.fixture
def live_handler() -> RecordingHandler:
    return RecordingHandler(stream_delay_s=STREAM_GAP_S)


@pytest.fixture
def live_app(live_handler: RecordingHandler) -> Any:
    return build_app(live_handler)


@pytest.fixture
def live_url(live_app: Any) -> Iterator[str]:
    with running_server(live_app) as url:
        yield url


@pytest.fixture
def slow_url() -> Iterator[str]:
    class Slow(RecordingHandler):
        async def chat(self, request: Any, caller: Any) -> Any:
            await asyncio.sleep(SLOW_HANDLER_S)
            return await super().chat(request, caller)

    with running_server(build_app(Slow())) as url:
        yield url


@pytest.fixture
def closed_port() -> int:
    """A port that nothing listens on (bound, never listened, then closed)."""
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    return port


async def test_call_over_a_real_socket_is_verified(live_url: str) -> None:
    async with EpistulaClient(VALIDATOR) as client:
        target = Target(MINER.ss58_address, live_url)
        first = await client.call(target, CHAT_PATH, CHAT_BODY, response_model=ChatCompletion)
        second = await client.call(target, CHAT_PATH, CHAT_BODY, response_model=ChatCompletion)
    assert isinstance(first, Reply) and isinstance(second, Reply), (first, second)
    assert second.parsed.choices[0].message.content == "Say hello."
    assert 0 < second.ttfb_s <= second.latency_s


async def test_stream_over_a_real_socket_arrives_event_by_event(live_url: str) -> None:
    arrivals: list[float] = []
    started = time.perf_counter()
    async with EpistulaClient(VALIDATOR) as client:
        reply = await client.stream(
            Target(MINER.ss58_address, live_url),
            STREAM_PATH,
            CHAT_BODY,
            chunk_model=ChatCompletionChunk,
            on_chunk=lambda chunk: arrivals.append(time.perf_counter() - started),
        )
    assert isinstance(reply, StreamReply), reply
    assert [c.choices[0].delta.content for c in reply.chunks] == list(STREAMED_WORDS)
    # Each event reached the client when it was produced, not all together at the end.
    assert arrivals[-1] - arrivals[0] >= STREAM_GAP_S
    assert reply.first_chunk_s is not None and reply.first_chunk_s < reply.latency_s - STREAM_GAP_S


async def test_fan_out_returns_on_time_despite_a_slow_and_an_absent_miner(
    live_url: str, slow_url: str, closed_port: int
) -> None:
    targets = [
        Target(MINER.ss58_address, live_url),
        Target(MINER.ss58_address, slow_url),
        Target.at(MINER.ss58_address, "127.0.0.1", closed_port),
        Target(MINER.ss58_address, live_url),
    ]
    started = time.perf_counter()
    async with EpistulaClient(VALIDATOR) as client:
        outcomes = await client.fan_out(
            targets,
            CHAT_PATH,
            CHAT_BODY,
            response_model=ChatCompletion,
            timeout_s=FAN_OUT_TIMEOUT_S,
        )
    wall = time.perf_counter() - started
    assert isinstance(outcomes[0], Reply) and isinstance(outcomes[3], Reply), outcomes
    slow, absent = outcomes[1], outcomes[2]
    assert isinstance(slow, Failure) and slow.reason == FailureReason.TIMEOUT
    assert slow.ttfb_s is None and FAN_OUT_TIMEOUT_S <= slow.latency_s < SLOW_HANDLER_S
    assert isinstance(absent, Failure) and absent.reason == FailureReason.CONNECTION_REFUSED
    assert wall < SLOW_HANDLER_S


async def test_caller_leaving_mid_stream_frees_the_admission_slot(
    live_url: str, live_app: Any
) -> None:
    admission = live_app.state.protocol.admission
    running_while_streaming: list[int] = []
    async with EpistulaClient(VALIDATOR) as client:
        outcome = await client.stream(
            Target(MINER.ss58_address, live_url),
            STREAM_PATH,
            CHAT_BODY,
            chunk_model=ChatCompletionChunk,
            timeout_s=STREAM_GAP_S * 1.5,
            on_chunk=lambda chunk: running_while_streaming.append(admission.running),
        )
    assert isinstance(outcome, Failure) and outcome.reason == FailureReason.TIMEOUT
    assert running_while_streaming == [1]
    deadline = time.monotonic() + 5
    while admission.running and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert admission.running == 0
