"""`subnet register`: a burned registration of the wallet's hotkey on a subnet, on any network.

    subnet register --netuid N [--network dev] [--wallet.name W --wallet.hotkey H] [--dry-run]

btcli's `subnets register`: the coldkey pays the subnet's registration cost (burned) and the
hotkey takes a uid. A hotkey registered already is reported as it is (status 0, nothing sent).
See scripts/chain_cli.py for the options every chain command shares and the exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from chain import rao_to_tao
from scripts.chain_cli import (
    EXIT_OK,
    Output,
    load_wallet,
    network_options,
    run_command,
    show_plans,
    unlock,
    wallet_options,
)
from scripts.chain_session import ChainSession


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subnet register",
        description=__doc__.split("\n\n")[0],
        parents=[network_options(), wallet_options()],
        allow_abbrev=False,
    )
    parser.add_argument("--netuid", type=int, required=True, help="the subnet to register on")
    parser.set_defaults(command="register")
    return parser


async def cmd_register(args, session: ChainSession, out: Output) -> int:
    wallet = load_wallet(args, needs_hotkey=True)
    hotkey, coldkey = wallet.hotkey.ss58_address, wallet.coldkeypub.ss58_address
    uid = (await session.chain.metagraph(args.netuid)).uid_of(hotkey)
    if uid is not None:
        out.data({"netuid": args.netuid, "hotkey": hotkey, "uid": uid, "registered": False})
        out.say(f"hotkey {hotkey} is uid {uid} on subnet {args.netuid} already: nothing to do")
        return EXIT_OK
    if args.dry_run:
        return show_plans(out, [await session.plan_register(wallet, args.netuid)])
    unlock(wallet, args)
    before = await session.chain.balance(coldkey)
    uid = await session.chain.register(wallet, args.netuid)
    paid = rao_to_tao(before - await session.chain.balance(coldkey))
    out.data(
        {"netuid": args.netuid, "hotkey": hotkey, "uid": uid, "registered": True, "paid_tao": paid}
    )
    out.say(
        f"registered hotkey {hotkey} as uid {uid} on subnet {args.netuid} ({args.network}); "
        f"the coldkey paid {paid:g} TAO"
    )
    return EXIT_OK


async def run(argv: list[str], substrate=None) -> int:
    """The whole command; `substrate` injects an SDK backend for the real-network path."""
    return await run_command(build_parser(), {"register": cmd_register}, argv, substrate)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
