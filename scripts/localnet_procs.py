"""The child processes of `subnet localnet`: start each with its log file, notice a crash, stop
them all (politely, then firmly), and find ports.

Each child runs in its own session, so a Ctrl-C in the terminal reaches `localnet` alone and
the children are stopped in order (validators, miners, then the chain). On Linux each child
is also told to end when `localnet` itself dies, so even a SIGKILL of `localnet` leaves
nothing behind (except the chain with `--keep`, which is meant to outlive it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
# Seconds a child gets to stop after SIGTERM before it is killed.
STOP_GRACE_S = 10.0
TAIL_LINES = 20
POLL_S = 0.1
_PR_SET_PDEATHSIG = 1

# Child environment: no downloads, one compute thread per process (several share the CPU).
CHILD_ENV = {
    "PYTHONUNBUFFERED": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


class ChildFailed(RuntimeError):
    """A child process ended (or never became ready); the message carries its log's tail."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"


@dataclass
class Child:
    """One process started by localnet, with its output in `log`."""

    name: str
    argv: list[str]
    log: Path
    outlive_parent: bool = False
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> Child:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **CHILD_ENV},
                start_new_session=True,
                preexec_fn=None
                if self.outlive_parent or not sys.platform.startswith("linux")
                else _die_with_parent,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def failure(self, what: str = "exited") -> ChildFailed:
        code = self.exit_code()
        status = f" with status {code}" if code is not None else ""
        return ChildFailed(
            f"{self.name} {what}{status}; the last lines of {self.log}:\n{tail(self.log)}"
        )

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)


def stop_all(children: Sequence[Child], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every running child at once, wait up to `grace_s`, then SIGKILL what is left."""
    running = [c for c in children if c.exit_code() is None]
    for child in running:
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in running:
        assert child.process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for child in running:
        if child.exit_code() is None:
            child.signal(signal.SIGKILL)
            assert child.process is not None
            child.process.wait()


def first_crashed(children: Sequence[Child]) -> Child | None:
    return next((c for c in children if c.exit_code() is not None), None)


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


async def wait_for_line(child: Child, marker: str, timeout_s: float) -> str:
    """The first line of the child's log containing `marker` (ChildFailed if it exits first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            for line in child.log.read_text(errors="replace").splitlines():
                if marker in line:
                    return line
        if child.exit_code() is not None:
            raise child.failure()
        await asyncio.sleep(POLL_S)
    raise child.failure(f"printed no {marker!r} within {timeout_s:g} s")


async def wait_for_exit(child: Child, timeout_s: float) -> None:
    """Wait for a child that does one job; ChildFailed unless it ends with status 0 in time."""
    deadline = time.monotonic() + timeout_s
    while child.exit_code() is None:
        if time.monotonic() > deadline:
            raise child.failure(f"did not finish within {timeout_s:g} s")
        await asyncio.sleep(POLL_S)
    if child.exit_code() != 0:
        raise child.failure()
