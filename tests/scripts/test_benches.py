"""The benchmarks in scripts/bench/ keep running as the code under them changes.

They are not run for their figures here (speed is never a test); these tests only catch a
benchmark that no longer starts, or one whose stand-in miners no longer answer what the
validator asks.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO / "scripts" / "bench"
BENCHES = sorted(BENCH_DIR.glob("*.py"))
HELP_TIMEOUT_S = 120
ROUND_TIMEOUT_S = 240


def bench_constant(bench: str, name: str):
    """A constant of a benchmark script, read from the script itself."""
    spec = importlib.util.spec_from_file_location(f"bench_{bench}", BENCH_DIR / f"{bench}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def bench_figures(bench: str, *args: str) -> dict:
    """Run a benchmark to its end and return its last line, the JSON object of its figures."""
    run = subprocess.run(
        [sys.executable, str(BENCH_DIR / f"{bench}.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=ROUND_TIMEOUT_S,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_there_are_benchmarks_to_check():
    assert {path.stem for path in BENCHES} >= {"inference", "validator", "gateway", "hostile"}


@pytest.mark.parametrize("bench", BENCHES, ids=lambda path: path.stem)
def test_each_benchmark_starts_and_describes_its_options(bench):
    run = subprocess.run(
        [sys.executable, str(bench), "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=HELP_TIMEOUT_S,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage:")
    assert "--quick" in run.stdout


@pytest.mark.slow
def test_the_validator_benchmark_round_verifies_every_stand_in_miner():
    """Its miners answer from precomputed honest completions, streamed where the task asks
    for a stream: if the validator's tasks change shape, they must still all verify."""
    figures = bench_figures(
        "validator", "--miners", "6", "--rounds", "1", "--fastest", "0.05", "--slowest", "0.2"
    )
    assert figures["miners"] == 6
    assert figures["all_verified"] is True, figures


@pytest.mark.slow
def test_the_gateway_benchmark_serves_every_routed_request_through_the_real_gateway():
    """No figure is checked, only that each phase ran: requests went through the gateway and
    every routed request was answered by one of the stand-in miners."""
    figures = bench_figures("gateway", "--quick")
    assert figures["quick"] is True
    assert figures["gateway_streams_per_s"] > 0
    assert figures["direct_streams_per_s"] > 0
    routed = figures["routing_requests_per_uid"]
    assert sum(routed.values()) == bench_constant("gateway", "QUICK_ROUTING_REQUESTS"), routed
