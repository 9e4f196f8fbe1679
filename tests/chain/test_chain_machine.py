"""The dev chain state machine directly: signatures and nonces, pruning order, replacement,
hyperparameter consistency, and the accounting of an epoch."""

from __future__ import annotations

import pytest
from chain_helpers import ALICE, BOB, Dev, neuron, refused

from chain.dev.coinbase import epoch_input, epoch_params
from chain.dev.commit_reveal import epoch_due
from chain.dev.params import VALIDATOR_TAKE_U16, GenesisConfig
from chain.dev.rows import from_sparse, make_row, pairs, to_sparse
from chain.dev.signing import Transaction, sign
from chain.dev.state import DevState
from incentive.emission import alpha_block_emission, split_block_emission
from incentive.epoch import run_epoch


def test_a_transaction_with_tampered_arguments_is_refused():
    dev = Dev()
    tx = sign(
        BOB.coldkey,
        dev.chain.state.genesis_hash,
        "transfer",
        {"dest": ALICE.coldkey.ss58_address, "amount": 1},
        0,
    )
    forged = Transaction(tx.call, {**tx.args, "amount": 10**15}, tx.signer, tx.nonce, tx.signature)
    with refused("BadProof"):
        dev.chain.submit(forged)
    assert dev.chain.nonce(BOB.coldkey.ss58_address) == 0


def test_a_transaction_signed_by_another_key_is_refused():
    dev = Dev()
    tx = sign(
        ALICE.coldkey,
        dev.chain.state.genesis_hash,
        "transfer",
        {"dest": ALICE.coldkey.ss58_address, "amount": 1},
        0,
    )
    claimed = Transaction(tx.call, tx.args, BOB.coldkey.ss58_address, tx.nonce, tx.signature)
    with refused("BadProof"):
        dev.chain.submit(claimed)


def test_a_transaction_for_another_chain_is_refused():
    dev, other = Dev(), Dev(GenesisConfig(subnet_limit=3))
    tx = sign(
        BOB.coldkey,
        other.chain.state.genesis_hash,
        "transfer",
        {"dest": ALICE.coldkey.ss58_address, "amount": 1},
        0,
    )
    with refused("BadProof"):
        dev.chain.submit(tx)


def test_a_reused_nonce_is_refused_and_a_future_one_too():
    dev = Dev()
    args = {"dest": ALICE.coldkey.ss58_address, "amount": 1}
    first = sign(BOB.coldkey, dev.chain.state.genesis_hash, "transfer", args, 0)
    dev.chain.submit(first)
    with refused("Stale"):
        dev.chain.submit(first)
    with refused("Future"):
        dev.chain.submit(sign(BOB.coldkey, dev.chain.state.genesis_hash, "transfer", args, 5))
    assert dev.chain.nonce(BOB.coldkey.ss58_address) == 1


