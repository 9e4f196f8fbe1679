"""localnet's child processes: logs, crash reports, stopping (also a child that ignores
SIGTERM), and the kept chain."""

from __future__ import annotations

import sys

import pytest

from scripts.localnet_procs import Child, ChildFailed, stop_all, wait_for_exit, wait_for_line

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


def child(tmp_path, name: str, code: str) -> Child:
    return Child(name, [sys.executable, "-c", code], tmp_path / f"{name}.log")


async def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path):
    stubborn = child(tmp_path, "stubborn", IGNORES_SIGTERM).start()
    try:
        await wait_for_line(stubborn, "ready", 10)
        stop_all([stubborn], grace_s=0.3)
        assert stubborn.exit_code() is not None
    finally:
        stop_all([stubborn], grace_s=0)


async def test_a_failed_child_is_reported_with_the_tail_of_its_log(tmp_path):
    failing = child(tmp_path, "failing", "print('model not found: /x'); raise SystemExit(3)")
    failing.start()
    with pytest.raises(ChildFailed, match=r"(?s)failing exited with status 3.*model not found"):
        await wait_for_exit(failing, 10)


async def test_waiting_for_a_line_reports_a_child_that_exits_first(tmp_path):
    quitter = child(tmp_path, "quitter", "print('bye')").start()
    with pytest.raises(ChildFailed, match="quitter exited with status 0"):
        await wait_for_line(quitter, "listening", 10)


async def test_a_child_logs_stdout_and_stderr_to_its_file(tmp_path):
    talker = child(tmp_path, "talker", "import sys; print('out'); print('err', file=sys.stderr)")
    await wait_for_exit(talker.start(), 10)
    assert talker.log.read_text().split() == ["out", "err"]


def test_stopping_twice_is_harmless(tmp_path):
    sleeper = child(tmp_path, "sleeper", "import time; time.sleep(60)").start()
    stop_all([sleeper])
    stop_all([sleeper])
    assert sleeper.exit_code() is not None
