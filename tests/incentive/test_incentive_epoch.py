"""run_epoch: the chain's vectors, the sparse-path quirks, the masks, and refused input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import incentive_reference as ref
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incentive import EpochInput, EpochParams, SparseRows, run_epoch
from incentive.rows import OrderedEntries
from incentive.vectors import run_vector
from incentive.weights import max_upscale_u16

DATA = Path(__file__).parent / "data"
BLOCK = 1_000
RAO = 1_000_000_000


def vectors(name: str) -> list[dict]:
    return [v for v in json.loads((DATA / name).read_text())["vectors"]]


def epoch_input(stake, weights, *, permit=None, bonds=None, last_update=None, reg=None, **kw):
    n = len(stake)
    return EpochInput(
        current_block=kw.pop("block", BLOCK),
        stake=np.asarray(stake, dtype=np.int64),
        validator_permit=np.asarray(permit if permit is not None else [s > 0 for s in stake]),
        weights=SparseRows.from_lists(weights, n),
        bonds=SparseRows.from_lists(bonds or [[] for _ in range(n)], n),
        last_update=np.asarray(last_update or [BLOCK - 1] * n, dtype=np.int64),
        block_at_registration=np.asarray(reg or [0] * n, dtype=np.int64),
        rao_emission=kw.pop("rao", RAO),
        **kw,
    )


@pytest.mark.parametrize("mode", ["exact", "float"])
@pytest.mark.parametrize(
    "vector",
    [v for v in vectors("vectors-public.json") if v["kind"] == "epoch"]
    + vectors("chain_epoch_tests.json"),
    ids=lambda v: v["name"],
)
def test_chain_epoch_vectors_pass(vector, mode):
    outcome = run_vector(vector, mode)
    assert outcome.status == "PASS", outcome.detail


def random_input(rng, n: int, sort: bool) -> EpochInput:
    validators = rng.choice(n, max(1, n // 3), replace=False)
    stake = np.zeros(n, dtype=np.int64)
    stake[validators] = rng.integers(1, 10**12, validators.size)
    weights, bonds = [], []
    for i in range(n):
        cols = rng.choice(n, rng.integers(1, n + 1), replace=False)
        if sort:
            cols = np.sort(cols)
        values = max_upscale_u16(rng.integers(0, 65_536, cols.size))
        weights.append(
            list(zip(cols.tolist(), values.tolist(), strict=True)) if i in validators else []
        )
        held = rng.choice(n, rng.integers(0, n + 1), replace=False)
        bonds.append(
            [(int(j), int(rng.integers(0, 65_536))) for j in (np.sort(held) if sort else held)]
        )
    permit = np.zeros(n, dtype=bool)
    permit[validators] = True
    return epoch_input(
        stake,
        weights,
        permit=permit,
        bonds=bonds,
        last_update=rng.integers(BLOCK - 50, BLOCK, n).tolist(),
        reg=rng.integers(0, BLOCK - 10, n).tolist(),
    )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    yuma3=st.booleans(),
    liquid=st.booleans(),
    penalty=st.sampled_from([0, 65_535, 30_000]),
    sort=st.booleans(),
)
def test_float_mode_agrees_with_exact_mode(seed, yuma3, liquid, penalty, sort):
    rng = np.random.default_rng(seed)
    inp = random_input(rng, int(rng.integers(2, 24)), sort)
    params = EpochParams(yuma3=yuma3, liquid_alpha=liquid, bonds_penalty_u16=penalty, tempo=5)
    exact, approx = run_epoch(inp, params, "exact"), run_epoch(inp, params, "float")
    for name in ("consensus_u16", "incentive_u16", "dividends_u16", "emission"):
        assert np.max(np.abs(getattr(exact, name) - getattr(approx, name))) <= 1, name
    assert np.array_equal(exact.validator_permit, approx.validator_permit)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 9), st.integers(1, 99)), max_size=8, unique_by=lambda p: p[0])
)
def test_peek_visibility_matches_the_chains_iterator(row):
    entries = OrderedEntries(
        np.zeros(len(row), dtype=np.int64), np.array([u for u, _ in row], dtype=np.int64)
    )
    visible = entries.visible((1, 10))[0]
    found = ref.liquid_alpha_inputs(row, 10)
    for uid, value in row:
        assert visible[uid] == (found[uid] == value)


def test_unsorted_weight_rows_change_liquid_alpha_bonds():
    """chain quirk (SPEC §8.2): the same weights stored in another order give other bonds."""
    stake = [10, 10, 0, 0, 0]
    bonds = [[(3, 30_000), (4, 20_000)], [(3, 30_000), (4, 20_000)], [], [], []]
    sorted_rows = [[(3, 40_000), (4, 65_535)], [(3, 65_535), (4, 10_000)], [], [], []]
    unsorted_rows = [[(4, 65_535), (3, 40_000)], [(3, 65_535), (4, 10_000)], [], [], []]
    params = EpochParams(liquid_alpha=True, bonds_penalty_u16=0, tempo=5)
    a = run_epoch(epoch_input(stake, sorted_rows, bonds=bonds), params)
    b = run_epoch(epoch_input(stake, unsorted_rows, bonds=bonds), params)
    assert a.bonds.dense()[0, 3] != b.bonds.dense()[0, 3]
    assert a.bonds.dense()[1].tolist() == b.bonds.dense()[1].tolist()
    assert b.bonds.to_lists()[0][0][0] == 4  # stored in the weights' order


def test_liquid_alpha_drops_bonds_without_a_weight():
    """chain quirk (SPEC §8.1): with liquid alpha, a bond absent from W^b vanishes at once."""
    stake = [10, 0, 0]
    weights = [[(1, 65_535)], [], []]
    bonds = [[(1, 30_000), (2, 30_000)], [], []]
    liquid = run_epoch(
        epoch_input(stake, weights, bonds=bonds), EpochParams(liquid_alpha=True, tempo=5)
    )
    constant = run_epoch(epoch_input(stake, weights, bonds=bonds), EpochParams(tempo=5))
    assert liquid.bonds.dense()[0, 2] == 0
    assert 0 < constant.bonds.dense()[0, 2] < 30_000


def test_owner_keeps_its_self_weight():
    stake = [10, 10, 0]
    weights = [[(0, 65_535)], [(2, 65_535)], []]
    with_owner = run_epoch(epoch_input(stake, weights), EpochParams(owner_uid=0))
    without = run_epoch(epoch_input(stake, weights), EpochParams())
    assert with_owner.incentive_u16[0] > 0
    assert without.incentive_u16[0] == 0


def test_owner_is_exempt_from_the_stake_threshold():
    stake = [5, 100, 0]
    params = EpochParams(min_stake=50, owner_uid=0)
    out = run_epoch(epoch_input(stake, [[], [], []]), params)
    assert out.stake_weight_u16[0] > 0
    assert (
        run_epoch(
            epoch_input(stake, [[], [], []]), replace(params, owner_uid=None)
        ).stake_weight_u16[0]
        == 0
    )


def test_weights_set_before_a_registration_are_outdated():
    stake = [10, 0, 0]
    weights = [[(1, 65_535), (2, 65_535)], [], []]
    out = run_epoch(
        epoch_input(stake, weights, last_update=[500, 0, 0], reg=[0, 0, 600]), EpochParams()
    )
    assert out.incentive_u16.tolist() == [0, 65_535, 0]


def test_commit_reveal_masks_weights_committed_before_a_registration():
    stake = [10, 0, 0]
    weights = [[(1, 65_535), (2, 65_535)], [], []]
    inp = epoch_input(stake, weights, reg=[0, 0, 700], commit_block=np.array([650, -1, -1]))
    masked = run_epoch(inp, EpochParams(commit_reveal=True))
    plain = run_epoch(inp, EpochParams(commit_reveal=False))
    assert masked.incentive_u16.tolist() == [0, 65_535, 0]
    assert plain.incentive_u16[2] > 0


def test_permits_are_stored_but_only_used_next_epoch():
    stake = [10, 20, 0]
    out = run_epoch(
        epoch_input(stake, [[], [(2, 65_535)], []], permit=[True, False, False]), EpochParams()
    )
    assert out.validator_permit.tolist() == [True, True, False]
    assert out.incentive_u16[2] == 0  # uid 1 had no permit yet: its weights did not count


def test_a_validator_losing_its_permit_loses_its_bonds():
    stake = [10, 20, 30]
    bonds = [[(2, 40_000)], [(2, 40_000)], []]
    weights = [[(2, 65_535)], [(2, 65_535)], []]
    out = run_epoch(epoch_input(stake, weights, bonds=bonds), EpochParams(max_allowed_validators=2))
    assert out.validator_permit.tolist() == [False, True, True]
    assert out.bonds.to_lists()[0] == []
    assert out.bonds.to_lists()[1] != []


def test_without_weights_emission_follows_active_stake():
    out = run_epoch(epoch_input([30, 10, 0], [[], [], []]), EpochParams())
    assert out.server_emission.tolist() == [0, 0, 0]
    assert out.emission.tolist() == [750_000_000, 250_000_000, 0]


def test_miners_and_validators_split_the_epoch_in_half():
    out = run_epoch(epoch_input([10, 0], [[(1, 65_535)], []]), EpochParams())
    assert out.server_emission.tolist() == [0, RAO // 2]
    assert out.validator_emission.tolist() == [RAO // 2, 0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(stake=np.array([1, 2])), "validator_permit"),
        (dict(weights=SparseRows.from_lists([[(5, 1)], [], []], 3)), "uid is outside"),
        (dict(weights=SparseRows.from_lists([[(1, 1), (1, 2)], [], []], 3)), "same uid twice"),
        (dict(bonds=SparseRows.from_lists([[(1, 70_000)], [], []], 3)), "u16"),
        (dict(last_update=np.array([1, 2])), "last_update"),
        (dict(rao_emission=-1), "rao_emission"),
    ],
)
def test_inconsistent_input_is_refused(change, message):
    inp = replace(epoch_input([1, 1, 0], [[], [], []]), **change)
    with pytest.raises(ValueError, match=message):
        run_epoch(inp, EpochParams())


def test_out_of_range_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="kappa_u16"):
        run_epoch(epoch_input([1, 0], [[], []]), EpochParams(kappa_u16=70_000))


def test_owner_uid_must_be_a_uid():
    with pytest.raises(ValueError, match="owner_uid"):
        run_epoch(epoch_input([1, 0], [[], []]), EpochParams(owner_uid=7))


def test_an_outdated_owner_self_weight_is_still_masked():
    stake = [10, 10, 0]
    weights = [[(0, 65_535)], [(2, 65_535)], []]
    out = run_epoch(
        epoch_input(stake, weights, last_update=[5, 999, 999], reg=[5, 0, 0]),
        EpochParams(owner_uid=0),
    )
    assert out.incentive_u16[0] == 0
