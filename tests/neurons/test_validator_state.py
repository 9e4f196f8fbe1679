"""Validator state: atomic saves, loads before saves, corrupt files moved aside."""

from __future__ import annotations

import os

import pytest

from neurons.state import StateError, ValidatorState, load_state, save_state

HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def make_state(**changes) -> ValidatorState:
    base = dict(
        netuid=2,
        hotkey=HOTKEY,
        task_secret="ab" * 32,
        scores={"alpha": 0.1, "scores": {"hk1": 0.5}},
        last_weight_block=120,
        round=7,
    )
    base.update(changes)
    return ValidatorState(**base)


def test_saved_state_loads_back_equal(tmp_path):
    path = tmp_path / "state.json"
    save_state(path, make_state())
    assert load_state(path, netuid=2, hotkey=HOTKEY) == make_state()


def test_missing_state_file_loads_as_none(tmp_path):
    assert load_state(tmp_path / "absent.json", netuid=2, hotkey=HOTKEY) is None


def test_save_creates_missing_folders(tmp_path):
    path = tmp_path / "a" / "b" / "state.json"
    save_state(path, make_state())
    assert path.exists()


def test_save_leaves_no_temporary_file_behind(tmp_path):
    path = tmp_path / "state.json"
    save_state(path, make_state())
    save_state(path, make_state(round=8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    save_state(path, make_state(round=1))

    def fail(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_state(path, make_state(round=2))
    monkeypatch.undo()
    assert load_state(path, netuid=2, hotkey=HOTKEY).round == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_corrupt_state_file_is_moved_aside_not_overwritten(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "netuid": ')
    assert load_state(path, netuid=2, hotkey=HOTKEY) is None
    assert not path.exists()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("state.json.corrupt-")]
    assert len(aside) == 1
    assert aside[0].read_text() == '{"version": 1, "netuid": '


def test_state_of_an_unknown_version_is_treated_as_corrupt(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(make_state().to_json().replace('"version": 1', '"version": 99'))
    assert load_state(path, netuid=2, hotkey=HOTKEY) is None
    assert any(p.name.startswith("state.json.corrupt-") for p in tmp_path.iterdir())


def test_two_corrupt_files_in_the_same_second_are_both_kept(tmp_path):
    path = tmp_path / "state.json"
    for text in ("garbage one", "garbage two"):
        path.write_text(text)
        load_state(path, netuid=2, hotkey=HOTKEY)
    kept = sorted(p.read_text() for p in tmp_path.iterdir())
    assert kept == ["garbage one", "garbage two"]


def test_state_of_another_hotkey_is_refused_and_left_in_place(tmp_path):
    path = tmp_path / "state.json"
    save_state(path, make_state(hotkey="someone-else"))
    with pytest.raises(StateError, match="belongs to hotkey someone-else"):
        load_state(path, netuid=2, hotkey=HOTKEY)
    assert load_state(path, netuid=2, hotkey="someone-else") is not None
