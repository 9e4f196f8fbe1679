"""SubtensorChain specifics: network names, the SDK's commit path, sudo, error translation, and
which storage items, runtime calls and extrinsics go through the SDK's substrate seam."""

from __future__ import annotations

import asyncio

import bittensor as bt
import pytest
from bittensor.result import ErrorCode
from chain_fake_substrate import fake_subtensor_chain
from chain_helpers import ALICE, BOB, EASY, neuron, refused_call

import chain
from chain import ChainError
from chain.subtensor import SubtensorChain, as_chain_error

SEED = b"subtensor adapter tests seed 32b"


@pytest.fixture
def sdk_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BTCLI_TOKEN_SYMBOLS_CACHE", str(tmp_path / "symbols.json"))


@pytest.mark.parametrize("network", ["finney", "test", "local", "ws://127.0.0.1:9944"])
def test_real_network_names_give_a_subtensor_chain_without_connecting(network):
    assert isinstance(chain.connect(network), SubtensorChain)


@pytest.mark.parametrize("network", ["mainnet", "dev:/x", "http://127.0.0.1:9944", "dev://nohost"])
def test_unknown_network_names_are_refused_with_the_choices(network):
    with pytest.raises(ChainError) as caught:
        chain.connect(network)
    assert caught.value.code == "InvalidArgument"


def test_sdk_errors_keep_the_chain_error_name():
    error = as_chain_error(bt.ChainError("too fast", "SettingWeightsTooFast"))
    assert (error.code, error.message) == ("SettingWeightsTooFast", "too fast")


def test_sdk_preflight_codes_become_chain_names():
    not_registered = bt.ChainError("no uid", code=ErrorCode.NOT_REGISTERED)
    rate_limited = bt.ChainError("wait", code=ErrorCode.RATE_LIMITED)
    assert as_chain_error(not_registered).code == "HotKeyNotRegisteredInSubNet"
    assert (
        as_chain_error(rate_limited, "CommittingWeightsTooFast").code == "CommittingWeightsTooFast"
    )
    assert as_chain_error(bt.RpcConnectionError("down")).code == "ConnectionError"


async def cr_subnet(c) -> int:
    netuid = await c.create_subnet(ALICE)
    for name, value in {**EASY, "tempo": 3, "commit_reveal_weights_enabled": True}.items():
        await c.set_hyperparameter(ALICE, netuid, name, value)
    await c.register(neuron(1), netuid)
    await c.add_stake(BOB, netuid, neuron(1).hotkey.ss58_address, 50)
    return netuid


async def test_set_weights_commits_through_the_sdk_when_commit_reveal_is_on(sdk_cache):
    c, fake = fake_subtensor_chain(SEED)
    netuid = await cr_subnet(c)
    await fake.mine(3)
    receipt = await c.set_weights(neuron(1), netuid, [0], [1.0])
    assert receipt.committed and receipt.reveal_round is not None
    assert "submit SubtensorModule.commit_timelocked_mechanism_weights" in fake.served
    assert (await c.weights(netuid))[1] == []  # sealed: nothing readable
    await c.close()


async def test_the_sudo_key_sets_hyperparameters_through_sudo(sdk_cache):
    c, fake = fake_subtensor_chain(SEED)
    netuid = await c.create_subnet(BOB)  # Bob owns it; Alice is the sudo key
    await c.set_hyperparameter(ALICE, netuid, "kappa", 1000)
    assert (await c.hyperparameters(netuid)).kappa == 1000
    assert "submit Sudo.sudo" in fake.served
    await c.close()


async def test_an_owner_asking_for_a_root_only_parameter_is_refused_before_signing(sdk_cache):
    c, fake = fake_subtensor_chain(SEED)
    netuid = await c.create_subnet(BOB)
    await refused_call(c.set_hyperparameter(BOB, netuid, "weights_rate_limit", 1), "BadOrigin")
    assert not any(name.startswith("submit AdminUtils") for name in fake.served)
    await c.close()


async def test_a_parameter_without_a_runtime_setter_is_not_supported(sdk_cache):
    c, _ = fake_subtensor_chain(SEED)
    netuid = await c.create_subnet(ALICE)
    await refused_call(
        c.set_hyperparameter(ALICE, netuid, "max_weights_limit", 100), "NotSupported"
    )
    await c.close()


async def test_wait_for_block_follows_the_block_subscription(sdk_cache):
    c, fake = fake_subtensor_chain(SEED)
    target = await c.block() + 2
    waiting = asyncio.create_task(c.wait_for_block(target, timeout=5))
    await asyncio.sleep(0.01)
    await fake.mine(1)
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await fake.mine(1)
    assert await asyncio.wait_for(waiting, 5) == target
    await c.close()


async def test_the_sdk_seam_carries_every_call_the_adapter_makes(sdk_cache):
    c, fake = fake_subtensor_chain(SEED)
    netuid = await c.create_subnet(ALICE)
    for name, value in EASY.items():
        await c.set_hyperparameter(ALICE, netuid, name, value)
    await c.register(neuron(1), netuid)
    await c.serve_axon(neuron(1), netuid, "10.0.0.1", 8091)
    await c.add_stake(BOB, netuid, neuron(1).hotkey.ss58_address, 5)
    await c.remove_stake(BOB, netuid, neuron(1).hotkey.ss58_address, 1)
    await c.transfer(BOB, ALICE.coldkey.ss58_address, 1)
    await fake.mine(2)
    await c.set_weights(neuron(1), netuid, [1], [1.0])  # a self-weight needs no permit
    await c.metagraph(netuid)
    await c.hyperparameters(netuid)
    await c.weights(netuid)
    await c.stake(netuid, neuron(1).hotkey.ss58_address, BOB.coldkey.ss58_address)
    await c.balance(BOB.coldkey.ss58_address)
    expected = {
        "submit SubtensorModule.register_network",
        "submit MevShield.submit_encrypted",  # burned_register is MEV-shielded by the SDK
        "submit SubtensorModule.serve_axon",
        "submit SubtensorModule.add_stake_limit",
        "submit SubtensorModule.remove_stake_limit",
        "submit Balances.transfer_keep_alive",
        "submit SubtensorModule.set_mechanism_weights",
        "runtime SubnetInfoRuntimeApi.get_metagraph",
        "runtime SwapRuntimeApi.current_alpha_price",
        "runtime StakeInfoRuntimeApi.get_stake_info_for_hotkey_coldkey_netuid",
        "storage SubtensorModule.Uids",
        "storage SubtensorModule.LastUpdate",
        "storage SubtensorModule.ValidatorTrust",
        "storage System.Account",
        "storage Sudo.Key",
        "storage map SubtensorModule.Weights",
    }
    assert expected <= fake.served, sorted(expected - fake.served)
    await c.close()
