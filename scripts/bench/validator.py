"""Benchmark of one validator round against many lightweight miners on 127.0.0.1.

    python scripts/bench/validator.py [--quick] [--miners 256] [--latency 1.0] [--model PATH]

What runs:
- One miner process hosts N lightweight miners, each with its own hotkey and port behind the
  real signed server (protocol.server: Epistula checks, caller policy, admission). A miner
  waits its own latency (spread evenly between half of --latency and --latency, standing in
  for generation) and answers with a valid completion precomputed by the real engine for the
  exact task it receives (echo-like: no model work while the round runs). Each miner measures
  its own latency, from the request's arrival to the last byte of its answer.
- The validator runs in this process exactly as it does live (`Validator.run_round`: one
  task per miner, signed concurrent queries, one-pass verification of every answer with the
  real tiny model, rewards, moving average), against a metagraph of the N miners; the chain
  is a stub that only answers the block number, so the chain is not measured.

Figures, per round, medians over the rounds:
- query_s: from the first query sent to the last answer received;
- verify_s: verifying all N answers (counted separately: it is model work, not overhead);
- round_s: the whole round;
- slowest_miner_s: the slowest miner's own latency in the same round (the baseline).
The ratio query_s / slowest_miner_s is the validator's fan-out overhead (target: within 1.5).
Peak memory is this process's peak RSS, which holds only the validator.
The last line is one JSON object.
"""

from __future__ import annotations

import os
import sys

# Run as a file, this folder would shadow the packages named like its siblings (chain.py,
# inference.py, protocol.py): drop it from the import path first.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402

import chain  # noqa: E402
from chain import AxonInfo, Metagraph  # noqa: E402
from neurons import checking, rounds, translate  # noqa: E402
from neurons.config import VALIDATOR, load_config  # noqa: E402
from neurons.tasks import round_seed  # noqa: E402
from neurons.validator import Validator, load_checker  # noqa: E402
from protocol import schemas as wire  # noqa: E402

MINERS = 256
QUICK_MINERS = 64
ROUNDS = 3
QUICK_ROUNDS = 1
LATENCY_S = 1.0
TARGET_RATIO = 1.5
MAX_TOKENS = 32
TASK_SECRET = "be" * 32
PRECOMPUTE_BATCH = 64
BLOCK = 1_000
VALIDATOR_STAKE_RAO = 10**12
MINER_START_TIMEOUT_S = 300
REPO = Path(__file__).resolve().parents[2]
VALIDATOR_URI = "//BenchValidator"


def miner_uri(i: int) -> str:
    return f"//BenchMiner{i}"


class StubChain:
    """Just enough chain for a round: the block, a fixed metagraph, a subnet's parameters."""

    network = "bench"

    def __init__(self, metagraph: Metagraph, params) -> None:
        self._metagraph = metagraph
        self._params = params

    async def block(self) -> int:
        return BLOCK

    async def metagraph(self, netuid: int) -> Metagraph:
        return self._metagraph

    async def hyperparameters(self, netuid: int):
        return self._params


def build_metagraph(validator_hotkey: str, miner_hotkeys: list[str], ports: list[int]) -> Metagraph:
    hotkeys = [validator_hotkey, *miner_hotkeys]
    n = len(hotkeys)
    axons = [AxonInfo("0.0.0.0", 0)] + [AxonInfo("127.0.0.1", port) for port in ports]
    return Metagraph.build(
        netuid=1,
        block=BLOCK,
        hotkeys=hotkeys,
        coldkeys=hotkeys,
        stake=[VALIDATOR_STAKE_RAO] + [0] * (n - 1),
        validator_permit=[True] + [False] * (n - 1),
        axons=axons,
        incentive_u16=[0] * n,
        dividends_u16=[0] * n,
        emission=[0] * n,
        consensus_u16=[0] * n,
        validator_trust_u16=[0] * n,
        last_update=[0] * n,
        block_at_registration=[0] * n,
    )


async def subnet_parameters():
    """A new subnet's hyperparameters, read from an in-process dev chain."""
    dev = chain.connect("dev:memory")
    netuid = await dev.create_subnet(chain.dev_wallet("//Alice"))
    return await dev.hyperparameters(netuid)


def round_tasks(validator: Validator, miners: int, round_index: int) -> list[dict]:
    """The task bodies `run_round` will send in round `round_index`, in uid order."""
    seed = round_seed(TASK_SECRET, round_index, BLOCK)
    tasks = checking.fitting_tasks(
        seed, miners, MAX_TOKENS, validator.model_name, validator.checker.fits
    )
    return [body.model_dump(mode="json", exclude_none=True) for body, _ in tasks]


