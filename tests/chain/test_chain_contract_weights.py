"""Contract: set_weights and each of its refusals, in the chain's order, on every chain kind."""

from __future__ import annotations

import pytest
from chain_helpers import ALICE, make_subnet, neuron, refused_call, register_all, state_of

import chain

VALIDATOR = neuron(1)
MINERS = [neuron(2), neuron(3), neuron(4)]


async def validator_subnet(harness, **params) -> int:
    """A subnet with a staked validator at uid 1 (permit after one epoch) and miners 2..4."""
    c = harness.chain
    netuid = await make_subnet(c, tempo=360, **params)
    await register_all(c, netuid, [VALIDATOR, *MINERS])
    await c.add_stake(VALIDATOR, netuid, VALIDATOR.hotkey.ss58_address, 100)
    await c.set_hyperparameter(ALICE, netuid, "tempo", 2)
    await harness.mine(2)  # one epoch: permits go to the staked hotkeys
    assert (await c.metagraph(netuid)).validator_permit[1]
    return netuid


async def weights_state(harness, netuid: int) -> tuple:
    c = harness.chain
    rows = await c.weights(netuid) if "weights_read" in harness.features else None
    return rows, await state_of(c, netuid)


async def test_set_weights_stores_the_max_upscaled_row(harness):
    c = harness.chain
    netuid = await validator_subnet(harness)
    receipt = await c.set_weights(VALIDATOR, netuid, [2, 3, 4], [0.5, 0.25, 0.25])
    assert not receipt.committed
    assert (await c.weights(netuid))[1] == [(2, 65535), (3, 32768), (4, 32768)]
    assert (await c.metagraph(netuid)).last_update[1] == receipt.block


async def test_integer_weights_are_taken_as_u16_values(harness):
    c = harness.chain
    netuid = await validator_subnet(harness)
    await c.set_weights(VALIDATOR, netuid, [2, 3], [100, 50])
    assert (await c.weights(netuid))[1] == [(2, 65535), (3, 32768)]


async def test_weights_drive_the_next_epoch(harness):
    c = harness.chain
    netuid = await validator_subnet(harness)
    await c.set_weights(VALIDATOR, netuid, [2, 3], [3.0, 1.0])
    await harness.mine(2)
    metagraph = await c.metagraph(netuid)
    assert metagraph.incentive[2] > metagraph.incentive[3] > 0
    assert metagraph.incentive[4] == 0
    assert metagraph.dividends[1] > 0
    assert metagraph.emission[2] > metagraph.emission[3] > 0


async def test_a_coldkey_cannot_set_weights(harness):
    c = harness.chain
    netuid = await validator_subnet(harness)
    signed_by_coldkey = chain.DevWallet(coldkey=VALIDATOR.coldkey, hotkey=VALIDATOR.coldkey)
    before = await weights_state(harness, netuid)
    await refused_call(
        c.set_weights(signed_by_coldkey, netuid, [2], [1.0]), "HotKeyNotRegisteredInSubNet"
    )
    assert await weights_state(harness, netuid) == before


async def test_weights_on_a_missing_subnet_are_refused(harness):
    await refused_call(harness.chain.set_weights(VALIDATOR, 99, [1], [1.0]), "SubnetNotExists")


async def test_a_neuron_without_permit_may_only_weight_itself(harness):
    c = harness.chain
    netuid = await validator_subnet(harness)
    before = await weights_state(harness, netuid)
    await refused_call(c.set_weights(MINERS[0], netuid, [3], [1.0]), "NeuronNoValidatorPermit")
    assert await weights_state(harness, netuid) == before
    await c.set_weights(MINERS[0], netuid, [2], [1.0])  # a self-weight needs no permit


