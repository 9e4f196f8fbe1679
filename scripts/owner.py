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
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chain import ChainError, Hyperparameters, Metagraph
from chain.errors import CONNECTION, STORE_FAILED, UNKNOWN
from chain.types import rao_to_tao
from chain.wallets import dev_wallet
from scripts.owner_chain import OwnerChain, PlanView, allows_dev_keys
from scripts.owner_rules import (
    SUDO,
    Change,
    OwnerInputError,
    check_changes,
    parse_assignments,
    refusal_hint,
    role_of,
    settable_names,
    who_may_set,
    wrong_wallet_message,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
DEFAULT_NETWORK = "dev"
DEFAULT_WALLET_PATH = "~/.bittensor/wallets"
# Refusals that are not the user's input: the chain was unreachable or broke.
NOT_INPUT_CODES = (CONNECTION, STORE_FAILED, UNKNOWN)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subnet owner", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--network",
        "--subtensor.network",
        dest="network",
        default=DEFAULT_NETWORK,
        help="finney, test, local, ws(s)://URL, dev (node on 127.0.0.1:9946), dev://HOST:PORT "
        f"or dev:memory (default: {DEFAULT_NETWORK})",
    )
    common.add_argument("--json", action="store_true", help="print one JSON object")
    signing = argparse.ArgumentParser(add_help=False)
    signing.add_argument("--wallet.name", dest="wallet_name", default="default")
    signing.add_argument("--wallet.hotkey", dest="wallet_hotkey", default="default")
    signing.add_argument("--wallet.path", dest="wallet_path", default=DEFAULT_WALLET_PATH)
    signing.add_argument(
        "--wallet.uri",
        dest="wallet_uri",
        help="a dev key URI such as //Alice instead of wallet files (dev and local chains only)",
    )
    signing.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be sent (fee, effects) and send nothing",
    )
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


def wallet_text(args) -> str:
    if args.wallet_uri:
        return args.wallet_uri
    return f"{args.wallet_name}/{args.wallet_hotkey} in {args.wallet_path}"


def load_wallet(args, needs_hotkey: bool = False):
    """The signing wallet: a dev key URI, or wallet files. OwnerInputError names the fix.

    `needs_hotkey`: the wallet's hotkey must exist too (create makes it the owner hotkey)."""
    if args.wallet_uri:
        if not allows_dev_keys(args.network):
            raise OwnerInputError(
                f"--wallet.uri {args.wallet_uri} is a dev key whose secret everyone knows: on "
                f"{args.network} use your own wallet (--wallet.name, --wallet.path)"
            )
        if not args.wallet_uri.startswith("//"):
            raise OwnerInputError(
                f"--wallet.uri takes a dev URI such as //Alice, not {args.wallet_uri!r}"
            )
        return dev_wallet(args.wallet_uri)
    import bittensor

    folder = Path(args.wallet_path).expanduser() / args.wallet_name
    if not (folder / "coldkeypub.txt").exists():
        raise OwnerInputError(
            f"no wallet {args.wallet_name!r} under {args.wallet_path} ({folder / 'coldkeypub.txt'} "
            f"does not exist): create one with `btcli wallet create --wallet {args.wallet_name} "
            f"--wallet-path {args.wallet_path}`, or pass --wallet.name/--wallet.path of yours"
        )
    hotkey_file = folder / "hotkeys" / args.wallet_hotkey
    if needs_hotkey and not hotkey_file.exists():
        raise OwnerInputError(
            f"wallet {args.wallet_name!r} has no hotkey {args.wallet_hotkey!r} ({hotkey_file} does "
            f"not exist): create it with `btcli wallet new-hotkey --wallet {args.wallet_name} "
            f"--wallet-hotkey {args.wallet_hotkey} --wallet-path {args.wallet_path}`"
        )
    return bittensor.Wallet(
        name=args.wallet_name,
        hotkey=args.wallet_hotkey,
        path=str(Path(args.wallet_path).expanduser()),
    )


def unlock(wallet, args) -> None:
    """Read the coldkey's secret now (it may ask for its password), before anything is sent."""
    try:
        wallet.coldkey  # noqa: B018 (reading it is the unlock)
    except Exception as error:
        raise OwnerInputError(
            f"cannot unlock the coldkey of {wallet_text(args)}: {error}"
        ) from None


