"""Contract: subnets, hyperparameters, registration, pruning and axons, on every chain kind."""

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


async def test_create_subnet_makes_the_owner_hotkey_uid_zero(harness):
    c = harness.chain
    netuid = await c.create_subnet(ALICE)
    metagraph = await c.metagraph(netuid)
    assert netuid >= 1
    assert metagraph.hotkeys == (ALICE.hotkey.ss58_address,)
    assert metagraph.coldkeys == (ALICE.coldkey.ss58_address,)


async def test_create_subnet_refused_without_the_lock_cost(harness):
    c = harness.chain
    await refused_call(c.create_subnet(POOR), "CannotAffordLockCost")


async def test_owner_sets_tempo_within_the_owner_range(harness):
    c = harness.chain
    netuid = await c.create_subnet(ALICE)
    await c.set_hyperparameter(ALICE, netuid, "tempo", 720)
    assert (await c.hyperparameters(netuid)).tempo == 720


async def test_non_owner_cannot_set_hyperparameters(harness):
    c = harness.chain
    netuid = await c.create_subnet(ALICE)
    before = await c.hyperparameters(netuid)
    await refused_call(c.set_hyperparameter(BOB, netuid, "tempo", 720), "BadOrigin")
    assert await c.hyperparameters(netuid) == before


async def test_sudo_sets_a_tempo_below_the_owner_range(harness):
    harness.requires("sudo", "no sudo key")
    c = harness.chain
    netuid = await c.create_subnet(ALICE)
    await c.set_hyperparameter(ALICE, netuid, "tempo", 10)
    assert (await c.hyperparameters(netuid)).tempo == 10


async def test_owner_below_the_tempo_range_is_refused(harness):
    c = harness.chain
    netuid = await c.create_subnet(BOB)
    before = await c.hyperparameters(netuid)
    await refused_call(c.set_hyperparameter(BOB, netuid, "tempo", 10), "TempoOutOfBounds")
    assert await c.hyperparameters(netuid) == before


async def test_owner_cannot_set_a_root_only_hyperparameter(harness):
    c = harness.chain
    netuid = await c.create_subnet(BOB)
    await refused_call(c.set_hyperparameter(BOB, netuid, "kappa", 1000), "BadOrigin")
    assert (await c.hyperparameters(netuid)).kappa == 32_767


async def test_new_subnets_run_yuma3_with_commit_reveal(harness):
    c = harness.chain
    params = await c.hyperparameters(await c.create_subnet(ALICE))
    assert params.yuma3_enabled and params.commit_reveal_weights_enabled
    assert (params.max_validators, params.min_allowed_weights, params.immunity_period) == (
        64,
        1,
        5000,
    )


async def test_register_returns_the_next_uid_and_burns_the_cost(harness):
    c = harness.chain
    netuid = await make_subnet(c)
    burn = (await c.hyperparameters(netuid)).burn
    before = await c.balance(BOB.coldkey.ss58_address)
    uid = await c.register(neuron(1), netuid)
    metagraph = await c.metagraph(netuid)
    assert uid == 1
    assert metagraph.hotkeys[1] == neuron(1).hotkey.ss58_address
    assert metagraph.coldkeys[1] == BOB.coldkey.ss58_address
    assert metagraph.block_at_registration[1] == await c.block()
    assert await c.balance(BOB.coldkey.ss58_address) == before - burn


async def test_registering_twice_is_refused_and_changes_nothing(harness):
    c = harness.chain
    netuid = await make_subnet(c)
    await c.register(neuron(1), netuid)
    before = await state_of(c, netuid, BOB.coldkey.ss58_address)
    await refused_call(c.register(neuron(1), netuid), "HotKeyAlreadyRegisteredInSubNet")
    assert await state_of(c, netuid, BOB.coldkey.ss58_address) == before


async def test_registering_on_a_missing_subnet_is_refused(harness):
    await refused_call(harness.chain.register(neuron(1), 77), "SubnetNotExists")


async def test_registering_without_the_burn_is_refused(harness):
    c = harness.chain
    netuid = await make_subnet(c)
    before = await state_of(c, netuid)
    await refused_call(c.register(POOR, netuid), "NotEnoughBalanceToStake")
    assert await state_of(c, netuid) == before


async def test_only_max_regs_per_block_registrations_fit_in_a_block(harness):
    c = harness.chain
    netuid = await make_subnet(c, max_regs_per_block=1)
    await c.register(neuron(1), netuid)
    before = await state_of(c, netuid, BOB.coldkey.ss58_address)
    await refused_call(c.register(neuron(2), netuid), "TooManyRegistrationsThisBlock")
    assert await state_of(c, netuid, BOB.coldkey.ss58_address) == before
    await harness.mine(1)
    assert await c.register(neuron(2), netuid) == 2


