"""What the `subnet` chain commands share: network and wallet options, output, exit status.

`subnet owner`, `subnet wallet`, `subnet register` and `subnet stake` take the same options,
in the dotted convention of the neurons and, as aliases, btcli 9's names:

    --network NAME        (--subtensor.network, --subtensor.chain_endpoint); the default is
                          SUBNET_SUBTENSOR_NETWORK (or BT_SUBTENSOR_NETWORK), else dev
    --wallet.name W       (--wallet-name), default SUBNET_WALLET_NAME / BT_WALLET_NAME / default
    --wallet.hotkey H     (--wallet-hotkey, --hotkey), likewise
    --wallet.path P       (--wallet-path), likewise
    --wallet.uri //Alice  a dev key instead of wallet files (dev chains and local only)
    --dry-run             on the real networks: the SDK's plan (fee, effects), nothing signed
    --json                one JSON object on stdout

On a dev chain (`dev`, `dev://HOST:PORT`, `dev:memory`) commands act at once. Amounts are
typed and shown in TAO. Exit status: 0 done; 2 input to fix (nothing was sent); 1 the chain
could not be reached or failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from rich.console import Console

from chain import ChainError, endpoint_of
from chain.errors import CONNECTION, STORE_FAILED, UNKNOWN
from chain.wallets import dev_wallet
from neurons.options import OPTIONS_BY_KEY, Option
from scripts.chain_session import ChainSession, PlanView, allows_dev_keys
from scripts.owner_rules import OwnerInputError, refusal_hint

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
DEFAULT_NETWORK = "dev"
# Refusals that are not the user's input: the chain was unreachable or broke.
NOT_INPUT_CODES = (CONNECTION, STORE_FAILED, UNKNOWN)

InputError = OwnerInputError  # input the user must fix; the message says what


def env_default(key: str, env: Mapping[str, str] | None = None) -> str:
    """An option's default for these commands: its SUBNET_ variable, then its BT_* aliases,
    then the neurons' default (so one exported variable serves every command)."""
    env = os.environ if env is None else env
    option: Option = OPTIONS_BY_KEY[key]
    for name in (option.env, *option.env_aliases):
        if env.get(name):
            return env[name]
    return DEFAULT_NETWORK if key == "subtensor.network" else str(option.default)


def network_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--network",
        "--subtensor.network",
        "--subtensor.chain_endpoint",
        dest="network",
        default=env_default("subtensor.network"),
        help="finney, test, local, ws(s)://URL, dev (node on 127.0.0.1:9946), dev://HOST:PORT "
        "or dev:memory (default: SUBNET_SUBTENSOR_NETWORK, else dev)",
    )
    parent.add_argument("--json", action="store_true", help="print one JSON object")
    return parent


def wallet_options(dry_run: bool = True) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    add = parent.add_argument
    add("--wallet.name", "--wallet-name", dest="wallet_name", default=env_default("wallet.name"))
    add(
        "--wallet.hotkey",
        "--wallet-hotkey",
        "--hotkey",
        dest="wallet_hotkey",
        default=env_default("wallet.hotkey"),
    )
    add("--wallet.path", "--wallet-path", dest="wallet_path", default=env_default("wallet.path"))
    add(
        "--wallet.uri",
        dest="wallet_uri",
        help="a dev key URI such as //Alice instead of wallet files (dev and local chains only)",
    )
    if dry_run:
        add(
            "--dry-run",
            action="store_true",
            help="show what would be sent (fee, effects) and send nothing",
        )
    return parent


