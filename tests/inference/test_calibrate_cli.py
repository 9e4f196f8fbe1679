"""The README's recalibration recipe, typed as a user would: ``python -m inference.calibrate``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from inference.calibrate import ANSWERS_PER_BATCH_SIZE, SETTINGS

ROOT = Path(__file__).resolve().parents[2]
QUICK_MAX_TOKENS = 8


def _calibrate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inference.calibrate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_quick_calibration_reports_every_setting_and_the_margins(honest_dir):
    done = _calibrate("--model", str(honest_dir), "--quick", "--max-tokens", str(QUICK_MAX_TOKENS))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report["settings"]) == {s.name for s in SETTINGS}
    per_setting = {size: size for size in ANSWERS_PER_BATCH_SIZE}
    assert report["answers"] == sum(per_setting[s.batch_size] for s in SETTINGS)
    assert report["failures"] == 0
    # Every threshold stands above what the honest miners measured.
    assert all(ratio > 1 for ratio in report["margins"].values()), report["margins"]


def test_a_model_that_is_not_there_is_refused_with_its_name(tmp_path):
    missing = tmp_path / "nope"
    done = _calibrate("--model", str(missing), "--quick")
    assert done.returncode == 2
    assert "nope" in done.stderr


def test_a_scale_below_one_is_refused():
    done = _calibrate("--model", "unused", "--scale", "0")
    assert done.returncode == 2
    assert "--scale must be at least 1" in done.stderr
