"""Helpers for the localnet tests: run `subnet localnet` as a user would, and check what it
left behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.localnet_options import PROCESSES

REPO = Path(__file__).resolve().parents[2]


def localnet_argv(out: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "scripts.cli", "localnet", "--out", str(out), *flags]


def start_localnet(out: Path, *flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        localnet_argv(out, *flags),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def started_pids(out: Path) -> dict[str, int]:
    try:
        return json.loads((out / PROCESSES).read_text())
    except (OSError, ValueError):
        return {}


def is_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, which has exited, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def processes_mentioning(text: str) -> list[int]:
    """Pids of processes whose command line contains `text` (the run folder, say)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command and is_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def survivors(out: Path) -> list[int]:
    """Every process the run started (or that names its folder) that still runs."""
    pids = {pid for pid in started_pids(out).values() if is_alive(pid)}
    return sorted(pids | set(processes_mentioning(str(out))))


def kill_leftovers(out: Path) -> None:
    """Test cleanup: whatever a failed run left behind is killed, so no test leaks processes."""
    for pid in survivors(out):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_until(predicate, timeout_s: float, every_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return predicate()