def start_miners(spec: dict, workdir: Path) -> tuple[subprocess.Popen, dict]:
    spec_path = workdir / "miners.json"
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-miners", str(spec_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + MINER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("{"):
            return proc, json.loads(line)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the miner process did not start")


async def run(args: argparse.Namespace, model: str, workdir: Path) -> dict:
    miners = args.miners
    flags = {
        "--model": model,
        "--validator.sample_size": str(miners),
        "--validator.tasks_per_miner": "1",
        "--validator.timeout": str(10 * args.latency + 30),
        "--validator.max_tokens": str(MAX_TOKENS),
        "--validator.task_secret": TASK_SECRET,
        "--validator.state_path": str(workdir / "state.json"),
    }
    config = load_config(VALIDATOR, [part for pair in flags.items() for part in pair], env={})
    wallet = chain.dev_wallet(VALIDATOR_URI)
    checker = load_checker(config)
    placeholder = StubChain(build_metagraph(wallet.hotkey.ss58_address, [], []), None)
    validator = Validator(config, placeholder, wallet, checker)
    tasks = [round_tasks(validator, miners, r) for r in range(args.rounds)]
    proc, started = start_miners(
        {
            "model": model,
            "validator": wallet.hotkey.ss58_address,
            "uris": [miner_uri(i) for i in range(miners)],
            "latencies": [
                args.latency * (0.5 + 0.5 * i / max(1, miners - 1)) for i in range(miners)
            ],
            "tasks": [task for per_round in tasks for task in per_round],
        },
        workdir,
    )
    try:
        metagraph = build_metagraph(
            wallet.hotkey.ss58_address, started["hotkeys"], started["ports"]
        )
        validator.chain = StubChain(metagraph, await subnet_parameters())
        validator.load()
        await validator.sync()
        assert rounds.serving_uids(metagraph, validator.uid) == list(range(1, miners + 1))
        figures = []
        control = f"http://127.0.0.1:{started['control_port']}/latencies"
        async with httpx.AsyncClient() as http:
            await warm_up(validator, metagraph, tasks[0][0])
            await http.get(control)  # forget the warm-up's latency
            for _ in range(args.rounds):
                peak_before = peak_rss_mb()
                report = await validator.run_round()
                latencies = (await http.get(control)).json()
                verified = sum(r.detail == checking.VERIFIED for r in report.results)
                figures.append(
                    {
                        "round_s": report.seconds,
                        "query_s": report.query_seconds,
                        "verify_s": report.verify_seconds,
                        "slowest_miner_s": max(latencies),
                        "answers": len(latencies),
                        "verified": verified,
                        "peak_growth_mb": peak_rss_mb() - peak_before,
                    }
                )
                print(json.dumps({"round": len(figures) - 1, **figures[-1]}), flush=True)
    finally:
        await validator.client.aclose()
        proc.terminate()
        proc.wait()
    return summarise(figures, miners, args)


async def warm_up(validator: Validator, metagraph: Metagraph, task: dict) -> None:
    """One query before measuring, so the first round does not pay the HTTP stack's imports."""
    body = wire_body(task)
    request = translate.generation_request(body)
    query = checking.build_queries(metagraph, [1], [(body, request)])[0]
    await checking.send_queries(validator.client, [query], validator.config.validator.timeout)


def wire_body(task: dict) -> translate.WireRequest:
    if "messages" in task:
        return wire.ChatCompletionRequest.model_validate(task)
    return wire.CompletionRequest.model_validate(task)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def summarise(figures: list[dict], miners: int, args: argparse.Namespace) -> dict:
    def median(name: str) -> float:
        return statistics.median(f[name] for f in figures)

    query, slowest = median("query_s"), median("slowest_miner_s")
    return {
        "bench": "validator_round",
        "miners": miners,
        "rounds": len(figures),
        "configured_latency_s": args.latency,
        "query_s": round(query, 4),
        "verify_s": round(median("verify_s"), 4),
        "round_s": round(median("round_s"), 4),
        "slowest_miner_s": round(slowest, 4),
        "ratio_query_to_slowest_miner": round(query / slowest, 3),
        "ratio_round_to_slowest_miner": round(median("round_s") / slowest, 3),
        "target_ratio": TARGET_RATIO,
        "all_verified": all(f["verified"] == miners for f in figures),
        "validator_peak_rss_mb": round(peak_rss_mb(), 1),
    }


# ---------------------------------------------------------------- the miner process


def canonical(body) -> str:
    """The same text for a request on both sides of the wire."""
    return body.model_dump_json(exclude_none=True)


class Timed:
    """ASGI wrapper: each request's time from arrival to the end of its answer."""

    def __init__(self, app, latencies: list[float]) -> None:
        self.app = app
        self.latencies = latencies

    async def __call__(self, scope, receive, send) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.latencies.append(time.perf_counter() - started)


async def precompute(spec: dict) -> dict[str, object]:
    """Each task's answer from the real engine: what an honest miner would send."""
    from inference.engine import Engine, EngineConfig

    pending = max(1, len(spec["tasks"]))
    engine = Engine.from_pretrained(
        spec["model"], config=EngineConfig(max_batch_size=PRECOMPUTE_BATCH, max_pending=pending)
    )
    decode = engine.tokenizer.decode
    bodies = [wire_body(task) for task in spec["tasks"]]
    completions = await asyncio.gather(
        *(engine.generate(translate.generation_request(body)) for body in bodies)
    )
    await engine.close()
    answers = {}
    for body, completion in zip(bodies, completions, strict=True):
        chat = isinstance(body, wire.ChatCompletionRequest)
        make = translate.chat_response if chat else translate.text_response
        answers[canonical(body)] = make(completion, spec["model"], lambda ids: decode(list(ids)))
    return answers


async def serve_miners(spec_path: str) -> None:
    import uvicorn
    from bittensor.keyfiles import Keypair
    from starlette.responses import JSONResponse

    from neurons.serving import bind_socket
    from protocol.policy import CallerInfo, CallerPolicy, StaticDirectory
    from protocol.server import SignedRoute, create_app

    spec = json.loads(Path(spec_path).read_text())
    answers = await precompute(spec)
    directory = StaticDirectory({spec["validator"]: CallerInfo(0, 1_000.0, True)})
    latencies: list[float] = []
    apps, sockets, hotkeys = {}, [], []
    for uri, delay in zip(spec["uris"], spec["latencies"], strict=True):

        async def answer(body, caller, delay=delay):
            await asyncio.sleep(delay)
            return answers[canonical(body)]

        keypair = Keypair.create_from_uri(uri)
        routes = [
            SignedRoute(translate.CHAT_PATH, wire.ChatCompletionRequest, answer),
            SignedRoute(translate.TEXT_PATH, wire.CompletionRequest, answer),
        ]
        sock = bind_socket("127.0.0.1", 0)
        apps[sock.getsockname()[1]] = Timed(
            create_app(keypair, directory, CallerPolicy(), routes), latencies
        )
        sockets.append(sock)
        hotkeys.append(keypair.ss58_address)

    async def control(scope, receive, send) -> None:
        taken = list(latencies)
        latencies.clear()
        await JSONResponse(taken)(scope, receive, send)

    control_sock = bind_socket("127.0.0.1", 0)
    apps[control_sock.getsockname()[1]] = control

    async def dispatch(scope, receive, send) -> None:
        await apps[scope["server"][1]](scope, receive, send)

    server = uvicorn.Server(
        uvicorn.Config(dispatch, log_level="warning", lifespan="off", access_log=False)
    )
    serving = asyncio.create_task(server.serve(sockets=[*sockets, control_sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    ports = [s.getsockname()[1] for s in sockets]
    print(
        json.dumps(
            {"hotkeys": hotkeys, "ports": ports, "control_port": control_sock.getsockname()[1]}
        ),
        flush=True,
    )
    await serving


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="INFO")  # one line per round, not one per answer
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve-miners", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MINERS} miners, 1 round")
    parser.add_argument("--miners", type=int, default=None, help=f"default {MINERS}")
    parser.add_argument("--rounds", type=int, default=None, help=f"default {ROUNDS}")
    parser.add_argument("--latency", type=float, default=LATENCY_S, help="slowest miner's wait, s")
    parser.add_argument("--model", help="model path (default: build the tiny model)")
    args = parser.parse_args(argv)
    if args.serve_miners:
        asyncio.run(serve_miners(args.serve_miners))
        return 0
    args.miners = args.miners or (QUICK_MINERS if args.quick else MINERS)
    args.rounds = args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model = args.model
        if model is None:
            from inference.tiny import build_tiny_model

            model = str(build_tiny_model(workdir / "tiny", seed=0))
        result = asyncio.run(run(args, model, workdir))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
