"""Fault suite, live: unsigned clients holding a real miner's connections and time.

Half-open and idle connections past the limit, clients trickling a head or a body one byte at
a time, one address taking every connection: an honest validator's signed request is still
answered, the miner's connections stay bounded, and the log gets one line per interval with
counts (never a line, let alone a traceback, per connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx
import pytest
from loguru import logger
from neuron_helpers import REQUEST_NAME

from neurons import translate
from protocol import schemas as wire
from protocol.client import EpistulaClient, Reply, Target

pytestmark = pytest.mark.fault

MAX_CONNECTIONS = 8
PER_ADDRESS = 4
HEADER_TIMEOUT_S = 0.6
BODY_TIMEOUT_S = 1.0
TIGHT = (
    "--axon.max_connections",
    str(MAX_CONNECTIONS),
    "--axon.max_connections_per_address",
    str(PER_ADDRESS),
    "--axon.header_timeout",
    str(HEADER_TIMEOUT_S),
    "--axon.body_timeout",
    str(BODY_TIMEOUT_S),
)
# The sweep checks deadlines twice a second: a timeout fires at most this much late.
SWEEP_SLACK_S = 1.0
CHAT = {
    "model": REQUEST_NAME,
    "messages": [{"role": "user", "content": "the river"}],
    "max_tokens": 4,
}
ATTACKERS = [f"127.0.0.{i}" for i in range(2, 40)]  # loopback sources other than the validator


async def open_from(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server closes the connection within `seconds` (reading what it sends)."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(1024):
                pass
        return True
    except (TimeoutError, ConnectionError):
        return False


async def signed_call(subnet, miner) -> object:
    target = Target.at(miner.hotkey, "127.0.0.1", miner.port)
    async with EpistulaClient(subnet.validators[0].hotkey) as client:
        return await client.call(
            target, translate.CHAT_PATH, CHAT, response_model=wire.ChatCompletion, timeout_s=10
        )


@contextlib.asynccontextmanager
async def held(connections):
    try:
        yield connections
    finally:
        for _, writer in connections:
            writer.close()


async def test_idle_connections_past_the_limit_leave_room_for_a_signed_request(subnet):
    miner = await subnet.start_miner(subnet.miners[0], None, *TIGHT)
    attackers = [
        await open_from(miner.port, ATTACKERS[i % len(ATTACKERS)])
        for i in range(3 * MAX_CONNECTIONS)
    ]
    async with held(attackers):
        await asyncio.sleep(0.05)
        guard = miner.server.guard
        assert guard.table.open <= MAX_CONNECTIONS
        reply = await signed_call(subnet, miner)
        assert isinstance(reply, Reply), reply
        assert guard.table.counts["evicted_at_capacity"] >= 2 * MAX_CONNECTIONS


async def test_a_client_trickling_its_head_is_closed_after_the_header_timeout(subnet):
    miner = await subnet.start_miner(subnet.miners[0], None, *TIGHT)
    reader, writer = await open_from(miner.port, ATTACKERS[0])
    started = time.monotonic()

    async def drip() -> None:
        for byte in b"POST /v1/chat/completions HTTP/1.1\r\nHost: miner\r\n":
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)

    dripping = asyncio.create_task(drip())
    try:
        assert await closed_within(reader, HEADER_TIMEOUT_S + SWEEP_SLACK_S)
        assert time.monotonic() - started >= HEADER_TIMEOUT_S
    finally:
        dripping.cancel()
        writer.close()
    assert miner.server.guard.table.counts["head_timeout"] == 1
    assert miner.counted.tally.outcomes == {}  # it never became a request


async def test_a_client_that_never_sends_a_byte_is_closed_after_the_header_timeout(subnet):
    miner = await subnet.start_miner(subnet.miners[0], None, *TIGHT)
    reader, writer = await open_from(miner.port, ATTACKERS[0])
    async with held([(reader, writer)]):
        assert await closed_within(reader, HEADER_TIMEOUT_S + SWEEP_SLACK_S)


async def test_a_client_trickling_its_body_is_closed_after_the_body_timeout(subnet):
    miner = await subnet.start_miner(subnet.miners[0], None, *TIGHT)
    reader, writer = await open_from(miner.port, ATTACKERS[0])
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: miner\r\nContent-Length: 1000\r\n"
        f"Epistula-Version: 2\r\nEpistula-Timestamp: {time.time_ns() // 1_000_000}\r\n"
        "Epistula-Uuid: 6a1f6bce-6a58-4b43-8bb1-8c7a4c8c86f0\r\n"
        f"Epistula-Signed-By: {subnet.validators[0].hotkey.ss58_address}\r\n"
        f"Epistula-Signed-For: {miner.hotkey}\r\nEpistula-Request-Signature: 0x00\r\n\r\n"
    )
    writer.write(head.encode())

    async def drip() -> None:
        while True:
            writer.write(b"x")
            await asyncio.sleep(0.1)

    dripping = asyncio.create_task(drip())
    try:
        assert await closed_within(reader, BODY_TIMEOUT_S + SWEEP_SLACK_S)
    finally:
        dripping.cancel()
        writer.close()
    assert miner.server.guard.table.counts["body_timeout"] == 1


async def test_one_address_cannot_hold_more_than_its_share(subnet):
    miner = await subnet.start_miner(subnet.miners[0], None, *TIGHT)
    mine = [await open_from(miner.port, ATTACKERS[0]) for _ in range(PER_ADDRESS)]
    async with held(mine):
        reader, writer = await open_from(miner.port, ATTACKERS[0])
        async with held([(reader, writer)]):
            assert await closed_within(reader, 0.5)  # closed at once, long before any timeout
        assert miner.server.guard.table.held_by(ATTACKERS[0]) == PER_ADDRESS
        assert isinstance(await signed_call(subnet, miner), Reply)


async def test_a_flood_is_logged_as_one_line_of_counts_without_tracebacks(subnet, caplog):
    miner = await subnet.start_miner(subnet.miners[0], None, *TIGHT)
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG")
    try:
        with caplog.at_level(logging.DEBUG):
            garbage = [await open_from(miner.port, a) for a in ATTACKERS[:20]]
            for _, writer in garbage:
                writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            idle = [await open_from(miner.port, a) for a in ATTACKERS for _ in range(2)]
            async with held(garbage + idle):
                await asyncio.sleep(HEADER_TIMEOUT_S + SWEEP_SLACK_S)
                assert isinstance(await signed_call(subnet, miner), Reply)
            miner.server.guard.report()
    finally:
        logger.remove(sink)
    reports = [line for line in lines if "connections in the last" in line]
    assert len(reports) == 1
    assert "closed for invalid HTTP" in reports[0] and "to make room" in reports[0]
    everything = "\n".join(lines + [r.getMessage() for r in caplog.records])
    assert "Traceback" not in everything and "Invalid HTTP request" not in everything


async def test_the_limits_come_from_the_miner_options(subnet):
    miner = await subnet.start_miner(subnet.miners[0], None, *TIGHT, "--axon.keep_alive", "2")
    limits = miner.server.guard.limits
    assert (limits.max_connections, limits.max_per_address) == (MAX_CONNECTIONS, PER_ADDRESS)
    assert (limits.header_timeout_s, limits.body_timeout_s) == (HEADER_TIMEOUT_S, BODY_TIMEOUT_S)
    assert limits.keep_alive_s == 2.0


async def test_an_idle_keep_alive_connection_is_closed_after_keep_alive(subnet):
    miner = await subnet.start_miner(subnet.miners[0], None, *TIGHT, "--axon.keep_alive", "0.3")
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{miner.port}/")  # any answer will do
        assert response.status_code == 404
        await asyncio.sleep(0.3 + SWEEP_SLACK_S)
    assert miner.server.guard.table.open == 0
