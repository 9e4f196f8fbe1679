"""`subnet wallet create | list | balance | transfer`: keys on disk, TAO on a dev chain, the
SDK's path on the real networks, and bad input refused with status 2 and nothing changed."""

from __future__ import annotations

import json

from owner_support import fake_substrate, fresh_network, wallet_files

import chain
from chain import dev_wallet, rao_to_tao
from scripts.wallet import EXIT_OK, run

EXIT_USAGE = 2
ALICE = dev_wallet("//Alice")


async def balance_of(network: str, address: str) -> float:
    client = chain.connect(network)
    try:
        return rao_to_tao(await client.balance(address))
    finally:
        await client.close()


def json_out(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


async def test_create_writes_a_coldkey_and_hotkey_and_shows_their_mnemonics(tmp_path, capsys):
    argv = ["create", "--wallet.name", "me", "--wallet.hotkey", "miner"]
    argv += ["--wallet.path", str(tmp_path), "--no-password", "--json"]
    assert await run(argv) == EXIT_OK
    made = json_out(capsys)
    assert made["created"] == ["coldkey", "hotkey"]
    assert len(made["mnemonics"]["coldkey"].split()) == 12
    assert (tmp_path / "me" / "coldkeypub.txt").exists()
    assert (tmp_path / "me" / "hotkeys" / "miner").exists()


async def test_create_on_an_existing_coldkey_adds_the_hotkey_and_keeps_the_coldkey(
    tmp_path, capsys
):
    wallet = wallet_files(tmp_path, "me")
    argv = ["create", "--wallet.name", "me", "--wallet.hotkey", "validator"]
    assert await run([*argv, "--wallet.path", str(tmp_path), "--json"]) == EXIT_OK
    made = json_out(capsys)
    assert made["created"] == ["hotkey"]
    assert made["coldkey"] == wallet.coldkeypub.ss58_address


async def test_create_refuses_to_replace_a_hotkey_that_exists(tmp_path, capsys):
    wallet_files(tmp_path, "me")
    hotkey_file = tmp_path / "me" / "hotkeys" / "default"
    before = hotkey_file.read_bytes()
    argv = ["create", "--wallet.name", "me", "--wallet.hotkey", "default", "--no-password"]
    assert await run([*argv, "--wallet.path", str(tmp_path)]) == EXIT_USAGE
    assert "--overwrite" in capsys.readouterr().err
    assert hotkey_file.read_bytes() == before


async def test_an_encrypted_coldkey_without_a_terminal_is_refused_before_writing(tmp_path, capsys):
    argv = ["create", "--wallet.name", "me", "--wallet.path", str(tmp_path)]
    assert await run(argv) == EXIT_USAGE
    assert "--no-password" in capsys.readouterr().err
    assert not (tmp_path / "me").exists()


async def test_list_shows_every_wallet_with_its_hotkeys(tmp_path, capsys):
    wallet = wallet_files(tmp_path, "me")
    assert await run(["list", "--wallet.path", str(tmp_path), "--json"]) == EXIT_OK
    listed = json_out(capsys)["wallets"]
    assert listed == [
        {
            "name": "me",
            "coldkey": wallet.coldkeypub.ss58_address,
            "hotkeys": {"default": wallet.hotkey.ss58_address},
        }
    ]


async def test_alice_funds_a_wallet_named_as_the_destination(tmp_path, capsys):
    network = fresh_network()
    wallet = wallet_files(tmp_path, "me")
    argv = ["transfer", "--network", network, "--wallet.uri", "//Alice", "--dest", "me"]
    assert await run([*argv, "--amount", "12.5", "--wallet.path", str(tmp_path)]) == EXIT_OK
    assert "sent 12.5 TAO" in capsys.readouterr().out
    assert await balance_of(network, wallet.coldkeypub.ss58_address) == 12.5


async def test_balance_is_shown_in_tao(tmp_path, capsys):
    network = fresh_network()
    wallet = wallet_files(tmp_path, "me")
    client = chain.connect(network)
    await client.transfer(ALICE, wallet.coldkeypub.ss58_address, 3.25)
    await client.close()
    argv = ["balance", "--network", network, "--wallet.name", "me", "--wallet.path", str(tmp_path)]
    assert await run(argv) == EXIT_OK
    assert "3.25 TAO free" in capsys.readouterr().out


async def test_the_network_comes_from_the_environment_when_not_given(tmp_path, capsys, monkeypatch):
    network = fresh_network()
    monkeypatch.setenv("SUBNET_SUBTENSOR_NETWORK", network)
    wallet = wallet_files(tmp_path, "me")
    argv = ["transfer", "--wallet.uri", "//Alice", "--dest", wallet.coldkeypub.ss58_address]
    assert await run([*argv, "--amount", "2"]) == EXIT_OK
    assert await balance_of(network, wallet.coldkeypub.ss58_address) == 2


async def test_sending_more_than_the_balance_is_refused_in_tao_and_sends_nothing(tmp_path, capsys):
    network = fresh_network()
    wallet_files(tmp_path, "poor")
    argv = ["transfer", "--network", network, "--wallet.name", "poor", "--dest", "poor"]
    assert await run([*argv, "--amount", "5", "--wallet.path", str(tmp_path)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "InsufficientBalance" in err and "holds 0 TAO, cannot send 5 TAO" in err


async def test_a_destination_that_is_neither_address_nor_wallet_is_refused(tmp_path, capsys):
    argv = ["transfer", "--network", fresh_network(), "--wallet.uri", "//Alice"]
    argv += ["--dest", "nobody", "--amount", "1", "--wallet.path", str(tmp_path)]
    assert await run(argv) == EXIT_USAGE
    assert "--dest 'nobody' is neither an ss58 address nor a wallet" in capsys.readouterr().err


async def test_an_amount_that_is_not_positive_is_refused(capsys):
    argv = ["transfer", "--wallet.uri", "//Alice", "--dest", "x", "--amount", "-1"]
    assert await run(argv) == EXIT_USAGE
    assert "give an amount of TAO above 0" in capsys.readouterr().err


async def test_dry_run_on_a_dev_chain_shows_the_transfer_and_sends_nothing(tmp_path, capsys):
    network = fresh_network()
    wallet = wallet_files(tmp_path, "me")
    argv = ["transfer", "--network", network, "--wallet.uri", "//Alice", "--dest", "me"]
    argv += ["--amount", "7", "--wallet.path", str(tmp_path), "--dry-run"]
    assert await run(argv) == EXIT_OK
    assert "send 7 TAO from" in capsys.readouterr().out
    assert await balance_of(network, wallet.coldkeypub.ss58_address) == 0


async def test_sdk_transfer_dry_run_plans_through_the_sdk_and_submits_nothing(capsys):
    fake = fake_substrate()
    bob = dev_wallet("//Bob").coldkey.ss58_address
    argv = ["transfer", "--network", "local", "--wallet.uri", "//Alice", "--dest", bob]
    assert await run([*argv, "--amount", "1", "--dry-run", "--json"], substrate=fake) == 0
    assert json_out(capsys)["plans"][0]["signer"] == ALICE.coldkey.ss58_address
    assert "compose Balances.transfer_keep_alive" in fake.served
    assert not any(call.startswith("submit") for call in fake.served)


async def test_sdk_transfer_submits_through_the_sdk():
    fake = fake_substrate()
    bob = dev_wallet("//Bob").coldkey.ss58_address
    before = fake.machine.state.balances.get(bob, 0)
    argv = ["transfer", "--network", "local", "--wallet.uri", "//Alice", "--dest", bob]
    assert await run([*argv, "--amount", "1"], substrate=fake) == EXIT_OK
    assert "submit Balances.transfer_keep_alive" in fake.served
    assert fake.machine.state.balances[bob] - before == 1_000_000_000
