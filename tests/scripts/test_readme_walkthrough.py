"""The README's dev-chain walkthrough, typed as written: its own code blocks, run in order.

The section "Your own subnet on the dev chain, by hand" is read from README.md. Each ```bash
line runs through bash: a line ending in `&` starts in the background (stopped at the end of
the test), any other must exit 0. Each ```text block is what the README promises to be seen:
when the paragraph before it names a `.log` file, its lines must appear in that file; else
they are the output of the bash line just before, run again until they appear (it reads the
chain, so running it again changes nothing). In both, `…` stands for anything.

What differs from a person's shell: the working folder and HOME are temporary (so the wallets
go to a temporary ~/.bittensor), `models/tiny` is the tiny model the scripts tests build, and
the dev chain listens on a free port (SUBNET_DEVCHAIN_PORT=0), which every later command finds
through SUBNET_SUBTENSOR_NETWORK: the README's text itself is run unchanged.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECTION = "## Your own subnet on the dev chain, by hand"
BLOCK = re.compile(r"```(bash|text)\n(.*?)```", re.DOTALL)
LOG_NAME = re.compile(r"`(\w+\.log)`")
NODE_READY = re.compile(r"dev chain listening on 127\.0\.0\.1:(\d+)")
COMMAND_TIMEOUT_S = 60
NODE_START_S = 30
# How long the README's "within a minute" may take on a busy two-core machine.
PROMISE_TIMEOUT_S = 120
POLL_S = 0.5
STOP_TIMEOUT_S = 20


@dataclass(frozen=True)
class Block:
    kind: str  # "bash" or "text"
    lines: list[str]
    log: str | None  # for text: the .log file the paragraph before it names


def walkthrough_blocks() -> list[Block]:
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    section = text[start:end]
    blocks, previous_end = [], 0
    for match in BLOCK.finditer(section):
        paragraph = section[previous_end : match.start()]
        logs = LOG_NAME.findall(paragraph)
        lines = match.group(2).replace("\\\n", " ").splitlines()
        lines = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        blocks.append(Block(match.group(1), lines, logs[-1] if logs else None))
        previous_end = match.end()
    return blocks


def pattern_of(line: str) -> re.Pattern:
    """A README line as a regex: literal text, with `…` for anything."""
    return re.compile(".*?".join(re.escape(part) for part in line.split("…")))


def shows(text: str, expected: list[str]) -> bool:
    return all(any(pattern_of(line).search(got) for got in text.splitlines()) for line in expected)


class Shell:
    """The README's commands run in one folder and environment; background jobs are kept."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder = folder
        self.env = env
        self.background: list[subprocess.Popen] = []

    def run(self, line: str) -> str:
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, line: str) -> None:
        job = subprocess.Popen(
            ["bash", "-c", line.removesuffix("&").strip()],
            cwd=self.folder,
            env=self.env,
            start_new_session=True,
        )
        self.background.append(job)

    def wait_for(self, seen, expected: list[str], what: str, timeout_s: float) -> None:
        """Until `seen()` (text) shows the `expected` lines; the failure quotes what was seen."""
        deadline = time.monotonic() + timeout_s
        while not shows(text := seen(), expected):
            for job in self.background:
                assert job.poll() is None, f"a background command exited: {job.args}"
            assert time.monotonic() < deadline, (
                f"{what} did not show {expected} within {timeout_s:g} s; it showed:\n{text[-3000:]}"
            )
            time.sleep(POLL_S)

    def read(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM every background job (its whole session), SIGKILL what is left."""
        for job in self.background:
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGTERM)
        for job in self.background:
            try:
                job.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(job.pid, signal.SIGKILL)
                job.wait()


@pytest.fixture
def shell(tmp_path, tiny_models):
    folder = tmp_path / "walkthrough"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "tiny").symlink_to(tiny_models.honest)
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("SUBNET_", "BT_"))
    }
    env |= {
        "HOME": str(tmp_path / "home"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "SUBNET_DEVCHAIN_PORT": "0",
        "HF_HUB_OFFLINE": "1",
    }
    running = Shell(folder, env)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
@pytest.mark.timeout(COMMAND_TIMEOUT_S * 4 + PROMISE_TIMEOUT_S * 2)
def test_the_readme_walkthrough_runs_as_written(shell):
    blocks = walkthrough_blocks()
    assert [b.kind for b in blocks].count("text") >= 2, "the walkthrough shows what to expect"
    last_command = None
    for block in blocks:
        if block.kind == "text" and block.log is not None:
            shell.wait_for(
                lambda b=block: shell.read(b.log), block.lines, block.log, PROMISE_TIMEOUT_S
            )
            continue
        if block.kind == "text":
            assert last_command is not None
            shell.wait_for(
                lambda c=last_command: shell.run(c), block.lines, last_command, PROMISE_TIMEOUT_S
            )
            continue
        for line in block.lines:
            if line.endswith("&"):
                shell.start(line)
            else:
                shell.run(line)
                last_command = line
            if line.startswith("subnet devchain"):
                log = LOG_NAME.search(f"`{line.split('>')[1].split()[0]}`").group(1)
                ready = ["dev chain listening on 127.0.0.1:…"]
                shell.wait_for(lambda n=log: shell.read(n), ready, log, NODE_START_S)
                port = NODE_READY.search(shell.read(log)).group(1)
                shell.env["SUBNET_SUBTENSOR_NETWORK"] = f"dev://127.0.0.1:{port}"
