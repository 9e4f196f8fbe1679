"""Fixtures for the scripts tests: the two tiny models `subnet localnet` serves, built once."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.localnet_options import HONEST_SEED, OTHER_SEED

BUILD_TIMEOUT_S = 240


@dataclass(frozen=True)
class TinyModels:
    honest: Path
    other: Path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    """Both models, built side by side in two processes (each build is single-threaded)."""
    root = tmp_path_factory.mktemp("models")
    models = TinyModels(root / "tiny", root / "tiny-other")
    builds = [
        subprocess.Popen(
            [sys.executable, "-m", "inference.tiny", "--out", str(path), "--seed", str(seed)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for path, seed in ((models.honest, HONEST_SEED), (models.other, OTHER_SEED))
    ]
    try:
        for build in builds:
            _, err = build.communicate(timeout=BUILD_TIMEOUT_S)
            assert build.returncode == 0, err.decode(errors="replace")
    finally:
        for build in builds:
            if build.poll() is None:
                build.kill()
                build.wait()
    return models