async def test_an_old_version_key_is_refused(harness):
    c = harness.chain
    netuid = await validator_subnet(harness, weights_version=7)
    before = await weights_state(harness, netuid)
    await refused_call(
        c.set_weights(VALIDATOR, netuid, [2], [1.0], version_key=6), "IncorrectWeightVersionKey"
    )
    assert await weights_state(harness, netuid) == before
    await c.set_weights(VALIDATOR, netuid, [2], [1.0], version_key=7)


async def test_setting_weights_again_within_the_rate_limit_is_refused(harness):
    harness.requires("sudo", "weights_rate_limit is root-only")
    c = harness.chain
    netuid = await validator_subnet(harness)
    await c.set_hyperparameter(ALICE, netuid, "weights_rate_limit", 3)
    await c.set_weights(VALIDATOR, netuid, [2], [1.0])
    before = await weights_state(harness, netuid)
    await refused_call(c.set_weights(VALIDATOR, netuid, [3], [1.0]), "SettingWeightsTooFast")
    assert await weights_state(harness, netuid) == before
    await harness.mine(3)
    await c.set_weights(VALIDATOR, netuid, [3], [1.0])


async def test_duplicate_uids_are_refused(harness):
    c = harness.chain
    netuid = await validator_subnet(harness)
    before = await weights_state(harness, netuid)
    await refused_call(c.set_weights(VALIDATOR, netuid, [2, 2], [1, 1]), "DuplicateUids")
    assert await weights_state(harness, netuid) == before


async def test_uids_that_do_not_exist_are_refused(harness):
    c = harness.chain
    netuid = await validator_subnet(harness)
    before = await weights_state(harness, netuid)
    await refused_call(c.set_weights(VALIDATOR, netuid, [2, 40], [1, 1]), "UidVecContainInvalidOne")
    assert await weights_state(harness, netuid) == before


async def test_more_uids_than_the_subnet_has_are_refused(harness):
    c = harness.chain
    netuid = await validator_subnet(harness)
    uids = list(range(6))
    await refused_call(
        c.set_weights(VALIDATOR, netuid, uids, [1] * 6), "UidsLengthExceedUidsInSubNet"
    )


async def test_fewer_weights_than_min_allowed_are_refused(harness):
    c = harness.chain
    netuid = await validator_subnet(harness, min_allowed_weights=3)
    before = await weights_state(harness, netuid)
    await refused_call(c.set_weights(VALIDATOR, netuid, [2, 3], [1, 1]), "WeightVecLengthIsLow")
    assert await weights_state(harness, netuid) == before


async def test_a_weight_above_max_weights_limit_is_refused(harness):
    harness.requires("max_weight_refusal", "the SDK clips weights to the limit before sending")
    c = harness.chain
    netuid = await validator_subnet(harness)
    await c.set_hyperparameter(ALICE, netuid, "max_weights_limit", 32768)
    before = await weights_state(harness, netuid)
    await refused_call(c.set_weights(VALIDATOR, netuid, [2, 3], [3, 1]), "MaxWeightExceeded")
    assert await weights_state(harness, netuid) == before
    await c.set_weights(VALIDATOR, netuid, [2, 3], [1, 1])


async def test_uids_and_weights_of_different_lengths_are_refused(harness):
    c = harness.chain
    netuid = await validator_subnet(harness)
    await refused_call(c.set_weights(VALIDATOR, netuid, [2, 3], [1]), "WeightVecNotEqualSize")


@pytest.mark.parametrize("weights", [[-1.0, 1.0], [float("nan"), 1.0], [0.0, 0.0]])
async def test_unusable_weights_are_refused_before_signing(harness, weights):
    c = harness.chain
    netuid = await validator_subnet(harness)
    await refused_call(c.set_weights(VALIDATOR, netuid, [2, 3], weights), "InvalidArgument")


async def test_the_owner_hotkey_needs_no_permit(harness):
    c = harness.chain
    netuid = await validator_subnet(harness)
    await c.set_weights(ALICE, netuid, [2, 3], [1.0, 1.0])
    assert (await c.weights(netuid))[0] == [(2, 65535), (3, 65535)]
