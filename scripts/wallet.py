"""`subnet wallet`: create and list wallets, read a balance, send TAO, on any network.

    subnet wallet create [--wallet.name W] [--wallet.hotkey H] [--wallet.path P] [--no-password]
    subnet wallet list [--wallet.path P]
    subnet wallet balance [--network N] [--wallet.name W | --ss58 ADDRESS]
    subnet wallet transfer --dest ADDRESS_OR_WALLET --amount TAO [--wallet.name W | --wallet.uri //Alice]

The names are btcli's (`btcli wallet create|list|balance|transfer`), and so are the key files:
a wallet made here is a btcli wallet. `create` on a wallet whose coldkey exists adds the hotkey
(btcli's `wallet new-hotkey`) and never replaces a key without `--overwrite`. On a dev chain
`transfer` acts at once, and `--wallet.uri //Alice` spends the dev chain's funded key: that is
how wallets get their first TAO there. Amounts are TAO. See scripts/chain_cli.py for the
options every chain command shares and the exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bittensor.keyfiles import Keypair
from rich.table import Table

from chain import rao_to_tao
from scripts.chain_cli import (
    EXIT_OK,
    InputError,
    Output,
    create_hint,
    load_wallet,
    network_options,
    run_command,
    show_plans,
    tao_amount,
    unlock,
    wallet_options,
)
from scripts.chain_session import ChainSession

MNEMONIC_WARNING = "write it down and keep it safe: it is the only way to recover the key"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subnet wallet", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common, signing = network_options(), wallet_options()
    create = commands.add_parser(
        "create",
        parents=[common, wallet_options(dry_run=False)],
        help="a new coldkey and hotkey (or a new hotkey for an existing coldkey)",
    )
    create.add_argument(
        "--no-password",
        "--no-use-password",
        dest="no_password",
        action="store_true",
        help="store the coldkey unencrypted (throwaway keys for dev chains only)",
    )
    create.add_argument(
        "--overwrite", action="store_true", help="replace keys that exist (they are lost)"
    )
    commands.add_parser(
        "list", parents=[common, wallet_options(dry_run=False)], help="wallets and their hotkeys"
    )
    balance = commands.add_parser(
        "balance", parents=[common, wallet_options(dry_run=False)], help="free balance in TAO"
    )
    balance.add_argument("--ss58", "--ss58-address", dest="ss58", help="an address instead")
    transfer = commands.add_parser(
        "transfer", parents=[common, signing], help="send TAO from the wallet's coldkey"
    )
    transfer.add_argument(
        "--dest",
        "--destination",
        required=True,
        help="an ss58 address, or the name of a wallet under --wallet.path",
    )
    transfer.add_argument("--amount", type=tao_amount, required=True, help="TAO to send")
    return parser


def is_address(text: str) -> bool:
    try:
        Keypair(ss58_address=text)
    except Exception:
        return False
    return True


def coldkey_of(path: str, name: str) -> str | None:
    """The ss58 address of wallet `name`'s coldkey under `path`, if that wallet exists."""
    import bittensor

    wallet = bittensor.Wallet(name=name, path=str(Path(path).expanduser()))
    try:
        return wallet.coldkeypub.ss58_address
    except Exception:
        return None


def hotkey_of(path: str, name: str, hotkey: str) -> str | None:
    import bittensor

    wallet = bittensor.Wallet(name=name, hotkey=hotkey, path=str(Path(path).expanduser()))
    for read in (lambda: wallet.hotkeypub, lambda: wallet.hotkey):
        try:
            return read().ss58_address
        except Exception:
            continue
    return None


async def cmd_create(args, session: ChainSession, out: Output) -> int:
    import bittensor

    path = str(Path(args.wallet_path).expanduser())
    wallet = bittensor.Wallet(name=args.wallet_name, hotkey=args.wallet_hotkey, path=path)
    has_coldkey = coldkey_of(args.wallet_path, args.wallet_name) is not None
    has_hotkey = (Path(path) / args.wallet_name / "hotkeys" / args.wallet_hotkey).exists()
    if has_coldkey and has_hotkey and not args.overwrite:
        raise InputError(
            f"wallet {args.wallet_name!r} under {args.wallet_path} has hotkey "
            f"{args.wallet_hotkey!r} already: nothing to create (--overwrite replaces both "
            "keys, which are then lost unless you kept their mnemonics)"
        )
    new_coldkey = args.overwrite or not has_coldkey
    if new_coldkey and not args.no_password and not sys.stdin.isatty():
        raise InputError(
            "an encrypted coldkey asks for its password on a terminal: run this in one, or "
            "pass --no-password for a throwaway key (dev chains)"
        )
    mnemonics: dict[str, str] = {}
    if new_coldkey:
        wallet.create_new_coldkey(
            use_password=not args.no_password,
            overwrite=True,
            suppress=True,
            on_mnemonic=lambda words: mnemonics.__setitem__("coldkey", words),
        )
    wallet.create_new_hotkey(
        use_password=False,
        overwrite=True,
        suppress=True,
        on_mnemonic=lambda words: mnemonics.__setitem__("hotkey", words),
    )
    coldkey, hotkey = wallet.coldkeypub.ss58_address, wallet.hotkey.ss58_address
    out.data(
        {
            "wallet": args.wallet_name,
            "path": args.wallet_path,
            "coldkey": coldkey,
            "hotkey": hotkey,
            "created": sorted(mnemonics),
            "mnemonics": mnemonics,
        }
    )
    made = "coldkey and hotkey" if new_coldkey else f"hotkey (coldkey {coldkey} kept)"
    out.say(f"wallet {args.wallet_name}: new {made} in {args.wallet_path}")
    out.say(f"  coldkey {coldkey}\n  hotkey  {args.wallet_hotkey} {hotkey}")
    for key, words in mnemonics.items():
        out.say(f"  mnemonic of the {key}: {words}\n  ({MNEMONIC_WARNING})")
    return EXIT_OK