def test_a_refused_call_does_not_use_up_the_nonce():
    dev = Dev()
    with refused("InsufficientBalance"):
        dev.tx(BOB.coldkey, "transfer", dest=ALICE.coldkey.ss58_address, amount=10**30 // 10**12)
    assert dev.chain.nonce(BOB.coldkey.ss58_address) == 0


def test_an_unknown_call_is_refused():
    dev = Dev()
    with refused("UnknownCall"):
        dev.tx(BOB.coldkey, "mint_money")


def test_malformed_arguments_are_refused_with_what_to_fix():
    dev = Dev()
    with refused("InvalidArgument"):
        dev.tx(BOB.coldkey, "transfer", dest="not an address", amount=1)
    with refused("InvalidArgument"):
        dev.tx(BOB.coldkey, "transfer", dest=ALICE.coldkey.ss58_address, amount=-1)


def test_pruning_picks_lowest_emission_then_oldest_then_lowest_uid():
    dev = Dev()
    netuid = dev.subnet(max_validators=4, max_allowed_uids=4)
    dev.register(netuid, neuron(1))
    dev.mine(1)
    dev.register(netuid, neuron(2), neuron(3))
    subnet = dev.chain.state.subnets[netuid]
    subnet.neurons[1].emission = 50
    subnet.neurons[2].emission = 10
    subnet.neurons[3].emission = 10
    dev.mine(1)
    assert dev.register(netuid, neuron(4)) == [2]  # 2 and 3 tie on emission and age: lower uid
    subnet.neurons[2].emission = 99
    dev.mine(1)
    assert dev.register(netuid, neuron(5)) == [3]


def test_immune_neurons_are_pruned_only_when_nothing_else_is_left():
    dev = Dev()
    netuid = dev.subnet(max_validators=3, max_allowed_uids=3, immunity_period=3)
    dev.register(netuid, neuron(1))
    dev.mine(3)
    dev.register(netuid, neuron(2))
    subnet = dev.chain.state.subnets[netuid]
    subnet.neurons[1].emission = 500  # would be kept on emission alone; it is not immune
    dev.mine(1)
    assert dev.register(netuid, neuron(3)) == [1]


def test_the_owner_hotkey_is_never_pruned():
    dev = Dev()
    netuid = dev.subnet(max_validators=2, max_allowed_uids=2)
    dev.register(netuid, neuron(1))
    dev.chain.state.subnets[netuid].neurons[1].emission = 10**9
    dev.mine(1)
    assert dev.register(netuid, neuron(2)) == [1]


def test_a_replaced_uid_starts_fresh_and_others_weights_on_it_are_zeroed():
    dev = Dev()
    netuid = dev.subnet(max_validators=3, max_allowed_uids=3)
    dev.register(netuid, neuron(1), neuron(2))
    dev.tx(ALICE.hotkey, "set_weights", netuid=netuid, uids=[1, 2], values=[10, 20])
    dev.tx(neuron(1).hotkey, "set_weights", netuid=netuid, uids=[1], values=[5])
    dev.mine(2)
    dev.register(netuid, neuron(3))
    subnet = dev.chain.state.subnets[netuid]
    replaced = subnet.neurons[1]
    assert replaced.hotkey == neuron(3).hotkey.ss58_address
    assert (pairs(replaced.weights), pairs(replaced.bonds), replaced.emission) == ([], [], 0)
    assert replaced.last_update == replaced.registered_at == dev.chain.state.block
    assert pairs(subnet.neurons[0].weights) == [(1, 0), (2, 65535)]


def test_the_stake_threshold_guards_weights_except_for_the_owner():
    dev = Dev(GenesisConfig(stake_threshold=10**9))
    netuid = dev.subnet()
    dev.register(netuid, neuron(1))
    with refused("NotEnoughStakeToSetWeights"):
        dev.tx(neuron(1).hotkey, "set_weights", netuid=netuid, uids=[1], values=[1])
    dev.tx(ALICE.hotkey, "set_weights", netuid=netuid, uids=[0], values=[1])


@pytest.mark.parametrize(
    ("settings", "name", "value", "code"),
    [
        ({}, "max_allowed_uids", 1, "MaxAllowedUIdsLessThanCurrentUIds"),
        ({}, "max_validators", 300, "MaxValidatorsLargerThanMaxUIds"),
        ({}, "alpha_low", 2000, "LiquidAlphaDisabled"),
        ({"liquid_alpha_enabled": True}, "alpha_low", 60_000, "AlphaLowOutOfRange"),
        ({}, "commit_reveal_period", 0, "RevealPeriodTooSmall"),
        ({}, "commit_reveal_period", 101, "RevealPeriodTooLarge"),
        ({}, "burn", 1, "ValueNotInBounds"),
        ({}, "max_allowed_uids", 257, "MaxAllowedUidsGreaterThanDefaultMaxAllowedUids"),
        ({}, "tempo_of_doom", 1, "InvalidArgument"),
        ({}, "yuma3_enabled", 7, "InvalidArgument"),
    ],
)
def test_hyperparameter_rules(settings, name, value, code):
    dev = Dev()
    netuid = dev.subnet(**settings)
    dev.register(netuid, neuron(1), neuron(2))
    before = dict(dev.chain.state.subnets[netuid].params)
    with refused(code):
        dev.tx(ALICE.coldkey, "set_hyperparameter", netuid=netuid, name=name, value=value)
    assert dev.chain.state.subnets[netuid].params == before


def test_loopback_axons_are_refused_when_the_chain_says_so():
    dev = Dev(GenesisConfig(allow_loopback_axons=False))
    netuid = dev.subnet()
    dev.register(netuid, neuron(1))
    with refused("InvalidIpAddress"):
        dev.tx(neuron(1).hotkey, "serve_axon", netuid=netuid, ip=0x7F000001, port=80, ip_type=4)
    dev.tx(neuron(1).hotkey, "serve_axon", netuid=netuid, ip=0x7F000002, port=80, ip_type=4)


def test_registration_on_the_root_network_is_refused():
    with refused("RegistrationNotPermittedOnRootSubnet"):
        Dev().register(0, neuron(1))


def test_the_subnet_limit_is_enforced():
    dev = Dev(GenesisConfig(subnet_limit=1))
    dev.subnet()
    with refused("SubnetLimitReached"):
        dev.tx(BOB.coldkey, "register_network", hotkey=BOB.hotkey.ss58_address)


def test_the_epoch_stores_exactly_what_run_epoch_returns():
    dev = Dev()
    netuid = dev.subnet(tempo=5)
    dev.register(netuid, neuron(1), neuron(2), neuron(3))
    dev.tx(
        BOB.coldkey, "add_stake", netuid=netuid, hotkey=neuron(1).hotkey.ss58_address, amount=10**11
    )
    dev.mine(5)
    dev.tx(neuron(1).hotkey, "set_weights", netuid=netuid, uids=[2, 3], values=[300, 100])
    subnet = dev.chain.state.subnets[netuid]
    while not epoch_due(subnet, dev.chain.state.block + 1):
        dev.mine(1)
    # What the next block's epoch reads: this state one block on, with one more block accrued.
    before = DevState.from_dict(dev.chain.state.to_dict())
    before.block += 1
    mirror = before.subnets[netuid]
    split = split_block_emission(alpha_block_emission(mirror.alpha_issuance))
    emission = mirror.pending_server + split.server + mirror.pending_validator + split.validator
    expected = run_epoch(epoch_input(before, mirror, emission), epoch_params(before, mirror))
    dev.mine(1)
    assert subnet.epoch_index == mirror.epoch_index + 1
    assert [n.incentive for n in subnet.neurons] == expected.incentive_u16.tolist()
    assert [n.dividends for n in subnet.neurons] == expected.dividends_u16.tolist()
    assert [n.emission for n in subnet.neurons] == expected.emission.tolist()
    assert [n.validator_permit for n in subnet.neurons] == expected.validator_permit.tolist()
    assert [pairs(n.bonds) for n in subnet.neurons] == expected.bonds.to_lists()


def test_dividends_pay_the_take_to_the_owner_and_the_rest_by_stake():
    dev = Dev()
    netuid = dev.subnet(tempo=3)
    dev.register(netuid, neuron(1), neuron(2))
    hotkey = neuron(1).hotkey.ss58_address
    dev.tx(BOB.coldkey, "add_stake", netuid=netuid, hotkey=hotkey, amount=30 * 10**9)
    dev.tx(ALICE.coldkey, "add_stake", netuid=netuid, hotkey=hotkey, amount=10 * 10**9)
    dev.mine(3)
    dev.tx(neuron(1).hotkey, "set_weights", netuid=netuid, uids=[2], values=[1])
    stakes = lambda: dict(dev.chain.state.stake[(netuid, hotkey)])  # noqa: E731
    before = stakes()
    dev.mine(3)
    after = stakes()
    bob_gain = after[BOB.coldkey.ss58_address] - before[BOB.coldkey.ss58_address]
    alice_gain = after[ALICE.coldkey.ss58_address] - before[ALICE.coldkey.ss58_address]
    assert bob_gain > 0 and alice_gain > 0
    # Bob owns the hotkey: he takes 18% off the top, and the rest is split by stake.
    bob_part = before[BOB.coldkey.ss58_address] / sum(before.values())
    expected = VALIDATOR_TAKE_U16 / 65_535 + (1 - VALIDATOR_TAKE_U16 / 65_535) * bob_part
    assert bob_gain / (bob_gain + alice_gain) == pytest.approx(expected, abs=1e-6)


def test_state_survives_a_round_trip_through_its_stored_form():
    dev = Dev()
    netuid = dev.subnet(tempo=2, commit_reveal_weights_enabled=True)
    dev.register(netuid, neuron(1))
    dev.tx(neuron(1).hotkey, "serve_axon", netuid=netuid, ip=167772161, port=8091, ip_type=4)
    dev.mine(3)
    copy = DevState.from_dict(dev.chain.state.to_dict())
    assert copy == dev.chain.state
    assert copy.subnets[netuid].neurons[0].bonds == dev.chain.state.subnets[netuid].neurons[0].bonds


def test_stored_rows_convert_to_sparse_rows_and_back_unchanged():
    rows = [make_row([3, 0, 7], [5, 0, 65535]), make_row([], []), make_row([1], [2])]
    sparse = to_sparse(rows)
    assert sparse.to_lists() == [[(3, 5), (0, 0), (7, 65535)], [], [(1, 2)]]
    assert from_sparse(sparse) == rows
