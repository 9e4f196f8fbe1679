"""`subnet localnet` end to end, as separate processes on 127.0.0.1: a whole run, a crashed
child, and Ctrl-C. Each test checks that no process the run started is left running."""

from __future__ import annotations

import json
import signal
import subprocess
from collections import defaultdict

import pytest
from localnet_support import (
    REPO,
    kill_leftovers,
    localnet_argv,
    start_localnet,
    started_pids,
    survivors,
    wait_until,
)

from scripts.localnet_chain import CHEATER, MINER, VALIDATOR
from scripts.localnet_options import SUMMARY
from scripts.localnet_record import read_csv

pytestmark = pytest.mark.slow
# Small and fast: three epochs of 8 blocks of 0.25 s once every miner serves.
FAST = ("--tempo", "8", "--epochs", "3", "--block-time", "0.25")
RUN_TIMEOUT_S = 200
STOP_TIMEOUT_S = 40


def models_flags(tiny_models) -> tuple[str, ...]:
    return ("--model", str(tiny_models.honest), "--cheat-model", str(tiny_models.other))


@pytest.fixture
def out(tmp_path):
    folder = tmp_path / "run"
    try:
        yield folder
    finally:
        kill_leftovers(folder)


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_a_run_pays_honest_miners_and_validators_and_serves_organic_traffic_not_by_the_cheater(
    tiny_models, out
):
    argv = localnet_argv(out, *FAST, *models_flags(tiny_models), "--verify-share", "1")
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "miner0 serving at block" in done.stdout
    assert "all 3 miners serving at block" in done.stdout and "the neurons took" in done.stdout
    earned: dict[tuple[str, str], float] = defaultdict(float)
    rows = read_csv(out / "epochs.csv")
    for row in rows:
        earned[row["name"], row["role"]] += float(row["emission_tao"])
    by_role = defaultdict(list)
    for (name, role), total in earned.items():
        by_role[role].append((name, total))
    assert len(by_role[MINER]) == 2 and len(by_role[VALIDATOR]) == 2
    assert all(total > 0 for _, total in by_role[MINER] + by_role[VALIDATOR]), earned
    assert [total for _, total in by_role[CHEATER]] == [0.0], earned
    assert (out / "emission.png").stat().st_size > 0
    assert started_pids(out) and survivors(out) == []
    organic = json.loads((out / SUMMARY).read_text())["organic"]
    assert organic["answered"] > 0 and organic["completion_tokens"] > 0
    assert organic["ttft_p50_s"] > 0
    assert organic["verified"].get("pass", 0) > 0  # --verify-share 1: every answer checked
    per_miner = {name: organic["per_miner"][name] for name, _ in by_role[MINER]}
    assert sum(per_miner.values()) == organic["gateway_served"] >= organic["answered"]
    assert [organic["per_miner"][name] for name, _ in by_role[CHEATER]] == [0]
    assert "organic (openai client -> gateway)" in done.stdout


def test_a_crashed_child_is_reported_with_its_log_and_everything_is_stopped(tmp_path, out):
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    argv = localnet_argv(out, *FAST, "--model", str(not_a_model), "--cheat-model", str(not_a_model))
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 1
    said = done.stdout + done.stderr
    assert "exited with status 1; the last lines of" in said
    assert str(not_a_model) in said  # the tail of the neuron's log names the bad model
    assert survivors(out) == []


def test_interrupt_stops_every_process_and_exits_130(tiny_models, out):
    run = start_localnet(out, *FAST, *models_flags(tiny_models))
    try:
        assert wait_until(lambda: "validator1" in started_pids(out), STOP_TIMEOUT_S)
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=STOP_TIMEOUT_S)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 130
    assert survivors(out) == []
