"""The subnet `subnet localnet` builds, on an in-process dev chain: wallets in the run folder,
demo settings, every neuron registered, validators staked."""

from __future__ import annotations

import itertools

import bittensor
import pytest

import chain
from scripts.localnet_chain import (
    CHEATER,
    MINER,
    VALIDATOR,
    build_subnet,
    demo_hyperparameters,
    validator_stake,
)

TEMPO = 7
_names = itertools.count()


@pytest.fixture
async def built(tmp_path):
    client = chain.connect(f"dev:memory:localnet-{next(_names)}")
    subnet = await build_subnet(client, tmp_path / "wallets", 3, 2, 1, TEMPO)
    try:
        yield client, subnet
    finally:
        await client.close()


async def test_every_neuron_is_registered_under_its_own_hotkey(built):
    client, subnet = built
    graph = await client.metagraph(subnet.netuid)
    assert [graph.hotkeys[s.uid] for s in subnet.neurons] == [s.hotkey for s in subnet.neurons]
    assert graph.hotkeys[0] == subnet.owner.hotkey
    assert [s.role for s in subnet.neurons] == [VALIDATOR, VALIDATOR, MINER, MINER, CHEATER]


async def test_the_demo_hyperparameters_are_set(built):
    client, subnet = built
    params = await client.hyperparameters(subnet.netuid)
    for name, value in demo_hyperparameters(TEMPO, 2).items():
        assert getattr(params, name) == value, name


async def test_epochs_are_counted_from_the_block_the_tempo_was_set(built):
    client, subnet = built
    await client.mine(subnet.tempo_block + TEMPO - await client.block())
    before = await client.metagraph(subnet.netuid)
    assert before.block == subnet.tempo_block + TEMPO
    # Validator permits are handed out by an epoch: the first one ran at exactly this block.
    assert all(before.validator_permit[s.uid] for s in subnet.neurons if s.role == VALIDATOR)


async def test_validators_stake_on_their_own_hotkeys(built):
    client, subnet = built
    validators = [s for s in subnet.neurons if s.role == VALIDATOR]
    for index, spec in enumerate(validators):
        staked = await client.stake(subnet.netuid, spec.hotkey, spec.coldkey)
        assert staked == round(validator_stake(index) * 1e9)


async def test_wallets_are_written_in_the_run_folder_and_load_as_sdk_wallets(built, tmp_path):
    _, subnet = built
    for spec in [subnet.owner, *subnet.neurons]:
        wallet = bittensor.Wallet(spec.wallet_name, "default", str(tmp_path / "wallets"))
        assert wallet.hotkey.ss58_address == spec.hotkey
        assert wallet.coldkeypub.ss58_address == spec.coldkey


def test_the_tempo_is_set_last_because_setting_it_restarts_the_epoch_cycle():
    assert list(demo_hyperparameters(10, 2))[-1] == "tempo"
