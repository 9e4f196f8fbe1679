"""Fault suite: the vector runner accepts every `expected` key form SPEC §12 names.

`*_u16_check` lists on u16 outputs (bonds_u16_check, dividends_u16_check) and a step whose
`expected` is null used to be refused as malformed files.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from incentive.vectors import main

pytestmark = pytest.mark.fault

CHAIN_TESTS = Path(__file__).parent / "data" / "chain_epoch_tests.json"


def chain_vector(name: str) -> dict:
    data = json.loads(CHAIN_TESTS.read_text())
    return copy.deepcopy(next(v for v in data["vectors"] if v["name"] == name))


def run(tmp_path: Path, vector: dict) -> int:
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps({"vectors": [vector]}))
    return main([str(path)])


def renamed(vector: dict, old: str, new: str) -> dict:
    """The vector with every step's `old` expected key renamed to `new`."""
    for step in vector["steps"]:
        expected = step.get("expected") or {}
        if old in expected:
            expected[new] = expected.pop(old)
    return vector


def test_bonds_u16_check_is_read_as_stored_bonds_entries(tmp_path, capsys):
    vector = renamed(chain_vector("test_bonds"), "bonds_check", "bonds_u16_check")
    assert run(tmp_path, vector) == 0
    assert "PASS test_bonds" in capsys.readouterr().out


def test_dividends_u16_check_is_read_as_u16_entries(tmp_path, capsys):
    vector = renamed(chain_vector("test_active_stake"), "dividends_check", "dividends_u16_check")
    assert run(tmp_path, vector) == 0
    assert "PASS test_active_stake" in capsys.readouterr().out


def test_a_wrong_value_under_a_u16_check_key_fails_the_vector(tmp_path, capsys):
    vector = renamed(chain_vector("test_active_stake"), "dividends_check", "dividends_u16_check")
    step = next(s for s in vector["steps"] if "dividends_u16_check" in (s.get("expected") or {}))
    step["expected"]["dividends_u16_check"][0][1] += 2
    assert run(tmp_path, vector) == 1
    assert "dividends[0]" in capsys.readouterr().out


def test_a_step_whose_expected_is_null_asserts_nothing(tmp_path, capsys):
    vector = chain_vector("test_bonds")
    vector["steps"][0]["expected"] = None
    assert run(tmp_path, vector) == 0
    assert "PASS test_bonds" in capsys.readouterr().out


def test_a_check_entry_naming_a_uid_beyond_the_subnet_is_refused_with_its_key(tmp_path, capsys):
    vector = chain_vector("test_bonds")
    step = next(s for s in vector["steps"] if "bonds_check" in (s.get("expected") or {}))
    step["expected"]["bonds_check"] = [[0, 999, 1]]
    assert run(tmp_path, vector) == 2
    err = capsys.readouterr().err
    assert "expected.bonds_check[0]" in err and "below" in err


def test_a_u16_check_on_an_output_without_u16_form_fails_naming_it(tmp_path, capsys):
    vector = chain_vector("test_active_stake")
    vector["steps"][0]["expected"] = {"emission_u16_check": [[0, 1]]}
    assert run(tmp_path, vector) == 1
    assert "emission_u16_check names no output" in capsys.readouterr().out
