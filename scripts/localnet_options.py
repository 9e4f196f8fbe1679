"""The options of `subnet localnet`, checked, and the command lines of the neurons it starts.

Pure except for two checks that look at this machine: that a model folder exists and that a
port is free. `UsageError` names the option to fix; nothing has been started when it is raised.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from neurons.options import MAX_PORT
from scripts.localnet_chain import CHEATER, VALIDATOR, NeuronSpec, Subnet
from scripts.localnet_procs import HOST, port_is_free

DESCRIPTION = "Run a whole subnet on this machine (what `make demo` runs)."

DEFAULT_OUT = "runs/localnet"
DEFAULT_MODEL = "models/tiny"
DEFAULT_CHEAT_MODEL = "models/tiny-other"
# Short tasks keep six CPU-bound processes on two cores within the demo's block time.
DEFAULT_MAX_TOKENS = 24
HONEST_SEED = 0
OTHER_SEED = 1  # the cheater's model: same tokenizer, another language
MARKER = "localnet-run.txt"  # marks a folder as a localnet run folder (safe to clear)
PROCESSES = "processes.json"  # name -> pid of every process the run started
SUMMARY = "summary.json"  # timings and emission totals of the run
RUN_ITEMS = (
    "wallets",
    "logs",
    "state",
    "epochs.csv",
    "emission.png",
    PROCESSES,
    SUMMARY,
    MARKER,
)
# Validator pacing in blocks: weights twice a tempo; rounds about three times a tempo.
ROUNDS_PER_TEMPO = 3
MIN_ROUND_INTERVAL_S = 1.0
VALIDATOR_TIMEOUT_S = 10.0
VALIDATOR_ALPHA = 0.3
# Tasks per miner per round, all of which must verify. Some tasks have a trivial answer (an
# immediate stop) that any model gives; with four at once a cheater passes a round by luck
# about once in 10^4 rounds instead of about once in ten.
TASKS_PER_MINER = 4
SYNC_EVERY_BLOCKS = 2
# The first validator serves the gateway; the demo's organic user talks to it.
GATEWAY_FOLDER = "gateway"  # under OUT/state: its SQLite file (the demo's API key, usage)
GATEWAY_READY = "gateway serving"  # the validator's log line with the gateway's address
# A quarter of organic answers verified: several per demo, on a verifier the rounds also use.
DEFAULT_VERIFY_SHARE = 0.25


@dataclass(frozen=True)
class Options:
    miners: int
    validators: int
    cheaters: int
    tempo: int
    epochs: int
    block_time: float
    model: Path
    cheat_model: Path
    builds: tuple[tuple[Path, int], ...]  # default model folders (and seeds): built if missing
    port: int
    keep: bool
    out: Path
    max_tokens: int
    verify_share: float = DEFAULT_VERIFY_SHARE

    @property
    def gateway_path(self) -> Path:
        return self.out / "state" / GATEWAY_FOLDER


class UsageError(ValueError):
    """An option to fix; nothing was started."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subnet localnet", description=DESCRIPTION, allow_abbrev=False
    )
    add = parser.add_argument
    add("--miners", type=int, default=3, help="miners to start (default 3)")
    add("--validators", type=int, default=2, help="validators to start (default 2)")
    add(
        "--cheaters",
        type=int,
        default=1,
        help="how many of the miners serve another model's output (default 1)",
    )
    add("--tempo", type=int, default=10, help="blocks per epoch (default 10)")
    add("--epochs", type=int, default=6, help="epochs to run once every miner serves (default 6)")
    add("--block-time", type=float, default=0.5, help="seconds per block (default 0.5)")
    add(
        "--model",
        help=f"local model folder the honest miners serve and validators verify with (default "
        f"{DEFAULT_MODEL}, the tiny model, built when missing)",
    )
    add(
        "--cheat-model",
        help=f"model folder the cheating miners serve (default {DEFAULT_CHEAT_MODEL}, the tiny "
        "model of another seed, built when missing)",
    )
    add("--port", type=int, default=0, help="dev chain port on 127.0.0.1 (default: a free one)")
    add("--keep", action="store_true", help="leave the dev chain running at the end")
    add("--out", default=DEFAULT_OUT, help=f"run folder (default {DEFAULT_OUT})")
    add(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        help=f"longest completion a validator's task asks for (default {DEFAULT_MAX_TOKENS})",
    )
    add(
        "--verify-share",
        type=float,
        default=DEFAULT_VERIFY_SHARE,
        help="share of organic answers (the demo user's, through the gateway of the first "
        f"validator) that validator verifies (default {DEFAULT_VERIFY_SHARE:g})",
    )
    return parser


