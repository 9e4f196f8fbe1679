"""The validator's durable state: what a restart must not lose.

Saved as one JSON file, atomically: written to a temporary file in the same folder, flushed and
fsynced, then renamed over the old one, so a crash at any moment leaves either the old file or
the new one, never half of each. A file that cannot be read back is moved aside
(`NAME.corrupt-<timestamp>`) with a warning rather than overwritten, so nothing is lost
silently; the validator then starts fresh.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

STATE_VERSION = 1


class StateError(ValueError):
    """A state file that belongs to another subnet or hotkey: the user must say what they meant."""


@dataclass(frozen=True)
class ValidatorState:
    """Scores (incentive/'s moving average as its `to_dict`, which keeps the hotkey each score
    belongs to), the block of the last successful weight-setting, and the round counter."""

    netuid: int
    hotkey: str  # the validator's own hotkey: a state file is one validator's
    task_secret: str  # hex; mixed into task seeds, kept so a restart stays unpredictable
    scores: dict[str, Any] = field(default_factory=dict)
    last_weight_block: int = 0
    round: int = 0
    version: int = STATE_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=1)

    @staticmethod
    def from_json(text: str) -> ValidatorState:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError(f"not a version {STATE_VERSION} validator state")
        return ValidatorState(
            netuid=int(data["netuid"]),
            hotkey=str(data["hotkey"]),
            task_secret=str(data["task_secret"]),
            scores=dict(data["scores"]),
            last_weight_block=int(data["last_weight_block"]),
            round=int(data["round"]),
        )


def save_state(path: Path, state: ValidatorState) -> None:
    """Replace `path` with `state` atomically (same-folder temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as temp:
            temp.write(state.to_json())
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    # The rename itself is durable only once the folder entry is flushed.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def move_aside(path: Path, now: float | None = None) -> Path:
    """Rename a bad state file to `NAME.corrupt-<timestamp>` (never over an existing file)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() if now is None else now))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
        counter += 1
    os.replace(path, target)
    return target


def load_state(path: Path, *, netuid: int, hotkey: str) -> ValidatorState | None:
    """The saved state, or None when there is none (or it was corrupt and has been moved aside).

    A readable state of another netuid or hotkey is not this validator's: raise `StateError`
    and leave the file alone, rather than mixing two validators' scores.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        state = ValidatorState.from_json(raw.decode("utf-8"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        aside = move_aside(path)
        logger.warning(
            "validator state {} is unreadable ({}); moved it to {} and starting fresh",
            path,
            exc,
            aside,
        )
        return None
    if state.netuid != netuid or state.hotkey != hotkey:
        raise StateError(
            f"state file {path} belongs to hotkey {state.hotkey} on netuid {state.netuid}, not "
            f"{hotkey} on netuid {netuid}: pass --validator.state_path with another file"
        )
    return state
