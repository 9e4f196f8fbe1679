"""`subnet owner create | set | show`: acting on a dev chain, planning through the SDK, and
refusing bad input with exit status 2 and nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

from owner_support import fake_substrate, fresh_network, owner_of, params_of, wallet_files

import chain
from chain import ChainError, dev_wallet
from scripts.chain_cli import chain_failure
from scripts.chain_session import ChainSession
from scripts.owner import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run

BOB = dev_wallet("//Bob")


async def created_subnet(network: str, uri: str = "//Bob") -> int:
    assert await run(["create", "--network", network, "--wallet.uri", uri]) == EXIT_OK
    client = chain.connect(network)
    try:
        return max(await client.subnets())
    finally:
        await client.close()


async def subnets_on(network: str) -> list[int]:
    client = chain.connect(network)
    try:
        return await client.subnets()
    finally:
        await client.close()


# --- create -----------------------------------------------------------------------------


async def test_create_with_a_dev_key_makes_that_coldkey_the_owner(capsys):
    network = fresh_network()
    code = await run(["create", "--network", network, "--wallet.uri", "//Bob", "--json"])
    assert code == EXIT_OK
    netuid = json.loads(capsys.readouterr().out)["netuid"]
    assert await owner_of(network, netuid) == BOB.coldkey.ss58_address


async def test_create_with_wallet_files_makes_the_wallet_coldkey_the_owner(tmp_path):
    network = fresh_network()
    wallet = wallet_files(tmp_path, "owner")
    client = chain.connect(network)
    await client.transfer(dev_wallet("//Alice"), wallet.coldkeypub.ss58_address, 1_000)
    await client.close()
    argv = [
        "create",
        "--network",
        network,
        "--wallet.name",
        "owner",
        "--wallet.path",
        str(tmp_path),
    ]
    assert await run(argv) == EXIT_OK
    assert await owner_of(network, 1) == wallet.coldkeypub.ss58_address


async def test_create_with_a_missing_wallet_names_the_command_that_makes_one(tmp_path, capsys):
    network = fresh_network()
    argv = [
        "create",
        "--network",
        network,
        "--wallet.name",
        "nobody",
        "--wallet.path",
        str(tmp_path),
    ]
    assert await run(argv) == EXIT_USAGE
    assert "subnet wallet create --wallet.name nobody" in capsys.readouterr().err
    assert await subnets_on(network) == []


async def test_create_with_a_wallet_without_its_hotkey_names_the_command(tmp_path, capsys):
    network = fresh_network()
    wallet = wallet_files(tmp_path, "cold-only")
    Path(wallet.hotkey_file.path).unlink()
    argv = ["create", "--network", network, "--wallet.name", "cold-only"]
    assert await run([*argv, "--wallet.path", str(tmp_path)]) == EXIT_USAGE
    assert "subnet wallet create --wallet.name cold-only" in capsys.readouterr().err
    assert await subnets_on(network) == []


async def test_create_without_funds_is_refused_with_status_2_and_no_subnet(tmp_path, capsys):
    network = fresh_network()
    wallet_files(tmp_path, "poor")
    argv = ["create", "--network", network, "--wallet.name", "poor", "--wallet.path", str(tmp_path)]
    assert await run(argv) == EXIT_USAGE
    assert "CannotAffordLockCost" in capsys.readouterr().err
    assert await subnets_on(network) == []


async def test_create_dry_run_on_a_dev_chain_shows_the_lock_and_creates_nothing(capsys):
    network = fresh_network()
    code = await run(["create", "--network", network, "--wallet.uri", "//Bob", "--dry-run"])
    assert code == EXIT_OK
    assert "lock 100 TAO" in capsys.readouterr().out
    assert await subnets_on(network) == []


async def test_dev_key_on_a_real_network_is_refused_before_connecting(capsys):
    assert await run(["create", "--network", "finney", "--wallet.uri", "//Alice"]) == EXIT_USAGE
    assert "dev key whose secret everyone knows" in capsys.readouterr().err


async def test_unreachable_dev_node_exits_1_and_says_how_to_start_one(capsys):
    argv = ["show", "--network", "dev://127.0.0.1:1", "--netuid", "1"]
    assert await run(argv) == EXIT_FAILED
    assert "subnet devchain" in capsys.readouterr().err


# --- set --------------------------------------------------------------------------------


async def test_owner_sets_several_hyperparameters_in_one_command():
    network = fresh_network()
    netuid = await created_subnet(network)
    argv = ["set", "--network", network, "--netuid", str(netuid), "--wallet.uri", "//Bob"]
    assert await run([*argv, "tempo", "400", "commit_reveal_weights_enabled", "false"]) == EXIT_OK
    params = await params_of(network, netuid)
    assert (params.tempo, params.commit_reveal_weights_enabled) == (400, False)


async def test_sudo_key_may_set_values_outside_the_owner_range():
    network = fresh_network()
    netuid = await created_subnet(network)
    argv = ["set", "--network", network, "--netuid", str(netuid), "--wallet.uri", "//Alice"]
    assert await run([*argv, "tempo", "10", "weights_rate_limit", "0"]) == EXIT_OK
    params = await params_of(network, netuid)
    assert (params.tempo, params.weights_rate_limit) == (10, 0)


async def test_unknown_hyperparameter_is_refused_listing_the_settable_names(capsys):
    network = fresh_network()
    netuid = await created_subnet(network)
    argv = ["set", "--network", network, "--netuid", str(netuid), "--wallet.uri", "//Bob"]
    assert await run([*argv, "tempx", "10"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown hyperparameter 'tempx'" in err
    assert "immunity_period" in err


async def test_out_of_range_pair_refuses_the_whole_batch(capsys):
    network = fresh_network()
    netuid = await created_subnet(network)
    before = await params_of(network, netuid)
    argv = ["set", "--network", network, "--netuid", str(netuid), "--wallet.uri", "//Bob"]
    assert await run([*argv, "immunity_period", "7", "tempo", "10"]) == EXIT_USAGE
    assert "TempoOutOfBounds" in capsys.readouterr().err
    assert await params_of(network, netuid) == before


async def test_root_only_hyperparameter_is_refused_for_the_owner(capsys):
    network = fresh_network()
    netuid = await created_subnet(network)
    before = await params_of(network, netuid)
    argv = ["set", "--network", network, "--netuid", str(netuid), "--wallet.uri", "//Bob"]
    assert await run([*argv, "kappa", "100"]) == EXIT_USAGE
    assert "BadOrigin" in capsys.readouterr().err
    assert await params_of(network, netuid) == before


async def test_wrong_wallet_is_refused_naming_the_owner(capsys):
    network = fresh_network()
    netuid = await created_subnet(network)
    before = await params_of(network, netuid)
    argv = ["set", "--network", network, "--netuid", str(netuid), "--wallet.uri", "//Charlie"]
    assert await run([*argv, "tempo", "400"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"its owner is coldkey {BOB.coldkey.ss58_address}" in err
    assert await params_of(network, netuid) == before


async def test_a_name_without_a_value_is_refused(capsys):
    network = fresh_network()
    netuid = await created_subnet(network)
    argv = ["set", "--network", network, "--netuid", str(netuid), "--wallet.uri", "//Bob"]
    assert await run([*argv, "tempo", "400", "kappa"]) == EXIT_USAGE
    assert "'kappa' has no value" in capsys.readouterr().err


async def test_a_flag_refuses_a_value_that_is_not_true_or_false(capsys):
    network = fresh_network()
    netuid = await created_subnet(network)
    argv = ["set", "--network", network, "--netuid", str(netuid), "--wallet.uri", "//Bob"]
    assert await run([*argv, "yuma3_enabled", "maybe"]) == EXIT_USAGE
    assert "give true or false" in capsys.readouterr().err


async def test_set_on_a_missing_subnet_is_refused_with_status_2(capsys):
    network = fresh_network()
    argv = ["set", "--network", network, "--netuid", "9", "--wallet.uri", "//Alice", "tempo", "9"]
    assert await run(argv) == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err


async def test_set_dry_run_on_a_dev_chain_changes_nothing(capsys):
    network = fresh_network()
    netuid = await created_subnet(network)
    before = await params_of(network, netuid)
    argv = ["set", "--network", network, "--netuid", str(netuid), "--wallet.uri", "//Bob"]
    assert await run([*argv, "tempo", "400", "--dry-run"]) == EXIT_OK
    assert "set tempo = 400" in capsys.readouterr().out
    assert await params_of(network, netuid) == before


# --- show -------------------------------------------------------------------------------


async def test_show_json_reports_hyperparameters_owner_and_neurons(capsys):
    network = fresh_network()
    netuid = await created_subnet(network)
    capsys.readouterr()
    assert await run(["show", "--network", network, "--netuid", str(netuid), "--json"]) == EXIT_OK
    shown = json.loads(capsys.readouterr().out)
    assert shown["owner_coldkey"] == BOB.coldkey.ss58_address
    assert shown["hyperparameters"]["tempo"] == 360
    assert [n["uid"] for n in shown["neurons"]] == [0]


async def test_show_without_netuid_lists_the_dev_chain_subnets(capsys):
    network = fresh_network()
    await created_subnet(network)
    await created_subnet(network, "//Charlie")
    capsys.readouterr()
    assert await run(["show", "--network", network, "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["subnets"] == [1, 2]


# --- the real-network path, through the SDK on a fake substrate ----------------------------


async def test_sdk_create_dry_run_plans_through_the_sdk_and_submits_nothing(capsys):
    fake = fake_substrate()
    argv = ["create", "--network", "local", "--wallet.uri", "//Bob", "--dry-run", "--json"]
    assert await run(argv, substrate=fake) == EXIT_OK
    plan = json.loads(capsys.readouterr().out)["plans"][0]
    assert plan["summary"] == "register a new subnet"
    assert plan["fee_tao"] == 0.0
    assert "compose SubtensorModule.register_network" in fake.served
    assert not any(call.startswith("submit") for call in fake.served)
    assert fake.machine.state.subnets == {}


async def test_sdk_set_dry_run_plans_the_owner_intent_and_leaves_the_value(capsys):
    fake = fake_substrate()
    assert await run(["create", "--network", "local", "--wallet.uri", "//Bob"], substrate=fake) == 0
    argv = ["set", "--network", "local", "--netuid", "1", "--wallet.uri", "//Bob", "--dry-run"]
    assert await run([*argv, "tempo", "400"], substrate=fake) == EXIT_OK
    assert "compose AdminUtils.sudo_set_tempo" in fake.served
    assert "submit AdminUtils.sudo_set_tempo" not in fake.served
    assert fake.machine.state.subnets[1].params["tempo"] == 360


async def test_sdk_set_submits_the_owner_intent():
    fake = fake_substrate()
    assert await run(["create", "--network", "local", "--wallet.uri", "//Bob"], substrate=fake) == 0
    argv = ["set", "--network", "local", "--netuid", "1", "--wallet.uri", "//Bob", "tempo", "400"]
    assert await run(argv, substrate=fake) == EXIT_OK
    assert "submit AdminUtils.sudo_set_tempo" in fake.served
    assert fake.machine.state.subnets[1].params["tempo"] == 400


async def test_sdk_sudo_set_goes_through_sudo_wrapping():
    fake = fake_substrate()
    assert await run(["create", "--network", "local", "--wallet.uri", "//Bob"], substrate=fake) == 0
    argv = ["set", "--network", "local", "--netuid", "1", "--wallet.uri", "//Alice", "tempo", "10"]
    assert await run(argv, substrate=fake) == EXIT_OK
    assert "submit Sudo.sudo" in fake.served
    assert fake.machine.state.subnets[1].params["tempo"] == 10


async def test_an_unreachable_real_network_is_named_with_its_endpoint(capsys):
    argv = ["create", "--network", "ws://127.0.0.1:1", "--wallet.uri", "//Alice", "--dry-run"]
    assert await run(argv) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "cannot reach ws://127.0.0.1:1" in err and "the chain refused" not in err


def test_a_connection_failure_names_the_networks_endpoint():
    message, status = chain_failure(ChainError("ConnectionError", "offline"), ChainSession("test"))
    assert message.startswith("cannot reach test (wss://test.finney.opentensor.ai:443): offline")
    assert status == EXIT_FAILED


async def test_burn_amounts_are_set_and_shown_in_tao(capsys):
    network = fresh_network()
    netuid = await created_subnet(network)
    capsys.readouterr()
    argv = ["set", "--network", network, "--netuid", str(netuid), "--wallet.uri", "//Bob"]
    assert await run([*argv, "min_burn", "0.25", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["changes"] == [
        {"name": "min_burn", "old": 0.0005, "new": 0.25}
    ]
    assert (await params_of(network, netuid)).min_burn == 250_000_000


async def test_a_burn_amount_that_is_not_a_number_is_refused(capsys):
    network = fresh_network()
    netuid = await created_subnet(network)
    argv = ["set", "--network", network, "--netuid", str(netuid), "--wallet.uri", "//Bob"]
    assert await run([*argv, "max_burn", "lots"]) == EXIT_USAGE
    assert "max_burn is an amount: give TAO" in capsys.readouterr().err
