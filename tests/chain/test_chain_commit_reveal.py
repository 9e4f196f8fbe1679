"""The dev chain's commit-reveal stand-in for drand: sealed commits, the reveal at the epoch,
what gets dropped, what can never be read, and the epoch's commit-reveal mask."""

from __future__ import annotations

import json

import pytest
from chain_helpers import ALICE, BOB, Dev, neuron, refused

from chain.dev.coinbase import epoch_input
from chain.dev.commit_reveal import current_epoch, round_key, seal_weights
from chain.dev.params import COMMIT_REVEAL_VERSION, MAX_UNREVEALED_COMMITS

V = neuron(1)


def cr_subnet(dev: Dev, **params) -> int:
    netuid = dev.subnet(tempo=4, commit_reveal_weights_enabled=True, **params)
    dev.register(netuid, V, neuron(2), neuron(3))
    dev.tx(BOB.coldkey, "add_stake", netuid=netuid, hotkey=V.hotkey.ss58_address, amount=10**11)
    dev.mine(4)
    return netuid


def commit(dev: Dev, netuid: int, uids, values, hotkey=V.hotkey, payload_hotkey=None, **over):
    target = dev.chain.reveal_key(netuid)
    sealed = seal_weights(
        over.pop("public_key", target["public_key"]),
        payload_hotkey or hotkey.ss58_address,
        uids,
        values,
        0,
    )
    args = {
        "netuid": netuid,
        "commit": sealed,
        "reveal_round": target["round"],
        "commit_reveal_version": COMMIT_REVEAL_VERSION,
        **over,
    }
    return dev.tx(hotkey, "commit_timelocked_weights", **args)


def run_to_reveal(dev: Dev, netuid: int) -> None:
    subnet = dev.chain.state.subnets[netuid]
    start = subnet.epoch_index
    while subnet.epoch_index == start:
        dev.mine(1)


def test_a_commit_is_applied_at_its_reveal_epoch():
    dev = Dev()
    netuid = cr_subnet(dev)
    commit(dev, netuid, [2, 3], [3, 1])
    assert dev.chain.weights(netuid)[1] == []
    run_to_reveal(dev, netuid)
    assert dev.chain.weights(netuid)[1] == [[2, 65535], [3, 21845]]


def test_a_commit_for_the_wrong_round_is_refused():
    dev = Dev()
    netuid = cr_subnet(dev)
    wrong = dev.chain.reveal_key(netuid)["round"] + 1
    with refused("InvalidRevealRound"):
        commit(dev, netuid, [2], [1], reveal_round=wrong)


def test_an_old_commit_reveal_version_is_refused():
    dev = Dev()
    netuid = cr_subnet(dev)
    with refused("IncorrectCommitRevealVersion"):
        commit(dev, netuid, [2], [1], commit_reveal_version=3)


def test_direct_weights_are_refused_while_commit_reveal_is_on_and_commits_while_off():
    dev = Dev()
    netuid = cr_subnet(dev)
    with refused("CommitRevealEnabled"):
        dev.tx(V.hotkey, "set_weights", netuid=netuid, uids=[2], values=[1])
    dev.tx(
        ALICE.coldkey,
        "set_hyperparameter",
        netuid=netuid,
        name="commit_reveal_weights_enabled",
        value=False,
    )
    with refused("CommitRevealDisabled"):
        commit(dev, netuid, [2], [1])


def test_at_most_ten_unrevealed_commits_per_epoch():
    dev = Dev()
    netuid = cr_subnet(dev)
    for _ in range(MAX_UNREVEALED_COMMITS):
        commit(dev, netuid, [2], [1])
    with refused("TooManyUnrevealedCommits"):
        commit(dev, netuid, [2], [1])


def test_a_commit_sealed_to_another_key_is_dropped_at_the_reveal():
    dev = Dev()
    netuid = cr_subnet(dev)
    stranger = round_key(dev.chain.state, netuid + 1, 0).ss58_address
    commit(dev, netuid, [2], [1], public_key=stranger)
    run_to_reveal(dev, netuid)
    assert dev.chain.weights(netuid)[1] == []
    assert dev.chain.state.subnets[netuid].commits == {}


def test_a_commit_carrying_someone_elses_hotkey_is_dropped():
    dev = Dev()
    netuid = cr_subnet(dev)
    commit(dev, netuid, [2], [1], payload_hotkey=neuron(2).hotkey.ss58_address)
    run_to_reveal(dev, netuid)
    assert dev.chain.weights(netuid)[1] == []


def test_a_commit_that_fails_the_weight_rules_at_reveal_is_dropped_and_others_apply():
    dev = Dev()
    netuid = cr_subnet(dev)
    commit(dev, netuid, [2, 2], [1, 1])  # duplicate uids: refused when revealed
    commit(dev, netuid, [2], [5], hotkey=ALICE.hotkey)
    run_to_reveal(dev, netuid)
    rows = dev.chain.weights(netuid)
    assert rows[1] == [] and rows[0] == [[2, 65535]]


def test_no_read_shows_a_commit_or_its_weights():
    dev = Dev()
    netuid = cr_subnet(dev)
    commit(dev, netuid, [3], [4242])
    sealed = dev.chain.state.subnets[netuid].commits
    ciphertext = next(iter(sealed.values()))[0].ciphertext
    reads = json.dumps(
        [
            dev.chain.info(),
            dev.chain.metagraph(netuid),
            dev.chain.weights(netuid),
            dev.chain.hyperparameters(netuid),
            dev.chain.reveal_key(netuid),
            dev.chain.subnets(),
        ]
    )
    assert ciphertext not in reads and "4242" not in reads
    assert dev.chain.state.reveal_seed not in reads


def test_the_round_key_opens_a_commit_only_for_its_own_round():
    dev = Dev()
    netuid = cr_subnet(dev)
    target = dev.chain.reveal_key(netuid)
    sealed = bytes.fromhex(seal_weights(target["public_key"], "x", [1], [1], 0))
    assert json.loads(round_key(dev.chain.state, netuid, target["round"]).decrypt(sealed))[
        "uids"
    ] == [1]
    with pytest.raises(ValueError):
        round_key(dev.chain.state, netuid, target["round"] + 1).decrypt(sealed)


def test_the_epoch_masks_with_the_earliest_unexpired_commit_block():
    dev = Dev()
    netuid = cr_subnet(dev)
    commit(dev, netuid, [2], [1])
    committed_at = dev.chain.state.block
    subnet = dev.chain.state.subnets[netuid]
    assert epoch_input(dev.chain.state, subnet, 0).commit_block.tolist() == [
        -1,
        committed_at,
        -1,
        -1,
    ]


def test_commits_older_than_the_reveal_epoch_are_deleted():
    dev = Dev()
    netuid = cr_subnet(dev)
    subnet = dev.chain.state.subnets[netuid]
    commit(dev, netuid, [2], [1])
    stale_epoch = current_epoch(subnet, dev.chain.state.block) - 5
    subnet.commits[stale_epoch] = list(subnet.commits[current_epoch(subnet, dev.chain.state.block)])
    dev.mine(1)
    assert stale_epoch not in subnet.commits
