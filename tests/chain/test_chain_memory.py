"""The in-process dev chain and the client edge: blocks on a timer inside the running loop,
named shared chains, stale views retried, units, and weight conforming."""

from __future__ import annotations

import asyncio

import bittensor as bt
import numpy as np
import pytest
from chain_helpers import ALICE, BOB, make_subnet, neuron, register_all

import chain
from chain import ChainError
from chain.conform import weights_to_u16
from chain.dev import node
from chain.types import RAO_PER_TAO, to_rao

SEED = b"memory chain tests seed 32 bytes"


async def test_a_block_time_produces_blocks_in_the_running_loop():
    c = chain.connect("dev:memory", block_time=0.01, seed=SEED)
    try:
        start = await c.block()
        assert await c.wait_for_block(start + 3, timeout=5) >= start + 3
    finally:
        await c.close()


@pytest.mark.parametrize("network", ["dev:memory", "dev", "dev://127.0.0.1:1", "test"])
def test_every_network_gives_an_object_with_the_chain_api(network):
    assert isinstance(chain.connect(network), chain.Chain)


async def test_without_a_block_time_only_mine_makes_blocks():
    c = chain.connect("dev:memory", seed=SEED)
    await asyncio.sleep(0.05)
    assert await c.block() == 0
    assert await c.mine(4) == 4


async def test_a_named_memory_chain_is_shared_within_the_process():
    owner = chain.connect("dev:memory:shared-test")
    neuron_side = chain.connect("dev:memory:shared-test")
    netuid = await owner.create_subnet(ALICE)
    assert netuid in await neuron_side.subnets()
    assert netuid not in await chain.connect("dev:memory").subnets()


async def test_a_client_with_a_stale_commit_reveal_view_retries_on_the_other_path():
    validator = chain.connect("dev:memory:stale-view-test")
    owner = chain.connect("dev:memory:stale-view-test")
    netuid = await make_subnet(owner)
    await register_all(owner, netuid, [neuron(1)])
    assert not (await validator.set_weights(ALICE, netuid, [1], [1.0])).committed
    await owner.set_hyperparameter(ALICE, netuid, "commit_reveal_weights_enabled", True)
    assert (await validator.set_weights(ALICE, netuid, [1], [1.0])).committed


async def test_a_stale_reveal_key_is_fetched_again_after_an_epoch():
    c = chain.connect("dev:memory", seed=SEED)
    netuid = await make_subnet(c, tempo=2, commit_reveal_weights_enabled=True)
    first = await c.set_weights(ALICE, netuid, [0], [1.0])
    await c.mine(2)
    second = await c.set_weights(ALICE, netuid, [0], [1.0])
    assert second.committed and second.reveal_round == first.reveal_round + 1


async def test_a_tempo_change_restarts_the_epoch_cycle():
    c = chain.connect("dev:memory", seed=SEED)
    netuid = await make_subnet(c)
    await c.mine(5)
    await c.set_hyperparameter(ALICE, netuid, "tempo", 3)
    owner = ALICE.hotkey.ss58_address
    stakes = []
    for _ in range(3):
        stakes.append(await c.stake(netuid, owner))
        await c.mine(1)
    assert stakes[0] == stakes[1] == stakes[2] and await c.stake(netuid, owner) > stakes[2]


@pytest.mark.parametrize(
    ("amount", "rao"),
    [
        (bt.tao(1.5), 1_500_000_000),
        (2, 2 * RAO_PER_TAO),
        (0.25, RAO_PER_TAO // 4),
        (bt.Balance(7, 3), 7),
    ],
)
def test_amounts_are_balances_or_whole_tokens(amount, rao):
    assert to_rao(amount) == rao


@pytest.mark.parametrize("amount", [-1, float("nan"), True, "5", None])
def test_unusable_amounts_are_refused(amount):
    with pytest.raises(ChainError) as caught:
        to_rao(amount)
    assert caught.value.code == "InvalidArgument"


def test_float_weights_are_max_upscaled_and_zeros_dropped():
    assert weights_to_u16([0, 1, 2], [0.5, 0.0, 0.25]) == ([0, 2], [65535, 32768])


def test_integer_weights_are_kept_as_u16_values_with_their_zeros():
    assert weights_to_u16(np.array([3, 4]), np.array([0, 700])) == ([3, 4], [0, 700])


@pytest.mark.parametrize(("uids", "weights"), [([70000], [1.0]), ([1.5], [1.0]), ([1], [70000])])
def test_out_of_range_uids_and_weights_are_refused(uids, weights):
    with pytest.raises(ChainError):
        weights_to_u16(uids, weights)


def test_a_dev_wallet_signs_with_its_hotkey_and_coldkey():
    wallet = chain.dev_wallet("//Bob")
    assert wallet.coldkey.ss58_address == BOB.coldkey.ss58_address
    assert wallet.hotkey.ss58_address == chain.dev_wallet("//Bob", "//Bob//hot").hotkey.ss58_address
    assert wallet.coldkeypub.ss58_address == wallet.coldkey.ss58_address


@pytest.mark.parametrize(
    "argv", [["--block-time", "0"], ["--manual", "--block-time", "1"], ["--port", "70000"]]
)
def test_the_node_refuses_bad_options(argv):
    with pytest.raises(SystemExit) as exited:
        node.main(argv)
    assert exited.value.code == 2
