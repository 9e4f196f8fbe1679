"""`subnet owner`: create a subnet, set its hyperparameters, show it, on any network.

    subnet owner create [--network dev] [--wallet.name W --wallet.path P | --wallet.uri //Alice]
    subnet owner set --netuid N NAME VALUE [NAME VALUE ...] [--dry-run]
    subnet owner show --netuid N [--json]

On a dev chain (`dev`, `dev://HOST:PORT`, `dev:memory`) the commands act at once. On the
real networks (`finney`, `test`, `local`, `ws(s)://...`) they go through the bittensor SDK,
and `--dry-run` prints the SDK's plan (fee, effects, warnings) without signing anything.

Every pair of a `set` is checked against the chain's rules (who may set it, its range, its
consistency with the other values) before the first is sent, so a bad pair changes nothing.
Exit status: 0 done, 1 the chain could not be reached or failed, 2 input to fix.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from rich.table import Table

from chain import ChainError, Hyperparameters, Metagraph, btcli
from chain.types import rao_to_tao
from scripts.chain_cli import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Output,
    load_wallet,
    network_options,
    run_command,
    show_plans,
    unlock,
    wallet_options,
    wallet_text,
)
from scripts.chain_session import ChainSession
from scripts.owner_rules import (
    AMOUNTS,
    SUDO,
    Change,
    OwnerInputError,
    check_changes,
    parse_assignments,
    refusal_hint,
    role_of,
    settable_names,
    shown,
    who_may_set,
    wrong_wallet_message,
)

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subnet owner", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common, signing = network_options(), wallet_options()
    commands.add_parser(
        "create", parents=[common, signing], help="create a subnet owned by the wallet's coldkey"
    )
    setter = commands.add_parser(
        "set",
        parents=[common, signing],
        help="set hyperparameters: NAME VALUE [NAME VALUE ...]",
        epilog="names: " + ", ".join(settable_names()),
    )
    setter.add_argument("--netuid", type=int, required=True)
    setter.add_argument("assignments", nargs="*", metavar="NAME VALUE")
    show = commands.add_parser("show", parents=[common], help="hyperparameters and neurons")
    show.add_argument("--netuid", type=int, help="the subnet (dev chains: omit to list them)")
    return parser


async def cmd_create(args, owner: ChainSession, out: Output) -> int:
    wallet = load_wallet(args, needs_hotkey=True)
    if args.dry_run:
        return show_plans(out, [await owner.plan_create(wallet)])
    unlock(wallet, args)
    netuid = await owner.chain.create_subnet(wallet)
    out.data({"netuid": netuid, "owner_coldkey": wallet.coldkeypub.ss58_address})
    out.say(
        f"created subnet {netuid} on {args.network}, owned by {wallet.coldkeypub.ss58_address}\n"
        f"next: subnet owner show --network {args.network} --netuid {netuid}\n"
        f"      subnet owner set --network {args.network} --netuid {netuid} tempo 360 ..."
    )
    if not owner.is_dev:  # a real chain emits to a new subnet only after its start call
        start = btcli.subnets_start(netuid, args.wallet_name, args.network, args.wallet_path)
        out.say(f"      {start}   (once the chain's activation delay has passed)")
    return EXIT_OK


async def cmd_set(args, owner: ChainSession, out: Output) -> int:
    pairs = parse_assignments(args.assignments)
    wallet = load_wallet(args)
    signer = wallet.coldkeypub.ss58_address
    current = await owner.chain.hyperparameters(args.netuid)
    metagraph = await owner.chain.metagraph(args.netuid)
    role = role_of(signer, metagraph.owner_coldkey, await owner.sudo_key())
    if role is None:
        raise OwnerInputError(
            wrong_wallet_message(args.netuid, metagraph.owner_coldkey, signer, wallet_text(args))
        )
    try:
        changes = check_changes(
            current, metagraph.n, metagraph.owner_coldkey, signer, role == SUDO, pairs
        )
    except ChainError as error:  # the chain's own rule, checked before anything is signed
        hint = refusal_hint(error)
        raise OwnerInputError(
            f"the chain would refuse this: {error}" + (f"; {hint}" if hint else "")
        ) from None
    if args.dry_run:
        plans = [
            await owner.plan_set(wallet, args.netuid, c.name, c.new, role == SUDO) for c in changes
        ]
        return show_plans(out, plans, {"changes": _changes_json(changes)})
    unlock(wallet, args)
    applied: list[Change] = []
    for change in changes:
        try:
            await owner.chain.set_hyperparameter(wallet, args.netuid, change.name, change.new)
        except ChainError as error:
            done = ", ".join(f"{c.name}={c.new}" for c in applied) or "none"
            raise ChainError(
                error.code, f"{error.message} (while setting {change.name}; already set: {done})"
            ) from None
        applied.append(change)
    table = Table(title=f"subnet {args.netuid} on {args.network} (signed as {role})")
    for column in ("hyperparameter", "was", "now"):
        table.add_column(column)
    for change in changes:
        unit = " TAO" if change.name in AMOUNTS else ""
        was, now = shown(change.name, change.old), shown(change.name, change.new)
        table.add_row(change.name, f"{was}{unit}", f"{now}{unit}")
    out.table(table)
    out.data({"dry_run": False, "changes": _changes_json(changes)})
    return EXIT_OK


def _changes_json(changes: list[Change]) -> list[dict]:
    """Each change as a person reads it (amounts in TAO)."""
    return [
        {"name": c.name, "old": shown(c.name, c.old), "new": shown(c.name, c.new)} for c in changes
    ]


def hyperparameter_table(params: Hyperparameters) -> Table:
    table = Table(title=f"hyperparameters of subnet {params.netuid}")
    for column in ("name", "value", "who may set it"):
        table.add_column(column)
    for name in Hyperparameters.names():
        value = getattr(params, name)
        text = f"{rao_to_tao(value):g} TAO" if name in AMOUNTS else str(value)
        table.add_row(name, text, who_may_set(name))
    return table


def neuron_table(metagraph: Metagraph) -> Table:
    table = Table(title=f"subnet {metagraph.netuid} at block {metagraph.block}: {metagraph.n} uids")
    for column in (
        "uid",
        "hotkey",
        "stake (TAO)",
        "permit",
        "incentive",
        "dividends",
        "emission (TAO)",
        "axon",
    ):
        table.add_column(column)
    for uid in range(metagraph.n):
        axon = metagraph.axons[uid]
        table.add_row(
            str(uid),
            metagraph.hotkeys[uid][:12] + "…",
            f"{metagraph.stake_tao[uid]:.3f}",
            "yes" if metagraph.validator_permit[uid] else "",
            f"{metagraph.incentive[uid]:.4f}",
            f"{metagraph.dividends[uid]:.4f}",
            f"{rao_to_tao(int(metagraph.emission[uid])):.4f}",
            f"{axon.ip}:{axon.port}" if axon.is_serving else "",
        )
    return table


def metagraph_json(metagraph: Metagraph) -> list[dict]:
    return [
        {
            "uid": uid,
            "hotkey": metagraph.hotkeys[uid],
            "coldkey": metagraph.coldkeys[uid],
            "stake_rao": int(metagraph.stake[uid]),
            "validator_permit": bool(metagraph.validator_permit[uid]),
            "incentive": float(metagraph.incentive[uid]),
            "dividends": float(metagraph.dividends[uid]),
            "emission_rao": int(metagraph.emission[uid]),
        }
        for uid in range(metagraph.n)
    ]


async def cmd_show(args, owner: ChainSession, out: Output) -> int:
    if args.netuid is None:
        list_subnets = getattr(owner.chain, "subnets", None)
        if list_subnets is None:
            raise OwnerInputError(
                f"give --netuid: {args.network} subnets are listed by "
                f"`{btcli.subnets_list(args.network)}`"
            )
        netuids = await list_subnets()
        out.data({"network": args.network, "subnets": netuids})
        out.say(f"subnets on {args.network}: {', '.join(map(str, netuids)) or 'none'}")
        return EXIT_OK
    params = await owner.chain.hyperparameters(args.netuid)
    metagraph = await owner.chain.metagraph(args.netuid)
    out.say(
        f"subnet {args.netuid} on {args.network}: owner coldkey {metagraph.owner_coldkey}, owner hotkey {metagraph.owner_hotkey}"
    )
    out.table(hyperparameter_table(params))
    out.table(neuron_table(metagraph))
    out.data(
        {
            "network": args.network,
            "netuid": args.netuid,
            "block": metagraph.block,
            "owner_coldkey": metagraph.owner_coldkey,
            "owner_hotkey": metagraph.owner_hotkey,
            "hyperparameters": {n: getattr(params, n) for n in Hyperparameters.names()},
            "neurons": metagraph_json(metagraph),
        }
    )
    return EXIT_OK


COMMANDS = {"create": cmd_create, "set": cmd_set, "show": cmd_show}


async def run(argv: list[str], substrate=None) -> int:
    """The whole command; `substrate` injects an SDK backend for the real-network path."""
    return await run_command(build_parser(), COMMANDS, argv, substrate)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
