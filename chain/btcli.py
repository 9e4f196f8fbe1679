"""btcli command lines, built in one place: every hint that tells a person to run btcli.

The commands and flags are btcli 9.x's (the `bittensor-cli` package): `btcli wallet create
--wallet-name W --wallet-hotkey H`, `btcli subnets register --netuid N`, `btcli subnets start`
(the owner's start call), ... The tests check every command built here, and every `btcli` line
of the README, against a pinned table of btcli 9.x commands and options (see
tests/chain/data/btcli9.json, which names its source). Note that the bittensor SDK 11 installs
a `btcli` of its own, a different command line (`--wallet` instead of `--wallet-name`).
"""

from __future__ import annotations

import shlex


def _line(*words: object) -> str:
    return shlex.join(["btcli", *(str(word) for word in words)])


def _wallet(name: str, hotkey: str | None, path: str | None) -> list[str]:
    words = ["--wallet-name", name]
    if hotkey is not None:
        words += ["--wallet-hotkey", hotkey]
    if path is not None:
        words += ["--wallet-path", path]
    return words


def wallet_create(name: str, hotkey: str, path: str | None = None) -> str:
    """A new coldkey and hotkey."""
    return _line("wallet", "create", *_wallet(name, hotkey, path))


def wallet_new_hotkey(name: str, hotkey: str, path: str | None = None) -> str:
    """One more hotkey for an existing coldkey."""
    return _line("wallet", "new-hotkey", *_wallet(name, hotkey, path))


def subnets_register(
    netuid: int, name: str, hotkey: str, network: str, path: str | None = None
) -> str:
    """Burned registration of a hotkey (the coldkey pays)."""
    return _line(
        "subnets",
        "register",
        "--netuid",
        netuid,
        *_wallet(name, hotkey, path),
        "--network",
        network,
    )


def stake_add(
    netuid: int,
    name: str,
    hotkey: str,
    network: str,
    path: str | None = None,
    amount_tao: float | None = None,
) -> str:
    """Stake from the coldkey onto a hotkey (amount in TAO; btcli asks for it when absent)."""
    amount = [] if amount_tao is None else ["--amount", f"{amount_tao:g}"]
    return _line(
        "stake",
        "add",
        "--netuid",
        netuid,
        *amount,
        *_wallet(name, hotkey, path),
        "--network",
        network,
    )


def subnets_start(netuid: int, name: str, network: str, path: str | None = None) -> str:
    """The owner's start call: a new subnet emits only after it."""
    return _line(
        "subnets", "start", "--netuid", netuid, *_wallet(name, None, path), "--network", network
    )


def subnets_list(network: str) -> str:
    return _line("subnets", "list", "--network", network)
