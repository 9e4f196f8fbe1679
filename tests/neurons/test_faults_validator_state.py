"""Fault suite: a validator's state file, damaged or edited by hand, never stops its start.

Any file that cannot be read into a valid state is moved aside with a warning and the
validator starts fresh; a path that cannot be a file is a clear start-up error.
"""

from __future__ import annotations

import json
import os

import pytest
from loguru import logger

from neurons.base import StartupError
from neurons.state import StateError, ValidatorState, load_state, save_state

pytestmark = pytest.mark.fault

HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
DEEP = 100_000


def good_state_text() -> str:
    state = ValidatorState(netuid=2, hotkey=HOTKEY, task_secret="ab" * 32, round=7)
    return state.to_json()


def with_field(name: str, raw_value: str) -> bytes:
    """A saved state whose `name` field is replaced by a raw JSON value."""
    data = json.loads(good_state_text())
    data[name] = "@@"
    return json.dumps(data).replace('"@@"', raw_value).encode()


DAMAGE = {
    "round too large for any integer": with_field("round", "1e999"),
    "round nested 100,000 deep": with_field("round", "[" * DEEP + "]" * DEEP),
    "whole file nested 100,000 deep": b"[" * DEEP + b"]" * DEEP,
    "objects nested 100,000 deep": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "negative round": with_field("round", "-3"),
    "round as a string": with_field("round", '"7"'),
    "round as a fraction": with_field("round", "7.5"),
    "hotkey as a number": with_field("hotkey", "12"),
    "scores as a list": with_field("scores", "[1, 2]"),
    "missing field": json.dumps({"version": 1, "netuid": 2}).encode(),
    "not UTF-8": b"\xff\xfe\x00garbage",
    "empty file": b"",
    "a JSON array": b"[1, 2, 3]",
}


def aside_files(folder, name: str) -> list:
    return [p for p in folder.iterdir() if p.name.startswith(f"{name}.corrupt-")]


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_any_damaged_state_file_is_moved_aside_and_loads_as_fresh(tmp_path, damage):
    path = tmp_path / "state.json"
    path.write_bytes(DAMAGE[damage])
    assert load_state(path, netuid=2, hotkey=HOTKEY) is None
    assert not path.exists()
    [aside] = aside_files(tmp_path, "state.json")
    assert aside.read_bytes() == DAMAGE[damage]


def test_a_damaged_state_is_reported_in_one_short_warning_line(tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(DAMAGE["round nested 100,000 deep"])
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="WARNING")
    try:
        load_state(path, netuid=2, hotkey=HOTKEY)
    finally:
        logger.remove(sink)
    assert len(lines) == 1
    assert "damaged" in lines[0] and "corrupt-" in lines[0] and "starting fresh" in lines[0]
    assert len(lines[0].splitlines()) == 1 and len(lines[0]) < 1000


def test_a_state_path_that_is_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StateError, match=r"is a folder, not a file.*--validator\.state_path"):
        load_state(tmp_path, netuid=2, hotkey=HOTKEY)
    assert tmp_path.is_dir()


def test_a_state_path_under_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StateError, match=r"which is a file.*--validator\.state_path"):
        load_state(blocker / "state.json", netuid=2, hotkey=HOTKEY)
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_state_folder_without_write_permission_is_a_clear_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StateError, match="permission"):
            load_state(folder / "state.json", netuid=2, hotkey=HOTKEY)
    finally:
        folder.chmod(0o700)


def test_a_sound_state_still_loads_after_the_checks(tmp_path):
    path = tmp_path / "deeper" / "state.json"
    save_state(path, ValidatorState.from_json(good_state_text()))
    assert load_state(path, netuid=2, hotkey=HOTKEY).round == 7


@pytest.mark.parametrize(
    "damage", ["round too large for any integer", "whole file nested 100,000 deep"]
)
async def test_a_validator_with_a_damaged_state_starts_fresh(subnet, tmp_path, damage):
    state = tmp_path / "v.json"
    state.write_bytes(DAMAGE[damage])
    validator = subnet.validator(0, state=state)
    validator.load()
    assert validator.state.round == 0
    assert aside_files(tmp_path, "v.json")
    await validator.client.aclose()


async def test_a_validator_whose_state_path_is_a_folder_does_not_start(subnet, tmp_path):
    validator = subnet.validator(0, state=tmp_path)
    with pytest.raises(StartupError, match="is a folder, not a file"):
        validator.load()
    await validator.client.aclose()
