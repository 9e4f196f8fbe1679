"""Fault suite, pure core: the connection table that bounds what unauthenticated clients hold.

Limits overall and per address, room kept for a new connection at the limit (the longest
waiting one goes, never one being served), head and body deadlines, and one report line per
interval instead of a log line per connection. (The live server is tested in
tests/neurons/test_faults_miner_connections.py.)
"""

from __future__ import annotations

import asyncio
import logging
import resource

import h11
import pytest
from loguru import logger

from protocol.connections import (
    ACCEPT_OUT_OF_RESOURCES,
    FILE_RESERVE,
    ConnectionGuard,
    ConnectionLimits,
    ConnectionTable,
    Phase,
    _ProtocolLog,
    phase_of,
    raise_file_limit,
)

pytestmark = pytest.mark.fault

LIMITS = ConnectionLimits(
    max_connections=4, max_per_address=2, header_timeout_s=5.0, body_timeout_s=10.0
)


def table_with(*addresses: str, now: float = 0.0) -> ConnectionTable:
    table = ConnectionTable(LIMITS)
    for i, address in enumerate(addresses):
        assert table.admit(f"c{i}", address, now + i).accepted
    return table


def test_a_connection_over_the_per_address_limit_is_refused_and_counted():
    table = table_with("1.1.1.1", "1.1.1.1")
    decision = table.admit("c9", "1.1.1.1", 5.0)
    assert not decision.accepted and decision.condition == "over_address_limit"
    assert table.held_by("1.1.1.1") == 2 and table.counts["over_address_limit"] == 1
    assert table.admit("c10", "2.2.2.2", 5.0).accepted  # other addresses are not affected


def test_at_the_limit_the_longest_waiting_connection_makes_room():
    table = table_with("a", "b", "c", "d")
    table.enter("c0", Phase.SERVING, 10.0)  # the oldest is being served: never evicted
    decision = table.admit("new", "e", 11.0)
    assert decision.accepted and decision.evict == "c1"
    assert table.open == 4 and table.counts["evicted_at_capacity"] == 1


def test_a_connection_back_from_serving_waits_behind_the_others():
    table = table_with("a", "b", "c", "d")
    table.enter("c0", Phase.SERVING, 10.0)
    table.enter("c0", Phase.HEAD, 11.0)  # answered, idle again: its wait starts now
    assert table.admit("new", "e", 12.0).evict == "c1"


def test_at_the_limit_with_every_connection_serving_the_newcomer_is_refused():
    table = table_with("a", "b", "c", "d")
    for key in ("c0", "c1", "c2", "c3"):
        table.enter(key, Phase.SERVING, 10.0)
    decision = table.admit("new", "e", 11.0)
    assert not decision.accepted and decision.condition == "refused_at_capacity"


def test_a_head_that_does_not_complete_in_time_expires():
    table = table_with("a")
    assert table.expired(4.9) == []
    assert table.expired(5.0) == [("c0", "head_timeout")]
    assert table.open == 0 and table.counts["head_timeout"] == 1


def test_a_body_gets_its_own_deadline_from_the_head():
    table = table_with("a")
    table.enter("c0", Phase.BODY, 3.0)
    assert table.expired(12.9) == []
    assert table.expired(13.0) == [("c0", "body_timeout")]


def test_a_connection_being_served_never_expires():
    table = table_with("a")
    table.enter("c0", Phase.SERVING, 1.0)
    assert table.expired(1_000_000.0) == []


def test_forgetting_a_connection_frees_its_address_share():
    table = table_with("a", "a")
    table.forget("c0")
    assert table.held_by("a") == 1 and table.admit("c5", "a", 3.0).accepted


def test_the_report_is_one_line_with_every_count_then_starts_again():
    table = table_with("a", "a")
    table.admit("x", "a", 2.0)
    table.expired(100.0)
    line = table.take_report(60.0)
    assert line.count("\n") == 0
    assert "1 refused: their address" in line and "2 closed without a complete request head" in line
    assert line.endswith("0 open")
    assert table.take_report(60.0) is None


def test_the_phase_follows_the_client_side_of_h11():
    conn = h11.Connection(h11.SERVER)
    assert phase_of(conn) is Phase.HEAD
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab")
    while conn.next_event() is not h11.NEED_DATA:
        pass
    assert phase_of(conn) is Phase.BODY
    conn.receive_data(b"cde")
    while conn.next_event() is not h11.NEED_DATA:
        pass
    assert phase_of(conn) is Phase.SERVING


def test_limits_that_make_no_sense_are_refused():
    with pytest.raises(ValueError, match="max_per_address must be at least 1"):
        ConnectionLimits(max_per_address=0)
    with pytest.raises(ValueError, match="header_timeout_s must be greater than 0"):
        ConnectionLimits(header_timeout_s=0)


def test_uvicorns_invalid_request_line_is_counted_not_logged(caplog):
    table = ConnectionTable(LIMITS)
    log = _ProtocolLog(table)
    with caplog.at_level(logging.WARNING):
        log.warning("Invalid HTTP request received.")
        log.error("Exception in ASGI application\n")
    assert table.counts["invalid_request"] == 1
    assert [r.getMessage() for r in caplog.records] == ["Exception in ASGI application\n"]


async def test_accept_failures_out_of_file_descriptors_are_counted_not_logged_each(caplog):
    guard = ConnectionGuard(LIMITS)
    await guard.start()
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING")
    try:
        loop = asyncio.get_running_loop()
        with caplog.at_level(logging.ERROR):
            for _ in range(100):
                error = OSError(24, "Too many open files")
                loop.call_exception_handler(
                    {"message": ACCEPT_OUT_OF_RESOURCES, "exception": error}
                )
        assert caplog.records == []
        guard.report()
    finally:
        await guard.stop()
        logger.remove(sink)
    assert len(lines) == 1 and "100 accepts failed" in lines[0]


class FakeLimits:
    """RLIMIT_NOFILE of a pretend process, for `raise_file_limit`."""

    def __init__(self, soft: int, hard: int) -> None:
        self.soft, self.hard = soft, hard

    def getrlimit(self, _which):
        return self.soft, self.hard

    def setrlimit(self, _which, limits):
        assert limits[1] == self.hard
        assert self.hard == resource.RLIM_INFINITY or limits[0] <= self.hard
        self.soft = limits[0]


@pytest.mark.parametrize(
    ("soft", "hard", "fits", "soft_after"),
    [
        (1_024, 1_048_576, 4_096, 4_096 + FILE_RESERVE),  # raised to fit
        (1_024, resource.RLIM_INFINITY, 4_096, 4_096 + FILE_RESERVE),
        (1_024, 2_048, 2_048 - FILE_RESERVE, 2_048),  # as far as the hard limit allows
        (65_536, 65_536, 4_096, 65_536),  # already enough: left alone
    ],
)
def test_the_file_limit_is_raised_to_fit_the_connections(monkeypatch, soft, hard, fits, soft_after):
    fake = FakeLimits(soft, hard)
    monkeypatch.setattr(resource, "getrlimit", fake.getrlimit)
    monkeypatch.setattr(resource, "setrlimit", fake.setrlimit)
    assert raise_file_limit(4_096) == fits
    assert fake.soft == soft_after