def options_from(args: argparse.Namespace) -> Options:
    """Checked options; UsageError names the one to fix."""
    if args.miners < 1 or args.validators < 1:
        raise UsageError("--miners and --validators must be at least 1")
    if not 0 <= args.cheaters < args.miners:
        raise UsageError(
            f"--cheaters must be between 0 and --miners - 1 ({args.miners - 1}): "
            "at least one miner must be honest"
        )
    if args.tempo < 2 or args.epochs < 1 or args.max_tokens < 1:
        raise UsageError("--tempo must be at least 2, --epochs and --max-tokens at least 1")
    if not 0 <= args.verify_share <= 1:
        raise UsageError("--verify-share must be between 0 and 1")
    if not args.block_time > 0:
        raise UsageError("--block-time must be a positive number of seconds")
    if not 0 <= args.port <= MAX_PORT:
        raise UsageError(f"--port must be in 0..{MAX_PORT} (0: any free port)")
    for flag, path in (("--model", args.model), ("--cheat-model", args.cheat_model)):
        if path is not None and not Path(path).is_dir():
            raise UsageError(
                f"{flag} {path}: no such model folder (build the tiny one with "
                f"`python -m inference.tiny --out {path}`, or give the folder of a saved model)"
            )
    if args.port and not port_is_free(args.port):
        raise UsageError(
            f"--port {args.port} is in use on {HOST} (another dev chain?): stop it, or pass "
            "another --port (0 picks a free one)"
        )
    model = Path(args.model or DEFAULT_MODEL).resolve()
    cheat_model = Path(args.cheat_model or DEFAULT_CHEAT_MODEL).resolve()
    builds = [(model, HONEST_SEED)] if args.model is None else []
    builds += [(cheat_model, OTHER_SEED)] if args.cheat_model is None else []
    return Options(
        miners=args.miners,
        validators=args.validators,
        cheaters=args.cheaters,
        tempo=args.tempo,
        epochs=args.epochs,
        block_time=args.block_time,
        model=model,
        cheat_model=cheat_model,
        builds=tuple(builds),
        port=args.port,
        keep=args.keep,
        out=Path(args.out).resolve(),
        max_tokens=args.max_tokens,
        verify_share=args.verify_share,
    )


def prepare_out(out: Path) -> None:
    """An empty run folder: a new one, or the last run's (its items are removed)."""
    try:
        if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
            raise UsageError(
                f"--out {out} holds files that are not a localnet run: give a new or empty folder"
            )
        for item in RUN_ITEMS:
            path = out / item
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        (out / "logs").mkdir(parents=True)
        (out / "state").mkdir()
        (out / MARKER).write_text("a `subnet localnet` run folder; the next run clears it\n")
    except OSError as exc:
        raise UsageError(
            f"--out {out}: {exc.strerror or exc}; give a folder you can write to"
        ) from None


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def model_is_built(path: Path) -> bool:
    return (path / "tiny_build.json").exists()


def neuron_argv(
    spec: NeuronSpec, opts: Options, subnet: Subnet, network: str, gateway: bool = False
) -> list[str]:
    """The command line of one neuron; `gateway`: this validator also serves the gateway."""
    module = "neurons.validator" if spec.role == VALIDATOR else "neurons.miner"
    model = opts.cheat_model if spec.role == CHEATER else opts.model
    argv = python(
        "-m",
        module,
        "--netuid",
        str(subnet.netuid),
        "--subtensor.network",
        network,
        "--wallet.name",
        spec.wallet_name,
        "--wallet.hotkey",
        "default",
        "--wallet.path",
        str(opts.out / "wallets"),
        "--model",
        str(model),
        "--neuron.sync_every",
        str(SYNC_EVERY_BLOCKS),
        # Several neurons share this machine's cores: one compute thread each.
        "--model.threads",
        "1",
    )
    if spec.role == VALIDATOR:
        epoch_s = opts.tempo * opts.block_time
        argv += [
            "--validator.state_path",
            str(opts.out / "state" / f"{spec.name}.json"),
            "--validator.round_interval",
            f"{max(MIN_ROUND_INTERVAL_S, epoch_s / ROUNDS_PER_TEMPO):g}",
            "--validator.weights_every",
            str(max(1, opts.tempo // 2)),
            "--validator.timeout",
            f"{VALIDATOR_TIMEOUT_S:g}",
            "--validator.tasks_per_miner",
            str(TASKS_PER_MINER),
            "--validator.max_tokens",
            str(opts.max_tokens),
            "--validator.alpha",
            f"{VALIDATOR_ALPHA:g}",
        ]
        if gateway:
            argv += [
                "--gateway.port",
                "0",
                "--gateway.ip",
                HOST,
                "--gateway.path",
                str(opts.gateway_path),
                "--gateway.verify_share",
                f"{opts.verify_share:g}",
            ]
    else:
        argv += ["--axon.ip", HOST, "--axon.port", "0"]
    if spec.role == CHEATER:  # a cheater claims to serve the subnet's model
        argv += ["--model.request_name", str(opts.model)]
    return argv
