"""`subnet stake`: add or remove stake on a hotkey, and show a hotkey's stake, on any network.

    subnet stake add --netuid N --amount TAO [--hotkey-ss58-address ADDRESS] [wallet options]
    subnet stake remove --netuid N --amount TAO [--hotkey-ss58-address ADDRESS] [wallet options]
    subnet stake show --netuid N [--hotkey-ss58-address ADDRESS] [wallet options]

btcli's `stake add`, `stake remove` and `stake list` (`show` here; `list` is accepted): the
wallet's coldkey stakes on its own hotkey, or on the hotkey `--hotkey-ss58-address` names.
Amounts are TAO (on a dynamic subnet of a real network, `remove` takes alpha, as btcli's does;
the dev chain stakes 1 TAO as 1 alpha). A validator's permit follows its stake: at each epoch
the `max_validators` hotkeys with the most stake hold one. See scripts/chain_cli.py for the
options every chain command shares and the exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from chain import rao_to_tao
from scripts.chain_cli import (
    EXIT_OK,
    InputError,
    Output,
    load_wallet,
    network_options,
    run_command,
    show_plans,
    tao_amount,
    unlock,
    wallet_options,
)
from scripts.chain_session import ChainSession
from scripts.wallet import is_address


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subnet stake", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument("--netuid", type=int, required=True, help="the subnet")
    target.add_argument(
        "--hotkey-ss58-address",
        "--hotkey-ss58",
        dest="hotkey_ss58",
        help="stake on this hotkey instead of the wallet's own",
    )
    parents = [network_options(), wallet_options(), target]
    for name, text in (("add", "stake TAO from the coldkey"), ("remove", "unstake to the coldkey")):
        command = commands.add_parser(name, parents=parents, help=text)
        command.add_argument("--amount", type=tao_amount, required=True, help="in TAO")
    commands.add_parser(
        "show",
        aliases=["list"],
        parents=[network_options(), wallet_options(dry_run=False), target],
        help="a hotkey's uid, stake, permit and earnings",
    )
    return parser


def target_hotkey(args, wallet) -> str:
    if args.hotkey_ss58 is None:
        return wallet.hotkey.ss58_address
    if not is_address(args.hotkey_ss58):
        raise InputError(f"--hotkey-ss58-address {args.hotkey_ss58!r} is not an ss58 address")
    return args.hotkey_ss58


async def _standing(session: ChainSession, netuid: int, hotkey: str, coldkey: str) -> dict:
    """What the chain says of `hotkey` on `netuid`, in TAO."""
    metagraph = await session.chain.metagraph(netuid)
    uid = metagraph.uid_of(hotkey)
    own = rao_to_tao(await session.chain.stake(netuid, hotkey, coldkey)) if coldkey else None
    standing = {"netuid": netuid, "hotkey": hotkey, "uid": uid, "from_coldkey_tao": own}
    if uid is not None:
        standing |= {
            "stake_tao": float(metagraph.stake_tao[uid]),
            "validator_permit": bool(metagraph.validator_permit[uid]),
            "incentive": float(metagraph.incentive[uid]),
            "dividends": float(metagraph.dividends[uid]),
            "emission_tao": rao_to_tao(int(metagraph.emission[uid])),
        }
    return standing


def standing_lines(standing: dict) -> list[str]:
    where = f"hotkey {standing['hotkey']} on subnet {standing['netuid']}"
    if standing["uid"] is None:
        return [f"{where}: not registered"]
    own = standing["from_coldkey_tao"]
    mine = "" if own is None else f" ({own:,.9g} from this coldkey)"
    permit = "holds a validator permit" if standing["validator_permit"] else "no validator permit"
    return [
        f"{where}: uid {standing['uid']}, stake {standing['stake_tao']:,.9g} TAO{mine}, {permit}",
        f"  incentive {standing['incentive']:.4f}, dividends {standing['dividends']:.4f}, "
        f"last epoch paid {standing['emission_tao']:,.9g} TAO",
    ]


async def _move(args, session: ChainSession, out: Output, adding: bool) -> int:
    wallet = load_wallet(args, needs_hotkey=args.hotkey_ss58 is None)
    hotkey, coldkey = target_hotkey(args, wallet), wallet.coldkeypub.ss58_address
    if args.dry_run:
        plan = await session.plan_stake(wallet, args.netuid, hotkey, args.amount, adding)
        return show_plans(out, [plan])
    unlock(wallet, args)
    move = session.chain.add_stake if adding else session.chain.remove_stake
    await move(wallet, args.netuid, hotkey, args.amount)
    standing = await _standing(session, args.netuid, hotkey, coldkey)
    out.data({"amount_tao": args.amount, "added" if adding else "removed": True, **standing})
    verb = "staked" if adding else "unstaked"
    out.say(f"{verb} {args.amount:g} TAO {'on' if adding else 'from'} {hotkey}")
    for line in standing_lines(standing):
        out.say(line)
    if adding and not standing.get("validator_permit"):
        out.say("  validator permits are handed out at each epoch, to the hotkeys with most stake")
    return EXIT_OK


async def cmd_add(args, session: ChainSession, out: Output) -> int:
    return await _move(args, session, out, adding=True)


async def cmd_remove(args, session: ChainSession, out: Output) -> int:
    return await _move(args, session, out, adding=False)


async def cmd_show(args, session: ChainSession, out: Output) -> int:
    if args.hotkey_ss58 is not None and args.wallet_uri is None:
        hotkey, coldkey = target_hotkey(args, None), None
    else:
        wallet = load_wallet(args, needs_hotkey=args.hotkey_ss58 is None)
        hotkey, coldkey = target_hotkey(args, wallet), wallet.coldkeypub.ss58_address
    standing = await _standing(session, args.netuid, hotkey, coldkey)
    out.data(standing)
    for line in standing_lines(standing):
        out.say(line)
    return EXIT_OK


COMMANDS = {"add": cmd_add, "remove": cmd_remove, "show": cmd_show, "list": cmd_show}


async def run(argv: list[str], substrate=None) -> int:
    """The whole command; `substrate` injects an SDK backend for the real-network path."""
    return await run_command(build_parser(), COMMANDS, argv, substrate)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
