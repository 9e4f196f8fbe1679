"""`subnet simulate` speaks `subnet owner set`'s language: the same hyperparameter names, units
and defaults, and the chain's activity cutoff."""

from __future__ import annotations

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
