"""The validator's durable state: what a restart must not lose.

Saved as one JSON file, atomically: written to a temporary file in the same folder, flushed and
fsynced, then renamed over the old one, so a crash at any moment leaves either the old file or
the new one, never half of each. A file that cannot be read back into a valid state, whatever
the damage (bad UTF-8 or JSON, a number too large for its field, nesting too deep to parse, a
missing or mistyped field), is moved aside (`NAME.corrupt-<timestamp>`) with a warning rather
than overwritten, so nothing is lost silently; the validator then starts fresh. A path that
cannot hold the file at all (a folder, a path under a file, a folder without write permission)
is a `StateError` at start-up, before anything runs.
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
# A damaged file's parse error can be very long (a parser quotes what it read): the warning
# keeps one line of at most this many characters.
LOGGED_ERROR_CHARS = 200


class StateError(ValueError):
    """The state path cannot be used as it is (another subnet's or hotkey's file, or a path that
    cannot be a file): the user must say what they meant."""


def _whole_number(data: dict, name: str) -> int:
    """A JSON integer of at least 0 (not a bool, a float or a string that looks like one)."""
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"field {name!r} must be a whole number of at least 0, got {value!r}")
    return value


def _text(data: dict, name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a string, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class ValidatorState:
    """Scores (incentive/'s moving average as its `to_dict`, which keeps the hotkey each score
    belongs to), the block of the last successful weight-setting, and the round counter."""

    netuid: int
    hotkey: str  # the validator's own hotkey: a state file is one validator's
    task_secret: str  # hex; mixed into task seeds, kept so a restart stays unpredictable
    scores: dict[str, Any] = field(default_factory=dict)
    # neurons.near_ties.NearTieWindow.to_dict: each hotkey's recent tokens and near-ties.
    near_ties: dict[str, Any] = field(default_factory=dict)
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
        scores = data["scores"]
        if not isinstance(scores, dict):
            raise ValueError(f"field 'scores' must be an object, got {type(scores).__name__}")
        near_ties = data.get("near_ties", {})  # absent from files saved before it existed
        if not isinstance(near_ties, dict):
            raise ValueError(f"field 'near_ties' must be an object, got {type(near_ties).__name__}")
        return ValidatorState(
            netuid=_whole_number(data, "netuid"),
            hotkey=_text(data, "hotkey"),
            task_secret=_text(data, "task_secret"),
            scores=scores,
            near_ties=near_ties,
            last_weight_block=_whole_number(data, "last_weight_block"),
            round=_whole_number(data, "round"),
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


def describe_damage(exc: BaseException) -> str:
    """An exception as one short line for a log message."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= LOGGED_ERROR_CHARS else text[:LOGGED_ERROR_CHARS] + "..."


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


def check_state_path(path: Path) -> None:
    """Raise `StateError` unless `path` can hold the state file: it is a file or absent, and
    its folder exists (or can be created) and may be written to."""
    fix = "pass --validator.state_path with a file path in a folder you may write to"
    if path.is_dir():
        raise StateError(
            f"validator state path {path} is a folder, not a file: {fix} (for example "
            f"{path / 'validator_state.json'})"
        )
    if path.exists() and not path.is_file():
        raise StateError(f"validator state path {path} exists but is not a regular file: {fix}")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the nearest existing folder: where the missing ones are made
    if not folder.is_dir():
        raise StateError(f"validator state path {path} is under {folder}, which is a file: {fix}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StateError(f"cannot write the validator state under {folder} (permission): {fix}")


def load_state(path: Path, *, netuid: int, hotkey: str) -> ValidatorState | None:
    """The saved state, or None when there is none (or it was damaged and has been moved aside).

    A path that cannot be the state file raises `StateError` (see `check_state_path`). A
    readable state of another netuid or hotkey is not this validator's: raise `StateError` and
    leave the file alone, rather than mixing two validators' scores.
    """
    check_state_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(
            f"cannot read the validator state {path} ({exc.strerror}): fix its permissions or "
            "pass --validator.state_path with another file"
        ) from None
    try:
        state = ValidatorState.from_json(raw.decode("utf-8"))
    except Exception as exc:  # any damage at all (RecursionError and OverflowError included)
        aside = move_aside(path)
        logger.warning(
            "validator state {} is damaged ({}); moved it to {} and starting fresh",
            path,
            describe_damage(exc),
            aside,
        )
        return None
    if state.netuid != netuid or state.hotkey != hotkey:
        raise StateError(
            f"state file {path} belongs to hotkey {state.hotkey} on netuid {state.netuid}, not "
            f"{hotkey} on netuid {netuid}: pass --validator.state_path with another file"
        )
    return state
