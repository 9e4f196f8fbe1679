"""`subnet register` and `subnet stake add | remove | show`: on a dev chain at once, through the
SDK on the real networks, and bad input refused with status 2 and nothing changed."""

from __future__ import annotations

import json

from owner_support import fake_substrate, fresh_network, wallet_files

import chain
from chain import dev_wallet, rao_to_tao
from scripts import register, stake

EXIT_OK, EXIT_USAGE = 0, 2
ALICE = dev_wallet("//Alice")


async def funded_subnet(tmp_path, tao: float = 100.0) -> tuple[str, int, object]:
    """A dev chain with one subnet (owned by //Alice) and a wallet on disk holding `tao`."""
    network = fresh_network()
    wallet = wallet_files(tmp_path, "me")
    client = chain.connect(network)
    try:
        netuid = await client.create_subnet(ALICE)
        if tao:
            await client.transfer(ALICE, wallet.coldkeypub.ss58_address, tao)
    finally:
        await client.close()
    return network, netuid, wallet


def wallet_flags(network: str, netuid: int, tmp_path) -> list[str]:
    where = ["--network", network, "--netuid", str(netuid)]
    return [*where, "--wallet.name", "me", "--wallet.path", str(tmp_path)]


async def read(network: str, call):
    client = chain.connect(network)
    try:
        return await call(client)
    finally:
        await client.close()


async def test_register_gives_the_hotkey_a_uid_and_burns_the_cost(tmp_path, capsys):
    network, netuid, wallet = await funded_subnet(tmp_path)
    assert await register.run([*wallet_flags(network, netuid, tmp_path), "--json"]) == EXIT_OK
    done = json.loads(capsys.readouterr().out)
    assert done["uid"] == 1 and done["paid_tao"] == 1.0
    metagraph = await read(network, lambda c: c.metagraph(netuid))
    assert metagraph.uid_of(wallet.hotkey.ss58_address) == 1


async def test_registering_a_registered_hotkey_again_changes_nothing(tmp_path, capsys):
    network, netuid, wallet = await funded_subnet(tmp_path)
    flags = wallet_flags(network, netuid, tmp_path)
    assert await register.run(flags) == EXIT_OK
    before = await read(network, lambda c: c.balance(wallet.coldkeypub.ss58_address))
    assert await register.run(flags) == EXIT_OK
    assert "already: nothing to do" in capsys.readouterr().out
    assert await read(network, lambda c: c.balance(wallet.coldkeypub.ss58_address)) == before


async def test_register_without_funds_is_refused_in_tao_and_registers_nothing(tmp_path, capsys):
    network, netuid, wallet = await funded_subnet(tmp_path, tao=0)
    assert await register.run(wallet_flags(network, netuid, tmp_path)) == EXIT_USAGE
    assert "registration burns 1 TAO" in capsys.readouterr().err
    metagraph = await read(network, lambda c: c.metagraph(netuid))
    assert metagraph.uid_of(wallet.hotkey.ss58_address) is None


async def test_register_dry_run_on_a_dev_chain_shows_the_burn(tmp_path, capsys):
    network, netuid, wallet = await funded_subnet(tmp_path)
    assert await register.run([*wallet_flags(network, netuid, tmp_path), "--dry-run"]) == EXIT_OK
    assert "burn 1 TAO from coldkey" in capsys.readouterr().out
    metagraph = await read(network, lambda c: c.metagraph(netuid))
    assert metagraph.uid_of(wallet.hotkey.ss58_address) is None


async def test_sdk_register_dry_run_plans_the_burned_registration_only():
    fake = fake_substrate()
    client = chain.connect("local", substrate=fake)
    netuid = await client.create_subnet(ALICE)
    await client.close()
    argv = ["--network", "local", "--netuid", str(netuid), "--wallet.uri", "//Bob", "--dry-run"]
    assert await register.run(argv, substrate=fake) == EXIT_OK
    assert "compose SubtensorModule.burned_register" in fake.served
    assert "submit SubtensorModule.burned_register" not in fake.served


async def test_stake_add_stakes_tao_on_the_wallets_hotkey(tmp_path, capsys):
    network, netuid, wallet = await funded_subnet(tmp_path)
    flags = wallet_flags(network, netuid, tmp_path)
    assert await register.run(flags) == EXIT_OK
    assert await stake.run(["add", *flags, "--amount", "40", "--json"]) == EXIT_OK
    shown = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert shown["stake_tao"] == 40.0 and shown["from_coldkey_tao"] == 40.0
    hotkey = wallet.hotkey.ss58_address
    assert await read(network, lambda c: c.stake(netuid, hotkey)) == 40 * 10**9


async def test_stake_remove_returns_the_tao_to_the_coldkey(tmp_path):
    network, netuid, wallet = await funded_subnet(tmp_path)
    flags = wallet_flags(network, netuid, tmp_path)
    assert await register.run(flags) == EXIT_OK
    assert await stake.run(["add", *flags, "--amount", "40"]) == EXIT_OK
    assert await stake.run(["remove", *flags, "--amount", "15"]) == EXIT_OK
    coldkey = wallet.coldkeypub.ss58_address
    assert rao_to_tao(await read(network, lambda c: c.balance(coldkey))) == 100 - 1 - 40 + 15


async def test_staking_more_than_the_balance_is_refused_and_stakes_nothing(tmp_path, capsys):
    network, netuid, wallet = await funded_subnet(tmp_path, tao=5)
    flags = wallet_flags(network, netuid, tmp_path)
    assert await register.run(flags) == EXIT_OK
    assert await stake.run(["add", *flags, "--amount", "50"]) == EXIT_USAGE
    assert "cannot stake 50 TAO" in capsys.readouterr().err
    assert await read(network, lambda c: c.stake(netuid, wallet.hotkey.ss58_address)) == 0


async def test_stake_show_names_an_unregistered_hotkey(tmp_path, capsys):
    network, netuid, wallet = await funded_subnet(tmp_path)
    assert await stake.run(["show", *wallet_flags(network, netuid, tmp_path)]) == EXIT_OK
    assert f"hotkey {wallet.hotkey.ss58_address} on subnet {netuid}: not registered" in (
        capsys.readouterr().out
    )


async def test_stake_on_a_hotkey_that_is_not_an_address_is_refused(tmp_path, capsys):
    network, netuid, _ = await funded_subnet(tmp_path)
    argv = ["add", *wallet_flags(network, netuid, tmp_path), "--amount", "1"]
    assert await stake.run([*argv, "--hotkey-ss58-address", "nope"]) == EXIT_USAGE
    assert "'nope' is not an ss58 address" in capsys.readouterr().err


async def test_sdk_stake_add_dry_run_plans_the_stake_and_submits_nothing():
    fake = fake_substrate()
    client = chain.connect("local", substrate=fake)
    netuid = await client.create_subnet(ALICE)
    await client.close()
    argv = ["add", "--network", "local", "--netuid", str(netuid), "--wallet.uri", "//Alice"]
    assert await stake.run([*argv, "--amount", "1", "--dry-run"], substrate=fake) == EXIT_OK
    assert any(call.startswith("compose SubtensorModule.add_stake") for call in fake.served)
    assert not any(call.startswith("submit SubtensorModule.add_stake") for call in fake.served)
