"""`subnet gateway`: run the gateway, manage its API keys, read its usage.

    subnet gateway [VALIDATOR OPTIONS]          a validator serving the gateway (port 8000 unless
                                                --gateway.port says)
    subnet gateway keys create NAME [--rpm N] [--tpm N]
    subnet gateway keys list
    subnet gateway keys revoke NAME_OR_ID
    subnet gateway usage [--gateway.gpu_hour_price USD]

The gateway needs what a validator has: its hotkey (miners answer only validators), its copy
of the model (to verify) and its scores (to route); so `subnet gateway` is `subnet validator`
with the gateway on. The key and usage commands read the gateway's SQLite file: in
`--gateway.path`, or the default folder of the validator's wallet, hotkey and netuid.
Exit status: 0 done, 2 input to fix (nothing changed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from neurons.config import gateway_folder
from neurons.gateway.store import GatewayStore, KeyUsage, MinerUsage, StoreError
from neurons.options import OPTIONS_BY_KEY

DEFAULT_PORT = 8000
# A new key's limits unless --rpm / --tpm say otherwise (0: no limit).
DEFAULT_REQUESTS_PER_MINUTE = 60
DEFAULT_TOKENS_PER_MINUTE = 100_000
SECONDS_PER_HOUR = 3600
PER_MILLION = 1_000_000
EXIT_OK = 0
EXIT_USAGE = 2


def cost_per_million(gpu_hour_price: float, tokens_per_second: float) -> float | None:
    """What a million tokens cost on a GPU of that price serving at that speed (one stream)."""
    if tokens_per_second <= 0:
        return None
    return gpu_hour_price / (tokens_per_second * SECONDS_PER_HOUR) * PER_MILLION


def _store_flags(parser: argparse.ArgumentParser) -> None:
    path = OPTIONS_BY_KEY["gateway.path"]
    parser.add_argument(
        "--gateway.path", dest="path", default=os.environ.get(path.env), help=path.help
    )
    parser.add_argument("--wallet.name", dest="wallet_name", default="default")
    parser.add_argument("--wallet.hotkey", dest="wallet_hotkey", default="default")
    parser.add_argument("--netuid", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subnet gateway",
        description="Manage the gateway's API keys and read its usage. `subnet gateway` "
        "with validator options (no subcommand) runs a validator serving the gateway.",
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    keys = commands.add_parser("keys", help="create, list or revoke API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", help="a new key; its secret is printed once")
    create.add_argument("name", help="who the key is for (letters, digits, _ - . @)")
    create.add_argument(
        "--rpm",
        type=int,
        default=DEFAULT_REQUESTS_PER_MINUTE,
        help=f"requests per minute (0: no limit; default {DEFAULT_REQUESTS_PER_MINUTE})",
    )
    create.add_argument(
        "--tpm",
        type=int,
        default=DEFAULT_TOKENS_PER_MINUTE,
        help=f"tokens per minute (0: no limit; default {DEFAULT_TOKENS_PER_MINUTE})",
    )
    _store_flags(create)
    _store_flags(keys.add_parser("list", help="every key, active and revoked"))
    revoke = keys.add_parser("revoke", help="stop a key at once")
    revoke.add_argument("key", help="the key's name or id")
    _store_flags(revoke)
    usage = commands.add_parser("usage", help="tokens and requests per key; speed per miner")
    price = OPTIONS_BY_KEY["gateway.gpu_hour_price"]
    usage.add_argument(
        "--gateway.gpu_hour_price",
        dest="gpu_hour_price",
        type=float,
        default=float(os.environ[price.env]) if price.env in os.environ else None,
        help=price.help,
    )
    _store_flags(usage)
    return parser


def _open(args: argparse.Namespace) -> GatewayStore:
    folder = args.path or gateway_folder(args.wallet_name, args.wallet_hotkey, args.netuid)
    return GatewayStore.open(folder)


def _print_table(title: str, columns: Sequence[str], rows: list[list[str]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in ("name", "id", "hotkey") else "right")
    for row in rows:
        table.add_row(*row)
    Console(highlight=False).print(table)


def keys_command(args: argparse.Namespace, store: GatewayStore) -> None:
    if args.action == "create":
        key, secret = store.create_key(
            args.name, requests_per_minute=args.rpm, tokens_per_minute=args.tpm
        )
        if args.json:
            print(json.dumps({"id": key.id, "name": key.name, "key": secret}))
        else:
            print(f"created key {key.name} ({key.id}); its secret, shown only now:\n{secret}")
        return
    if args.action == "revoke":
        key = store.revoke(args.key)
        print(json.dumps({"revoked": key.id}) if args.json else f"revoked {key.name} ({key.id})")
        return
    keys = store.keys()
    if args.json:
        print(json.dumps([key.__dict__ for key in keys]))
        return
    rows = [
        [
            k.id,
            k.name,
            "active" if k.active else "revoked",
            str(k.requests_per_minute or "none"),
            str(k.tokens_per_minute or "none"),
        ]
        for k in keys
    ]
    _print_table(f"API keys in {store.path}", ["id", "name", "state", "rpm", "tpm"], rows)


def usage_report(
    keys: list[KeyUsage], miners: list[MinerUsage], gpu_hour_price: float | None
) -> dict:
    """Usage per key, and per miner its measured speed and (with a GPU-hour price) its cost."""
    return {
        "keys": [
            {
                "id": u.key.id,
                "name": u.key.name,
                "requests": u.requests,
                "errors": u.errors,
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "total_tokens": u.total_tokens,
            }
            for u in keys
        ],
        "miners": [
            {
                "uid": m.uid,
                "hotkey": m.hotkey,
                "requests": m.requests,
                "completion_tokens": m.completion_tokens,
                "tokens_per_second": round(m.tokens_per_second, 3),
                "usd_per_million_tokens": (
                    None
                    if gpu_hour_price is None
                    else _rounded(cost_per_million(gpu_hour_price, m.tokens_per_second))
                ),
            }
            for m in miners
        ],
        "gpu_hour_price": gpu_hour_price,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def usage_command(args: argparse.Namespace, store: GatewayStore) -> None:
    if args.gpu_hour_price is not None and args.gpu_hour_price < 0:
        raise StoreError(f"--gateway.gpu_hour_price must be 0 or more, got {args.gpu_hour_price}")
    report = usage_report(store.usage(), store.miners(), args.gpu_hour_price)
    if args.json:
        print(json.dumps(report))
        return
    columns = ["name", "id", "requests", "errors", "prompt_tokens", "completion_tokens"]
    rows = [[str(k[c]) for c in columns] for k in report["keys"]]
    _print_table("usage per key", columns, rows)
    cost = "usd_per_million_tokens"
    miner_columns = ["uid", "hotkey", "requests", "completion_tokens", "tokens_per_second", cost]
    miner_rows = [
        [str(m[c]) if m[c] is not None else "-" for c in miner_columns] for m in report["miners"]
    ]
    _print_table(
        "miners (tokens/s: one stream, as the gateway measured it)", miner_columns, miner_rows
    )
    if args.gpu_hour_price is None:
        print("give --gateway.gpu_hour_price USD to see the cost per million tokens")


def run_gateway(argv: list[str]) -> int:
    from neurons import validator

    given = any(a == "--gateway.port" or a.startswith("--gateway.port=") for a in argv)
    env = OPTIONS_BY_KEY["gateway.port"].env
    default = [] if given or env in os.environ else ["--gateway.port", str(DEFAULT_PORT)]
    return validator.main([*argv, *default])


def main(argv: list[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if not args_in or args_in[0] not in ("keys", "usage", "-h", "--help"):
        return run_gateway(args_in)
    args = build_parser().parse_args(args_in)
    try:
        store = _open(args)
        try:
            if args.command == "keys":
                keys_command(args, store)
            else:
                usage_command(args, store)
        finally:
            store.close()
    except StoreError as exc:
        print(f"subnet gateway: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