class Output:
    """Human tables on stdout, or one JSON object with `--json`."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.console = Console(highlight=False, soft_wrap=True)

    def say(self, text: str) -> None:
        if not self.as_json:
            self.console.print(text)

    def data(self, payload: dict) -> None:
        if self.as_json:
            print(json.dumps(payload, indent=2, sort_keys=True))

    def table(self, table: Table) -> None:
        if not self.as_json:
            self.console.print(table)

    def error(self, text: str) -> None:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]error:[/red] {text}")


def plan_lines(plans: list[PlanView]) -> list[str]:
    lines = ["dry run: nothing was signed or sent"]
    for plan in plans:
        fee = "unknown" if plan.fee_tao is None else f"{plan.fee_tao:.9g} TAO"
        lines.append(f"- {plan.summary} (signer {plan.signer}, fee {fee})")
        lines += [f"    effect: {effect}" for effect in plan.effects]
        lines += [f"    warning: {warning}" for warning in plan.warnings]
        lines += [f"    BLOCKED: {violation}" for violation in plan.violations]
    return lines


async def cmd_create(args, owner: OwnerChain, out: Output) -> int:
    wallet = load_wallet(args, needs_hotkey=True)
    if args.dry_run:
        plan = await owner.plan_create(wallet)
        out.say("\n".join(plan_lines([plan])))
        out.data({"dry_run": True, "plans": [plan.to_dict()]})
        return EXIT_USAGE if plan.violations else EXIT_OK
    unlock(wallet, args)
    netuid = await owner.chain.create_subnet(wallet)
    out.data({"netuid": netuid, "owner_coldkey": wallet.coldkeypub.ss58_address})
    out.say(
        f"created subnet {netuid} on {args.network}, owned by {wallet.coldkeypub.ss58_address}\n"
        f"next: subnet owner show --network {args.network} --netuid {netuid}\n"
        f"      subnet owner set --network {args.network} --netuid {netuid} tempo 360 ..."
    )
    return EXIT_OK


async def cmd_set(args, owner: OwnerChain, out: Output) -> int:
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
        out.say("\n".join(plan_lines(plans)))
        out.data(
            {
                "dry_run": True,
                "changes": _changes_json(changes),
                "plans": [p.to_dict() for p in plans],
            }
        )
        return EXIT_USAGE if any(p.violations for p in plans) else EXIT_OK
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
        table.add_row(change.name, str(change.old), str(change.new))
    out.table(table)
    out.data({"dry_run": False, "changes": _changes_json(changes)})
    return EXIT_OK


def _changes_json(changes: list[Change]) -> list[dict]:
    return [{"name": c.name, "old": c.old, "new": c.new} for c in changes]


def hyperparameter_table(params: Hyperparameters) -> Table:
    table = Table(title=f"hyperparameters of subnet {params.netuid}")
    for column in ("name", "value", "who may set it"):
        table.add_column(column)
    for name in Hyperparameters.names():
        value = getattr(params, name)
        if name in ("burn", "min_burn", "max_burn"):
            shown = f"{value} RAO ({rao_to_tao(value):g} TAO)"
        else:
            shown = str(value)
        table.add_row(name, shown, who_may_set(name))
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


async def cmd_show(args, owner: OwnerChain, out: Output) -> int:
    if args.netuid is None:
        list_subnets = getattr(owner.chain, "subnets", None)
        if list_subnets is None:
            raise OwnerInputError(
                f"give --netuid: {args.network} subnets are listed by `btcli subnets list`"
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
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse has printed the usage error or the help
        return EXIT_OK if stop.code == 0 else EXIT_USAGE
    out = Output(args.json)
    try:
        owner = OwnerChain(args.network, substrate=substrate)
    except ChainError as error:
        out.error(f"--network: {error.message}")
        return EXIT_USAGE
    try:
        return await COMMANDS[args.command](args, owner, out)
    except OwnerInputError as error:
        out.error(f"{error} (nothing was sent)")
        return EXIT_USAGE
    except ChainError as error:
        hint = refusal_hint(error)
        if error.code == CONNECTION and owner.is_dev:
            hint = "start the node with `subnet devchain` (or `subnet localnet --keep`)"
        out.error(f"the chain refused: {error}" + (f"\nhint: {hint}" if hint else ""))
        return EXIT_FAILED if error.code in NOT_INPUT_CODES else EXIT_USAGE
    finally:
        await owner.close()


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