async def test_registration_can_be_switched_off(harness):
    c = harness.chain
    netuid = await make_subnet(c, registration_allowed=False)
    await refused_call(c.register(neuron(1), netuid), "SubNetRegistrationDisabled")


async def test_a_hotkey_of_another_coldkey_cannot_be_registered(harness):
    c = harness.chain
    netuid = await make_subnet(c)
    await c.register(neuron(1), netuid)
    other_netuid = await make_subnet(c)
    stolen = neuron(1, coldkey="//Charlie")
    stolen = type(stolen)(coldkey=stolen.coldkey, hotkey=neuron(1).hotkey)
    await refused_call(c.register(stolen, other_netuid), "NonAssociatedColdKey")


async def test_a_full_subnet_replaces_the_oldest_lowest_emission_neuron(harness):
    c = harness.chain
    netuid = await make_subnet(c, max_validators=3, max_allowed_uids=3)
    await register_all(c, netuid, [neuron(1), neuron(2)])
    await harness.mine(1)
    uid = await c.register(neuron(3), netuid)
    metagraph = await c.metagraph(netuid)
    # All emissions are 0 and both candidates registered in the same block: the lower uid goes;
    # the owner's hotkey at uid 0 is never replaced.
    assert uid == 1
    assert metagraph.hotkeys == (
        ALICE.hotkey.ss58_address,
        neuron(3).hotkey.ss58_address,
        neuron(2).hotkey.ss58_address,
    )
    assert metagraph.block_at_registration[1] == await c.block()


async def test_when_every_candidate_is_immune_the_oldest_is_replaced(harness):
    c = harness.chain
    netuid = await make_subnet(c, max_validators=3, max_allowed_uids=3, immunity_period=5000)
    await c.register(neuron(1), netuid)
    await harness.mine(1)
    await c.register(neuron(2), netuid)
    await harness.mine(1)
    assert await c.register(neuron(3), netuid) == 1


async def test_serve_axon_is_visible_in_the_metagraph(harness):
    c = harness.chain
    netuid = await make_subnet(c)
    uid = await c.register(neuron(1), netuid)
    await c.serve_axon(neuron(1), netuid, "10.1.2.3", 8091)
    axon = (await c.metagraph(netuid)).axons[uid]
    assert (axon.ip, axon.port, axon.ip_type) == ("10.1.2.3", 8091, 4)


@pytest.mark.parametrize(
    ("ip", "port", "code"),
    [
        ("not-an-ip", 8091, "InvalidIpAddress"),
        ("255.255.255.255", 8091, "InvalidIpAddress"),
        ("10.1.2.3", 0, "InvalidPort"),
    ],
)
async def test_serve_axon_refuses_bad_addresses(harness, ip, port, code):
    c = harness.chain
    netuid = await make_subnet(c)
    await c.register(neuron(1), netuid)
    before = await state_of(c, netuid)
    await refused_call(c.serve_axon(neuron(1), netuid, ip, port), code)
    assert await state_of(c, netuid) == before


async def test_serve_axon_needs_a_registered_hotkey(harness):
    c = harness.chain
    netuid = await make_subnet(c)
    await refused_call(
        c.serve_axon(neuron(9), netuid, "10.1.2.3", 8091), "HotKeyNotRegisteredInNetwork"
    )


async def test_serve_axon_is_rate_limited(harness):
    c = harness.chain
    netuid = await make_subnet(c, serving_rate_limit=5)
    await c.register(neuron(1), netuid)
    await harness.mine(1)
    await c.serve_axon(neuron(1), netuid, "10.1.2.3", 8091)
    before = await state_of(c, netuid)
    await refused_call(
        c.serve_axon(neuron(1), netuid, "10.1.2.4", 8092), "ServingRateLimitExceeded"
    )
    assert await state_of(c, netuid) == before
    await harness.mine(5)
    await c.serve_axon(neuron(1), netuid, "10.1.2.4", 8092)


async def test_transfer_moves_tao_between_coldkeys(harness):
    c = harness.chain
    dest = POOR.coldkey.ss58_address
    before = await c.balance(BOB.coldkey.ss58_address)
    await c.transfer(BOB, dest, 2.5)
    assert await c.balance(dest) == 2_500_000_000
    assert await c.balance(BOB.coldkey.ss58_address) == before - 5 * RAO_PER_TAO // 2


async def test_transfer_beyond_the_balance_is_refused(harness):
    c = harness.chain
    await refused_call(c.transfer(POOR, BOB.coldkey.ss58_address, 1), "InsufficientBalance")
    assert await c.balance(POOR.coldkey.ss58_address) == 0
