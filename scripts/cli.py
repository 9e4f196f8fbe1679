"""The `subnet` command: one entry point that hands each subcommand to the module that owns it.

Subcommands are imported lazily so that `subnet devchain` never pays for importing torch.
Each owning module exposes `main(argv: list[str] | None) -> int` and parses its own options,
so `subnet miner --help` and `python neurons/miner.py --help` print the same thing.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module, one-line description shown by `subnet --help`)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "localnet": ("scripts.localnet", "run a whole subnet on this machine (what `make demo` runs)"),
    "devchain": ("chain.dev.node", "the dev chain node on 127.0.0.1:9946"),
    "miner": ("neurons.miner", "run a miner neuron"),
    "validator": ("neurons.validator", "run a validator neuron"),
    "gateway": (
        "neurons.gateway.cli",
        "the OpenAI-compatible gateway (a validator serving it), its API keys and usage",
    ),
    "owner": ("scripts.owner", "subnet owner tools: create, set, show"),
    "wallet": ("scripts.wallet", "wallets: create, list, balance, transfer (TAO)"),
    "register": ("scripts.register", "register the wallet's hotkey on a subnet"),
    "stake": ("scripts.stake", "stake: add, remove, show (TAO)"),
    "simulate": (
        "scripts.simulate",
        "many epochs of incentive math for a scenario; CSV and PNG out",
    ),
}


def usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    lines = ["usage: subnet COMMAND [OPTIONS]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {text}" for name, (_, text) in SUBCOMMANDS.items()]
    lines += ["", "`subnet COMMAND --help` lists the options of one command; `subnet --version`."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] in ("-V", "--version"):
        from neurons.config import version_text

        print(version_text())
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"subnet: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
