"""Contract: stake, per-block emission with the owner cut, epochs on tempo, permits, and
commit-reveal, on every chain kind that supports them."""

from __future__ import annotations

import pytest
from chain_helpers import (
    ALICE,
    BOB,
    POOR,
    make_subnet,
    neuron,
    refused_call,
    register_all,
    state_of,
)

from chain.types import RAO_PER_TAO
from incentive.emission import alpha_block_emission, split_block_emission

HOTKEY = neuron(1).hotkey.ss58_address


async def staked_subnet(harness) -> int:
    netuid = await make_subnet(harness.chain)
    await harness.chain.register(neuron(1), netuid)
    return netuid


async def test_add_stake_turns_tao_into_alpha_one_to_one(harness):
    c = harness.chain
    netuid = await staked_subnet(harness)
    before = await c.balance(BOB.coldkey.ss58_address)
    await c.add_stake(BOB, netuid, HOTKEY, 12.5)
    assert await c.stake(netuid, HOTKEY) == 12_500_000_000
    assert await c.stake(netuid, HOTKEY, BOB.coldkey.ss58_address) == 12_500_000_000
    assert (await c.metagraph(netuid)).stake[1] == 12_500_000_000
    assert await c.balance(BOB.coldkey.ss58_address) == before - 12_500_000_000


async def test_another_coldkey_may_stake_on_a_hotkey(harness):
    c = harness.chain
    netuid = await staked_subnet(harness)
    await c.add_stake(ALICE, netuid, HOTKEY, 1)
    assert await c.stake(netuid, HOTKEY, ALICE.coldkey.ss58_address) == RAO_PER_TAO


@pytest.mark.parametrize(
    ("wallet", "netuid", "hotkey", "amount", "code"),
    [
        (POOR, None, HOTKEY, 1, "NotEnoughBalanceToStake"),
        (BOB, None, HOTKEY, 0.0001, "AmountTooLow"),
        (BOB, None, neuron(7).hotkey.ss58_address, 1, "HotKeyAccountNotExists"),
        (BOB, 55, HOTKEY, 1, "SubnetNotExists"),
    ],
)
async def test_add_stake_refusals_change_nothing(harness, wallet, netuid, hotkey, amount, code):
    c = harness.chain
    real = await staked_subnet(harness)
    before = await state_of(c, real, wallet.coldkey.ss58_address)
    await refused_call(c.add_stake(wallet, netuid or real, hotkey, amount), code)
    assert await state_of(c, real, wallet.coldkey.ss58_address) == before


async def test_remove_stake_returns_tao(harness):
    c = harness.chain
    netuid = await staked_subnet(harness)
    await c.add_stake(BOB, netuid, HOTKEY, 10)
    before = await c.balance(BOB.coldkey.ss58_address)
    await c.remove_stake(BOB, netuid, HOTKEY, 4)
    assert await c.stake(netuid, HOTKEY) == 6 * RAO_PER_TAO
    assert await c.balance(BOB.coldkey.ss58_address) == before + 4 * RAO_PER_TAO


async def test_removing_more_than_is_staked_is_refused(harness):
    c = harness.chain
    netuid = await staked_subnet(harness)
    await c.add_stake(BOB, netuid, HOTKEY, 1)
    before = await state_of(c, netuid, BOB.coldkey.ss58_address)
    await refused_call(c.remove_stake(BOB, netuid, HOTKEY, 2), "NotEnoughStakeToWithdraw")
    assert await state_of(c, netuid, BOB.coldkey.ss58_address) == before


async def test_the_owner_cut_of_every_block_is_paid_at_the_epoch(harness):
    harness.requires("owner_cut", "no per-block emission model")
    c = harness.chain
    netuid = await make_subnet(c, tempo=3)
    await harness.mine(3)  # the subnet's first epoch fires within one tempo
    owner_stake = await c.stake(netuid, ALICE.hotkey.ss58_address)
    per_block = split_block_emission(alpha_block_emission(0)).owner_cut
    assert owner_stake > 0
    assert owner_stake % per_block == 0


async def test_an_epoch_runs_every_tempo_blocks(harness):
    c = harness.chain
    netuid = await make_subnet(c, tempo=4)
    await register_all(c, netuid, [neuron(1)])
    await c.add_stake(BOB, netuid, HOTKEY, 5)
    stakes = []
    for _ in range(8):
        await harness.mine(1)
        stakes.append(await c.stake(netuid, ALICE.hotkey.ss58_address))
    changes = [i for i in range(1, 8) if stakes[i] != stakes[i - 1]]
    assert len(changes) == 2  # eight blocks hold exactly two epochs of a tempo of four
    assert changes[1] - changes[0] == 4


async def test_permits_follow_stake_at_each_epoch(harness):
    c = harness.chain
    netuid = await make_subnet(c, tempo=2, max_validators=2)
    await register_all(c, netuid, [neuron(1), neuron(2)])
    await c.add_stake(BOB, netuid, neuron(2).hotkey.ss58_address, 10)
    await harness.mine(2)
    permits = (await c.metagraph(netuid)).validator_permit.tolist()
    assert permits[2] and not permits[1]
    await c.add_stake(BOB, netuid, neuron(1).hotkey.ss58_address, 50)
    await harness.mine(2)
    permits = (await c.metagraph(netuid)).validator_permit.tolist()
    assert permits[1] and permits[2]


async def test_committed_weights_are_invisible_until_the_reveal_epoch(harness):
    harness.requires("commit_reveal", "drand reveals need the real chain")
    c = harness.chain
    netuid = await make_subnet(c, tempo=3, commit_reveal_weights_enabled=True)
    await register_all(c, netuid, [neuron(1), neuron(2)])
    await c.add_stake(BOB, netuid, HOTKEY, 100)
    await harness.mine(3)
    receipt = await c.set_weights(neuron(1), netuid, [2], [1.0])
    assert receipt.committed
    assert (await c.metagraph(netuid)).last_update[1] == receipt.block  # moved at commit time
    owner = ALICE.hotkey.ss58_address
    for _ in range(3):  # reveal period 1: revealed at the block where the next epoch fires
        assert (await c.weights(netuid))[1] == []
        assert (await c.metagraph(netuid)).incentive[2] == 0
        owner_stake = await c.stake(netuid, owner)
        await harness.mine(1)
        if await c.stake(netuid, owner) != owner_stake:
            break
    assert (await c.weights(netuid))[1] == [(2, 65535)]
    assert (await c.metagraph(netuid)).incentive[2] > 0


async def test_committing_again_within_the_rate_limit_is_refused(harness):
    harness.requires("sudo", "weights_rate_limit is root-only")
    c = harness.chain
    netuid = await make_subnet(c, commit_reveal_weights_enabled=True)
    await c.set_hyperparameter(ALICE, netuid, "weights_rate_limit", 5)
    await register_all(c, netuid, [neuron(1), neuron(2)])
    await harness.mine(5)
    await c.set_weights(ALICE, netuid, [1], [1.0])
    before = await state_of(c, netuid)
    await refused_call(c.set_weights(ALICE, netuid, [2], [1.0]), "CommittingWeightsTooFast")
    assert await state_of(c, netuid) == before
