"""Per-block emission, its split, pending amounts and the tempo scheduler."""

from __future__ import annotations

import pytest

from incentive.emission import (
    OWNER_CUT_U16,
    TOTAL_SUPPLY,
    PendingEmission,
    alpha_block_emission,
    initial_last_epoch_block,
    should_run_epoch,
    split_block_emission,
)

ALPHA = 1_000_000_000


def test_owner_cut_follows_the_coinbase_vector():
    assert split_block_emission(ALPHA, 0).owner_cut == 0
    assert split_block_emission(ALPHA, 65_535).owner_cut == ALPHA


def test_default_split_is_eighteen_percent_then_halves():
    split = split_block_emission(ALPHA)
    assert split.owner_cut == ALPHA * OWNER_CUT_U16 // 65_535
    # the chain keeps the owner cut's fraction in what remains, then halves (truncating)
    assert split.server == split.validator == 410_002_288
    assert split.root == 0


def test_root_proportion_comes_out_of_the_validator_half():
    split = split_block_emission(ALPHA, OWNER_CUT_U16, root_proportion=0.25)
    plain = split_block_emission(ALPHA, OWNER_CUT_U16)
    assert split.server == plain.server
    assert split.validator + split.root in (plain.validator, plain.validator - 1)
    assert abs(split.root - plain.validator // 4) <= 1


def test_split_never_creates_raw_units():
    for amount in (1, 7, 999_999_999, ALPHA, 123_456_789_123):
        assert split_block_emission(amount, OWNER_CUT_U16, 0.3).total <= amount


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1,), "alpha_out"),
        ((ALPHA, 70_000), "owner_cut_u16"),
        ((ALPHA, 1, 1.5), "root_proportion"),
    ],
)
def test_bad_split_input_is_refused(args, message):
    with pytest.raises(ValueError, match=message):
        split_block_emission(*args)


def test_alpha_emission_starts_at_one_alpha_and_halves():
    assert alpha_block_emission(0) == ALPHA
    assert alpha_block_emission(TOTAL_SUPPLY // 2 - ALPHA) == ALPHA
    assert alpha_block_emission(TOTAL_SUPPLY // 2) == ALPHA // 2
    assert alpha_block_emission(TOTAL_SUPPLY * 3 // 4) == ALPHA // 4


def test_no_emission_once_the_supply_is_issued():
    assert alpha_block_emission(TOTAL_SUPPLY) == 0


def test_epoch_fires_every_tempo_blocks():
    assert not should_run_epoch(109, 10, 100)
    assert should_run_epoch(110, 10, 100)


def test_tempo_zero_never_fires():
    assert not should_run_epoch(10_000, 0, 0, pending_epoch_at=5)


def test_owner_trigger_fires_at_its_block():
    assert not should_run_epoch(14, 10, 360, pending_epoch_at=15)
    assert should_run_epoch(15, 10, 360, pending_epoch_at=15)


def test_a_long_stall_forces_an_epoch():
    assert should_run_epoch(20, 10, 360, blocks_since_last_step=50_401)


def test_new_subnets_are_staggered_by_netuid():
    assert initial_last_epoch_block(1_000, 3, 360) == 997
    assert initial_last_epoch_block(2, 5, 360) == 0


def test_pending_amounts_accumulate_and_drain():
    pending = PendingEmission()
    for _ in range(3):
        pending = pending.add(split_block_emission(ALPHA))
    paid, emptied = pending.drain()
    split = split_block_emission(ALPHA)
    assert paid.server == 3 * split.server
    assert paid.epoch_emission == 3 * (split.server + split.validator)
    assert emptied == PendingEmission()
