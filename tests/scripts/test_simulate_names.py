"""`subnet simulate` speaks `subnet owner set`'s language: the same hyperparameter names, units
and defaults, and the chain's activity cutoff."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from chain.dev.params import PARAMS
from chain.types import activity_cutoff
from incentive.scenarios import builtin
from incentive.simulation import (
    ACTIVITY_CUTOFF_FACTOR,
    DEFAULT_ACTIVITY_CUTOFF_FACTOR,
    OWNER_NAMES,
    WEIGHT_LIMITS,
    parse_scenario,
)
from incentive.types import EpochParams
from scripts.owner_rules import settable_names
from scripts.simulate import main as simulate_main

REPO = Path(__file__).resolve().parents[2]


def test_every_simulated_hyperparameter_is_one_subnet_owner_set_takes():
    assert {*OWNER_NAMES, *WEIGHT_LIMITS, ACTIVITY_CUTOFF_FACTOR} <= set(settable_names())


def test_a_scenario_without_hyperparameters_runs_a_new_subnets_defaults():
    defaults = EpochParams()
    for name, field in OWNER_NAMES.items():
        assert getattr(defaults, field) == PARAMS[name].default, name
    for name, value in WEIGHT_LIMITS.items():
        assert value == PARAMS[name].default, name
    assert PARAMS[ACTIVITY_CUTOFF_FACTOR].default == DEFAULT_ACTIVITY_CUTOFF_FACTOR


@pytest.mark.parametrize(("factor", "tempo"), [(13_889, 360), (1_000, 10), (50_000, 7), (1, 2)])
def test_the_activity_cutoff_is_the_chains(factor, tempo):
    data = builtin("honest")
    data["hyperparameters"] = {"tempo": tempo, "activity_cutoff_factor": factor}
    assert parse_scenario(data).params.activity_cutoff_blocks == activity_cutoff(factor, tempo)


def test_the_readmes_scenario_example_runs_as_written(tmp_path, monkeypatch, capsys):
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Simulating a subnet") :]
    section = section[: section.index("\n## ")]
    scenario = re.search(r"```yaml\n(.*?)```", section, re.DOTALL).group(1)
    command = re.findall(r"```bash\n(subnet simulate [^\n]*mine\.yaml[^\n]*)\n```", section)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text(scenario)
    words = shlex.split(command)
    assert words[:2] == ["subnet", "simulate"]
    assert simulate_main(words[2:]) == 0
    assert (tmp_path / "runs" / "simulate-mine" / "epochs.csv").exists()
    assert "friend, boosted by colluders" in " ".join(capsys.readouterr().out.split())
