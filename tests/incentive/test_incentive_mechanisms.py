"""Mechanisms: per-mechanism epochs with shared stake, combined per neuron."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from incentive import EpochInput, EpochParams, SparseRows, run_epoch
from incentive.mechanisms import run_mechanisms, split_emissions

RAO = 1_000_000_000


def mechanism_input(weights) -> EpochInput:
    n = 4
    return EpochInput(
        current_block=100,
        stake=np.array([60, 40, 0, 0], dtype=np.int64),
        validator_permit=np.array([True, True, False, False]),
        weights=SparseRows.from_lists(weights, n),
        bonds=SparseRows.empty(n),
        last_update=np.full(n, 99, dtype=np.int64),
        block_at_registration=np.zeros(n, dtype=np.int64),
        rao_emission=RAO,
    )


def test_even_split_gives_the_remainder_to_mechanism_zero():
    assert split_emissions(10, 3) == [4, 3, 3]


def test_explicit_split_follows_u16_parts():
    # floor(1e9 * part / 65535); the unit lost to truncation goes to mechanism 0
    assert split_emissions(RAO, 2, [16_383, 49_152]) == [249_988_556, 750_011_444]


def test_a_split_that_does_not_add_up_is_refused():
    with pytest.raises(ValueError, match="65535"):
        split_emissions(RAO, 2, [1, 2])


def test_one_mechanism_reproduces_the_plain_epoch():
    inp = mechanism_input([[(2, 65_535)], [(3, 65_535)], [], []])
    combined = run_mechanisms([inp], EpochParams(), RAO)
    plain = run_epoch(inp, EpochParams())
    assert combined.emission.tolist() == plain.emission.tolist()
    assert combined.dividends_u16.tolist() == plain.dividends_u16.tolist()


def test_emissions_add_up_across_mechanisms():
    first = mechanism_input([[(2, 65_535)], [(2, 65_535)], [], []])
    second = replace(
        first, weights=SparseRows.from_lists([[(3, 65_535)], [(3, 65_535)], [], []], 4)
    )
    out = run_mechanisms([first, second], EpochParams(), RAO)
    assert out.server_emission.tolist() == [0, 0, RAO // 4, RAO // 4]
    assert out.mechanisms[0].incentive_u16[2] == 65_535
    assert out.mechanisms[1].incentive_u16[3] == 65_535


def test_mechanisms_must_share_stake():
    first = mechanism_input([[], [], [], []])
    other = replace(first, stake=np.array([1, 2, 3, 4], dtype=np.int64))
    with pytest.raises(ValueError, match="share"):
        run_mechanisms([first, other], EpochParams(), RAO)