async def cmd_list(args, session: ChainSession, out: Output) -> int:
    root = Path(args.wallet_path).expanduser()
    wallets = []
    for folder in sorted(root.glob("*/coldkeypub.txt")):
        name = folder.parent.name
        hotkeys = sorted(
            f.name for f in (folder.parent / "hotkeys").glob("*") if not f.name.endswith("pub.txt")
        )
        wallets.append(
            {
                "name": name,
                "coldkey": coldkey_of(args.wallet_path, name),
                "hotkeys": {h: hotkey_of(args.wallet_path, name, h) for h in hotkeys},
            }
        )
    out.data({"path": args.wallet_path, "wallets": wallets})
    if not wallets:
        out.say(f"no wallets under {args.wallet_path}: create one with {create_hint(args)}")
        return EXIT_OK
    table = Table(title=f"wallets under {args.wallet_path}")
    for column in ("wallet", "hotkey", "ss58 address"):
        table.add_column(column)
    for entry in wallets:
        table.add_row(entry["name"], "(coldkey)", entry["coldkey"] or "?")
        for hotkey, address in entry["hotkeys"].items():
            table.add_row("", hotkey, address or "? (encrypted)")
    out.table(table)
    return EXIT_OK


async def cmd_balance(args, session: ChainSession, out: Output) -> int:
    if args.ss58:
        if not is_address(args.ss58):
            raise InputError(f"--ss58 {args.ss58!r} is not an ss58 address")
        address, label = args.ss58, args.ss58
    else:
        address = coldkey_of(args.wallet_path, args.wallet_name)
        if address is None:
            raise InputError(
                f"no wallet {args.wallet_name!r} under {args.wallet_path}: create one with "
                f"{create_hint(args)}, or pass --ss58 ADDRESS"
            )
        label = f"wallet {args.wallet_name} ({address})"
    free = rao_to_tao(await session.chain.balance(address))
    out.data({"network": args.network, "address": address, "free_tao": free})
    out.say(f"{label} on {args.network}: {free:,.9g} TAO free")
    return EXIT_OK


def destination(args) -> str:
    if is_address(args.dest):
        return args.dest
    address = coldkey_of(args.wallet_path, args.dest)
    if address is None:
        raise InputError(
            f"--dest {args.dest!r} is neither an ss58 address nor a wallet under "
            f"{args.wallet_path}: give the address, or --wallet.path of that wallet"
        )
    return address


async def cmd_transfer(args, session: ChainSession, out: Output) -> int:
    dest = destination(args)
    wallet = load_wallet(args)
    if args.dry_run:
        return show_plans(out, [await session.plan_transfer(wallet, dest, args.amount)])
    unlock(wallet, args)
    source = wallet.coldkeypub.ss58_address
    await session.chain.transfer(wallet, dest, args.amount)
    left = rao_to_tao(await session.chain.balance(source))
    now = rao_to_tao(await session.chain.balance(dest))
    out.data({"sent_tao": args.amount, "from": source, "to": dest, "from_tao": left, "to_tao": now})
    out.say(
        f"sent {args.amount:g} TAO from {source} to {dest} on {args.network}; balances now "
        f"{left:,.9g} and {now:,.9g} TAO"
    )
    return EXIT_OK


COMMANDS = {
    "create": cmd_create,
    "list": cmd_list,
    "balance": cmd_balance,
    "transfer": cmd_transfer,
}


async def run(argv: list[str], substrate=None) -> int:
    """The whole command; `substrate` injects an SDK backend for the real-network path."""
    return await run_command(build_parser(), COMMANDS, argv, substrate)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
