"""Scenarios through the real epoch, and the `subnet simulate` adapter."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from incentive.scenarios import builtin
from incentive.simulation import ScenarioError, parse_scenario, run_simulation
from scripts.simulate import main

EPOCHS = 12


def run(name: str, **overrides):
    data = builtin(name)
    data.update(overrides)
    scenario = parse_scenario(data, epochs=EPOCHS)
    return scenario, run_simulation(scenario)


def uids(scenario, predicate):
    return [uid for uid, nrn in enumerate(scenario.neurons) if predicate(nrn)]


def test_colluders_miner_gets_nothing_consensus_does_not_give():
    scenario, result = run("colluding")
    own = uids(scenario, lambda nrn: nrn.name == "own")[0]
    assert np.all(result.consensus[:, own] == 0)
    assert np.all(result.incentive[:, own] == 0)


def test_honest_validators_out_earn_colluders_per_unit_of_stake():
    scenario, result = run("colluding")
    stake = np.array([nrn.stake for nrn in scenario.neurons], dtype=np.float64)
    per_stake = result.dividends[-1] / np.where(stake > 0, stake, 1)
    honest = uids(scenario, lambda nrn: nrn.role == "validator" and nrn.behaviour == "honest")
    colluders = uids(scenario, lambda nrn: nrn.behaviour == "colluding")
    assert min(per_stake[honest]) > max(per_stake[colluders])


def test_better_miners_earn_more_under_honest_validators():
    scenario, result = run("honest")
    miners = uids(scenario, lambda nrn: nrn.role == "miner")
    quality = np.array([scenario.neurons[u].quality for u in miners])
    earned = result.incentive[-4:, miners].mean(axis=0)
    assert np.corrcoef(quality, earned)[0, 1] > 0.95


def test_lazy_validator_copying_consensus_still_earns_dividends():
    scenario, result = run("lazy")
    lazy = uids(scenario, lambda nrn: nrn.behaviour == "lazy")[0]
    assert result.dividends[-1, lazy] > 0


def test_a_seed_makes_the_run_reproducible():
    _, a = run("honest")
    _, b = run("honest")
    assert np.array_equal(a.emission, b.emission)


def test_each_epoch_pays_out_its_emission_given_in_alpha():
    _, result = run("honest", emission_per_epoch=1.5)
    assert np.all(np.abs(result.emission.sum(axis=1) - 1_500_000_000) <= result.emission.shape[1])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"neurons": []}, "neurons"),
        ({"epochs": 0}, "epochs"),
        ({"hyperparameters": {"kappa": -3}}, "hyperparameters.kappa"),
        ({"hyperparameters": {"yuma3_enabled": "yes"}}, "hyperparameters.yuma3_enabled"),
        ({"hyperparameters": {"tempi": 10}}, "hyperparameters.tempi"),
        ({"neurons": [{"role": "miner", "quality": 2}]}, "neurons[0].quality"),
        ({"neurons": [{"role": "boss"}]}, "neurons[0].role"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_malformed_scenario_names_the_field(change, field):
    data = builtin("honest")
    data.update(change)
    with pytest.raises(ScenarioError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(data)


def test_a_colluder_needs_a_miner_to_boost():
    data = builtin("colluding")
    data["neurons"][3]["target"] = "nobody"
    with pytest.raises(ScenarioError, match="nobody"):
        parse_scenario(data)


def test_a_hyperparameter_by_its_epoch_name_is_refused_naming_the_owner_name():
    data = builtin("honest")
    data["hyperparameters"] = {"kappa_u16": 30_000}
    with pytest.raises(ScenarioError, match="use 'kappa', the name `subnet owner set` takes"):
        parse_scenario(data)


def test_owner_names_set_the_epoch_parameters_in_the_chains_units():
    data = builtin("honest")
    data["hyperparameters"] = {
        "tempo": 100,
        "kappa": 30_000,
        "yuma3_enabled": False,
        "activity_cutoff_factor": 2_000,
        "max_validators": 3,
        "stake_threshold": 2.5,
    }
    params = parse_scenario(data).params
    assert (params.tempo, params.kappa_u16, params.yuma3) == (100, 30_000, False)
    assert params.activity_cutoff_blocks == 200 and params.max_allowed_validators == 3
    assert params.min_stake == 2_500_000_000


def test_simulate_command_writes_csv_in_alpha_and_plot(tmp_path, capsys):
    assert main(["honest", "--epochs", "3", "--out", str(tmp_path)]) == 0
    rows = list(csv.reader((tmp_path / "epochs.csv").open()))
    header = ["epoch", "uid", "name", "role", "stake_alpha", "incentive", "dividends"]
    assert rows[0] == [*header, "emission_alpha"]
    assert rows[1][:5] == ["0", "0", "v0", "validator", "400000.0"]
    assert len(rows) == 1 + 3 * 12
    assert (tmp_path / "emission.png").read_bytes()[:4] == b"\x89PNG"
    assert "emission at epoch 2" in capsys.readouterr().out


def test_simulate_command_prints_the_scenario_it_runs(tmp_path, capsys):
    assert main(["colluding", "--epochs", "2", "--out", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "scenario colluding: 2 epochs, seed 3, float mode" in out
    assert "colluding on own" in out and "yuma3_enabled" in out


def test_simulate_command_says_who_earned_what_and_why(tmp_path, capsys):
    assert main(["colluding", "--epochs", "12", "--out", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "pay follows quality" in out
    assert "own, boosted by colluders, earned 0.0%: their 30% of the stake is below kappa" in out
    assert "earned nothing: c0, c1, own" in out


def test_simulate_command_reads_a_json_scenario(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(builtin("lazy")))
    assert main([str(path), "--epochs", "2", "--mode", "exact", "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "epochs.csv").exists()


def test_simulate_command_refuses_a_malformed_file(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("neurons:\n  - role: miner\n    quality: lots\n")
    assert main([str(path), "--out", str(tmp_path / "o")]) == 2
    assert "neurons[0].quality" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_simulate_command_refuses_an_unknown_scenario(capsys):
    assert main(["no-such-scenario"]) == 2
    assert "honest" in capsys.readouterr().err
