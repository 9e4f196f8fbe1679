"""The vector runner: `python -m incentive.vectors FILE [--mode]`."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from incentive.vectors import main

DATA = Path(__file__).parent / "data"
PUBLIC = DATA / "vectors-public.json"


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps(data))
    return path


def public() -> dict:
    return json.loads(PUBLIC.read_text())


@pytest.mark.parametrize("mode", ["exact", "float"])
def test_public_vectors_all_pass(mode, capsys):
    assert main([str(PUBLIC), "--mode", mode]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary == f"50 vectors ({mode}): 50 passed, 0 failed, 0 skipped"


def test_each_vector_gets_a_line_with_its_largest_difference(capsys):
    main([str(PUBLIC)])
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("PASS test_zero_weights") and "max_diff=0" in line for line in lines)


def test_a_wrong_expectation_fails_and_exits_one(tmp_path, capsys):
    data = public()
    vector = next(v for v in data["vectors"] if v["name"] == "test_10_graph")
    vector["steps"][0]["expected"]["emission"][0] += 2
    assert main([str(write(tmp_path, {"vectors": [vector]}))]) == 1
    assert "FAIL test_10_graph" in capsys.readouterr().out


def test_an_unmapped_primitive_is_skipped_with_its_reason(tmp_path, capsys):
    vector = {"name": "odd", "kind": "primitive.sigmoid_safe", "inputs": {}, "expected": {}}
    assert main([str(write(tmp_path, {"vectors": [vector]}))]) == 0
    out = capsys.readouterr().out
    assert "SKIP odd" in out and "primitive.sigmoid_safe" in out


def test_a_missing_field_is_named_and_exits_two(tmp_path, capsys):
    data = public()
    vector = copy.deepcopy(next(v for v in data["vectors"] if v["kind"] == "epoch"))
    del vector["steps"][0]["last_update"]
    assert main([str(write(tmp_path, {"vectors": [vector]}))]) == 2
    err = capsys.readouterr().err
    assert "steps[0].last_update" in err and "expected" in err


def test_a_row_of_the_wrong_shape_is_named(tmp_path, capsys):
    data = public()
    vector = copy.deepcopy(next(v for v in data["vectors"] if v["name"] == "test_1_graph"))
    vector["steps"][0]["weights_u16_sparse"] = [[[0, 65_535, 1]]]
    assert main([str(write(tmp_path, {"vectors": [vector]}))]) == 2
    assert "weights_u16_sparse[0]" in capsys.readouterr().err


def test_a_file_without_vectors_is_refused(tmp_path, capsys):
    assert main([str(write(tmp_path, {"tests": []}))]) == 2
    assert "'vectors'" in capsys.readouterr().err


def test_a_file_that_is_not_json_is_refused(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    assert main([str(path)]) == 2
    assert "not JSON" in capsys.readouterr().err


def test_repeat_runs_a_step_several_times_chaining_bonds(tmp_path):
    chain = json.loads((DATA / "chain_epoch_tests.json").read_text())
    vector = copy.deepcopy(next(v for v in chain["vectors"] if v["name"] == "test_bonds"))
    # steps 5..7 repeat the same weights: one step with repeat=3 must end where they end
    last = vector["steps"][-1]
    vector["steps"] = [*vector["steps"][:5], dict(last, repeat=3)]
    assert main([str(write(tmp_path, {"vectors": [vector]}))]) == 0


def test_unknown_hyperparameters_are_reported_not_fatal(tmp_path, capsys):
    vector = copy.deepcopy(next(v for v in public()["vectors"] if v["name"] == "test_1_graph"))
    vector["hyperparams"]["immunity_period"] = 5000
    assert main([str(write(tmp_path, {"vectors": [vector]}))]) == 0
    assert "ignored hyperparameters ['immunity_period']" in capsys.readouterr().out


def test_a_hyperparameter_of_the_wrong_type_is_named(tmp_path, capsys):
    vector = copy.deepcopy(next(v for v in public()["vectors"] if v["name"] == "test_1_graph"))
    vector["hyperparams"]["kappa_u16"] = "half"
    assert main([str(write(tmp_path, {"vectors": [vector]}))]) == 2
    assert "hyperparams.kappa_u16" in capsys.readouterr().err


def test_an_expected_output_that_does_not_exist_fails_the_vector(tmp_path, capsys):
    vector = copy.deepcopy(next(v for v in public()["vectors"] if v["name"] == "test_1_graph"))
    vector["steps"][0]["expected"]["rank_u16"] = [0]
    assert main([str(write(tmp_path, {"vectors": [vector]}))]) == 1
    assert "rank_u16" in capsys.readouterr().out


def test_a_row_listing_a_uid_twice_is_refused_with_its_step(tmp_path, capsys):
    vector = copy.deepcopy(next(v for v in public()["vectors"] if v["name"] == "test_10_graph"))
    vector["steps"][0]["weights_u16_sparse"][0] = [[1, 5], [1, 6]]
    assert main([str(write(tmp_path, {"vectors": [vector]}))]) == 2
    err = capsys.readouterr().err
    assert "steps[0]" in err and "same uid twice" in err


def test_a_primitive_missing_an_input_is_named(tmp_path, capsys):
    vector = copy.deepcopy(next(v for v in public()["vectors"] if v["name"] == "weighted_median_3"))
    del vector["inputs"]["score"]
    assert main([str(write(tmp_path, {"vectors": [vector]}))]) == 2
    assert "'score'" in capsys.readouterr().err