def tao_amount(text: str) -> float:
    """An amount in TAO typed on the command line: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of TAO") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"give an amount of TAO above 0, not {text!r}")
    return value


def wallet_text(args) -> str:
    if args.wallet_uri:
        return args.wallet_uri
    return f"{args.wallet_name}/{args.wallet_hotkey} in {args.wallet_path}"


def create_hint(args, name: str | None = None) -> str:
    """The command that creates wallet `name` (default: the one the options name)."""
    name = name or args.wallet_name
    return (
        f"`subnet wallet create --wallet.name {name} --wallet.hotkey {args.wallet_hotkey} "
        f"--wallet.path {args.wallet_path}`"
    )


def load_wallet(args, needs_hotkey: bool = False):
    """The signing wallet: a dev key URI, or wallet files. InputError names the fix.

    `needs_hotkey`: the wallet's hotkey must exist too (commands that act for the hotkey)."""
    if args.wallet_uri:
        if not allows_dev_keys(args.network):
            raise InputError(
                f"--wallet.uri {args.wallet_uri} is a dev key whose secret everyone knows: on "
                f"{args.network} use your own wallet (--wallet.name, --wallet.path)"
            )
        if not args.wallet_uri.startswith("//"):
            raise InputError(
                f"--wallet.uri takes a dev URI such as //Alice, not {args.wallet_uri!r}"
            )
        return dev_wallet(args.wallet_uri)
    import bittensor

    folder = Path(args.wallet_path).expanduser() / args.wallet_name
    if not (folder / "coldkeypub.txt").exists():
        raise InputError(
            f"no wallet {args.wallet_name!r} under {args.wallet_path} ({folder / 'coldkeypub.txt'} "
            f"does not exist): create one with {create_hint(args)}, or pass "
            "--wallet.name/--wallet.path of yours"
        )
    hotkey_file = folder / "hotkeys" / args.wallet_hotkey
    if needs_hotkey and not hotkey_file.exists():
        raise InputError(
            f"wallet {args.wallet_name!r} has no hotkey {args.wallet_hotkey!r} ({hotkey_file} does "
            f"not exist): add it with {create_hint(args)}"
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
        raise InputError(f"cannot unlock the coldkey of {wallet_text(args)}: {error}") from None


class Output:
    """Human tables on stdout, or one JSON object with `--json`."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.console = Console(highlight=False, soft_wrap=True)

    def say(self, text: str) -> None:
        if not self.as_json:
            self.console.print(text, markup=False)

    def data(self, payload: dict) -> None:
        if self.as_json:
            print(json.dumps(payload, indent=2, sort_keys=True))

    def table(self, table) -> None:
        if not self.as_json:
            self.console.print(table)

    def error(self, text: str) -> None:
        console = Console(stderr=True, highlight=False, soft_wrap=True)
        console.print("[red]error:[/red] ", end="")
        console.print(text, markup=False)


def plan_lines(plans: list[PlanView]) -> list[str]:
    lines = ["dry run: nothing was signed or sent"]
    for plan in plans:
        fee = "unknown" if plan.fee_tao is None else f"{plan.fee_tao:.9g} TAO"
        lines.append(f"- {plan.summary} (signer {plan.signer}, fee {fee})")
        lines += [f"    effect: {effect}" for effect in plan.effects]
        lines += [f"    warning: {warning}" for warning in plan.warnings]
        lines += [f"    BLOCKED: {violation}" for violation in plan.violations]
    return lines


def show_plans(out: Output, plans: list[PlanView], extra: dict | None = None) -> int:
    """Print dry-run plans; status 2 when one of them is blocked."""
    out.say("\n".join(plan_lines(plans)))
    out.data({"dry_run": True, "plans": [p.to_dict() for p in plans], **(extra or {})})
    return EXIT_USAGE if any(p.violations for p in plans) else EXIT_OK


def chain_failure(error: ChainError, session: ChainSession) -> tuple[str, int]:
    """The message and exit status for a refused or failed chain call."""
    if error.code == CONNECTION:
        where = f"{session.network} ({endpoint_of(session.network)})"
        hint = (
            "start the node with `subnet devchain` (or `subnet localnet --keep`)"
            if session.is_dev
            else "check this machine's network connection, or pass another --network"
        )
        return f"cannot reach {where}: {error.message}\nhint: {hint}", EXIT_FAILED
    hint = refusal_hint(error)
    message = f"the chain refused: {error}" + (f"\nhint: {hint}" if hint else "")
    return message, EXIT_FAILED if error.code in NOT_INPUT_CODES else EXIT_USAGE


Command = Callable[[argparse.Namespace, ChainSession, Output], Awaitable[int]]


async def run_command(
    parser: argparse.ArgumentParser,
    commands: Mapping[str, Command],
    argv: list[str],
    substrate=None,
) -> int:
    """Parse, connect, run the chosen command; every failure becomes a message and a status.

    `substrate` injects an SDK backend for the real-network path (tests use a fake)."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse has printed the usage error or the help
        return EXIT_OK if stop.code == 0 else EXIT_USAGE
    out = Output(args.json)
    try:
        session = ChainSession(args.network, substrate=substrate)
    except ChainError as error:
        out.error(f"--network: {error.message}")
        return EXIT_USAGE
    try:
        return await commands[args.command](args, session, out)
    except InputError as error:
        out.error(f"{error} (nothing was sent)")
        return EXIT_USAGE
    except ChainError as error:
        message, status = chain_failure(error, session)
        out.error(message)
        return status
    finally:
        await session.close()
