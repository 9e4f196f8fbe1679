"""Benchmark of one validator round against many lightweight miners on 127.0.0.1.

    python scripts/bench/validator.py [--quick] [--miners 256] [--fastest 0.5] [--slowest 2.0]
                                      [--verify-batch N] [--model PATH]

What runs:
- One miner process hosts N lightweight miners, each with its own hotkey and port behind the
  real signed server (protocol.server: Epistula checks, caller policy, admission). A miner
  waits its own latency (spread evenly from --fastest to --slowest, standing in for
  generation, so that early answers arrive while later miners are still working) and answers
  with a valid completion precomputed by the real engine for the exact task it receives (no
  model work while the round runs), as one event per token when the task asks for a stream.
  Each miner measures its own latency, from the request's arrival to the last byte of its
  answer.
- The validator runs in this process exactly as it does live (`Validator.run_round`: one
  task per miner, signed concurrent queries, answers verified in batches as they arrive with
  the real tiny model on one verifier thread, rewards, moving average), against a metagraph of
  the N miners; the chain is a stub that only answers the block number, so the chain is not
  measured.
- The baseline, in the same run and on the same tasks: the sequential round the validator
  ran before, which waits for every answer and then verifies them all in one call.

Figures, per round, medians over the rounds:
- round_s: the whole round (the headline, against slowest_miner_s: target within 1.5x);
- slowest_miner_s: the slowest miner's own latency in the same round;
- query_s: from the first query sent to the last answer received;
- verify_s: time the verifier spent, mostly overlapping query_s; after_last_answer_s: what
  the round took after the last answer (verifying the last batch);
- sequential_round_s: the baseline round (query, then verify everything).
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
from neurons.miner import decoder_of  # noqa: E402
from neurons.tasks import round_seed  # noqa: E402
from neurons.validator import Validator, load_checker  # noqa: E402
from protocol import schemas as wire  # noqa: E402
from protocol.client import Reply  # noqa: E402

MINERS = 256
QUICK_MINERS = 64
ROUNDS = 3
QUICK_ROUNDS = 1
FASTEST_S = 0.5
SLOWEST_S = 2.0
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


def latencies(args: argparse.Namespace) -> list[float]:
    """Each miner's latency, evenly from the fastest to the slowest."""
    step = (args.slowest - args.fastest) / max(1, args.miners - 1)
    return [args.fastest + step * i for i in range(args.miners)]


async def run(args: argparse.Namespace, model: str, workdir: Path) -> dict:
    miners = args.miners
    flags = {
        "--model": model,
        "--validator.sample_size": str(miners),
        "--validator.tasks_per_miner": "1",
        "--validator.timeout": str(10 * args.slowest + 30),
        "--validator.max_tokens": str(MAX_TOKENS),
        "--validator.task_secret": TASK_SECRET,
        "--validator.state_path": str(workdir / "state.json"),
    }
    if args.verify_batch:
        flags["--validator.verify_batch"] = str(args.verify_batch)
    if args.threads:
        flags["--model.threads"] = str(args.threads)
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
            "latencies": latencies(args),
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
            for r in range(args.rounds):
                peak_before = peak_rss_mb()
                report = await validator.run_round()
                slowest = max((await http.get(control)).json())
                sequential = await sequential_round(validator, metagraph, tasks[r])
                sequential["slowest_miner_s"] = max((await http.get(control)).json())
                verified = sum(res.detail == checking.VERIFIED for res in report.results)
                figures.append(
                    {
                        "round_s": report.seconds,
                        "slowest_miner_s": slowest,
                        "query_s": report.query_seconds,
                        "verify_s": report.verify_seconds,
                        "verify_batches": report.verify_batches,
                        "after_last_answer_s": report.after_answers_seconds,
                        "answers": len(report.answers),
                        "verified": verified,
                        "sequential": sequential,
                        "peak_growth_mb": peak_rss_mb() - peak_before,
                    }
                )
                print(json.dumps({"round": r, **figures[-1]}), flush=True)
    finally:
        await validator.client.aclose()
        validator.verifier_thread.shutdown()
        proc.terminate()
        proc.wait()
    return summarise(figures, miners, args, config.validator.verify_batch)


async def sequential_round(validator: Validator, metagraph: Metagraph, tasks: list[dict]) -> dict:
    """The baseline: send every query, wait for every answer, then verify them all at once."""
    bodies = [wire_body(task) for task in tasks]
    uids = list(range(1, len(bodies) + 1))
    pairs = [(body, translate.generation_request(body)) for body in bodies]
    queries = checking.build_queries(metagraph, uids, pairs)
    started = time.perf_counter()
    replies = await checking.send_queries(
        validator.client, queries, validator.config.validator.timeout
    )
    answered = time.perf_counter()
    results = await asyncio.to_thread(checking.judge_round, queries, replies, validator.checker)
    finished = time.perf_counter()
    return {
        "round_s": finished - started,
        "query_s": answered - started,
        "verify_s": finished - answered,
        "verified": sum(r.detail == checking.VERIFIED for r in results),
    }


async def warm_up(validator: Validator, metagraph: Metagraph, task: dict) -> None:
    """One query and its verification before measuring, so that no round pays first-use
    costs (the HTTP stack's imports, the model's first pass)."""
    body = wire_body(task)
    request = translate.generation_request(body)
    query = checking.build_queries(metagraph, [1], [(body, request)])[0]
    [reply] = await checking.send_queries(
        validator.client, [query], validator.config.validator.timeout
    )
    assert isinstance(reply, Reply), reply
    checking.judge_round([query], [reply], validator.checker)


def wire_body(task: dict) -> translate.WireRequest:
    if "messages" in task:
        return wire.ChatCompletionRequest.model_validate(task)
    return wire.CompletionRequest.model_validate(task)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


MEASURES = {
    "round_s": "the whole validator round: tasks, signed queries, verification of every "
    "answer as it arrives, rewards and scores (Validator.run_round)",
    "slowest_miner_s": "the slowest miner's own latency in that round (request arrival to "
    "last byte), the baseline of the headline ratio",
    "query_s": "first query sent to last answer received",
    "verify_s": "time the verifier thread spent verifying, mostly while answers arrived",
    "after_last_answer_s": "last answer received to last verdict",
    "sequential_round_s": "baseline on the same tasks: wait for every answer, then verify "
    "them all in one call (the validator's former round)",
}


def summarise(
    figures: list[dict], miners: int, args: argparse.Namespace, verify_batch: int
) -> dict:
    def median(name: str, source=lambda f: f) -> float:
        return statistics.median(source(f)[name] for f in figures)

    def sequential(f: dict) -> dict:
        return f["sequential"]

    round_s, slowest = median("round_s"), median("slowest_miner_s")
    sequential_s = median("round_s", sequential)
    sequential_slowest = median("slowest_miner_s", sequential)
    return {
        "bench": "validator_round",
        "miners": miners,
        "rounds": len(figures),
        "miner_latency_s": [args.fastest, args.slowest],
        "verify_batch": verify_batch,
        "round_s": round(round_s, 4),
        "slowest_miner_s": round(slowest, 4),
        "ratio_round_to_slowest_miner": round(round_s / slowest, 3),
        "target_ratio": TARGET_RATIO,
        "query_s": round(median("query_s"), 4),
        "ratio_query_to_slowest_miner": round(median("query_s") / slowest, 3),
        "verify_s": round(median("verify_s"), 4),
        "verify_batches": median("verify_batches"),
        "after_last_answer_s": round(median("after_last_answer_s"), 4),
        "sequential_round_s": round(sequential_s, 4),
        "sequential_verify_s": round(median("verify_s", sequential), 4),
        "ratio_sequential_round_to_slowest_miner": round(sequential_s / sequential_slowest, 3),
        "speedup_vs_sequential": round(sequential_s / round_s, 2),
        "all_verified": all(
            f["verified"] == miners and f["sequential"]["verified"] == miners for f in figures
        ),
        "validator_peak_rss_mb": round(peak_rss_mb(), 1),
        "measures": MEASURES,
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
    decode = decoder_of(engine.tokenizer)
    bodies = [wire_body(task) for task in spec["tasks"]]

    async def answer_of(body):
        request = translate.generation_request(body)
        chat = isinstance(body, wire.ChatCompletionRequest)
        if body.stream:  # the validator asks a share of its tasks as streams
            deltas = [delta async for delta in engine.stream(request)]
            return Streamed(deltas, chat, spec["model"], decode)
        make = translate.chat_response if chat else translate.text_response
        return make(await engine.generate(request), spec["model"], decode)

    answers = await asyncio.gather(*(answer_of(body) for body in bodies))
    await engine.close()
    return {canonical(body): answer for body, answer in zip(bodies, answers, strict=True)}


class Streamed:
    """A streamed answer's deltas, replayed as the miner's chunks each time it is asked."""

    def __init__(self, deltas: list, chat: bool, model: str, decode) -> None:
        self.deltas, self.chat, self.model, self.decode = deltas, chat, model, decode

    def chunks(self):
        async def rest():
            for delta in self.deltas[1:]:
                yield delta

        return translate.stream_chunks(self.deltas[0], rest(), self.chat, self.model, self.decode)


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
            answer = answers[canonical(body)]
            return answer.chunks() if isinstance(answer, Streamed) else answer

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
    parser.add_argument("--fastest", type=float, default=FASTEST_S, help="fastest miner's wait, s")
    parser.add_argument("--slowest", type=float, default=SLOWEST_S, help="slowest miner's wait, s")
    parser.add_argument(
        "--verify-batch", type=int, default=None, help="--validator.verify_batch (its default)"
    )
    parser.add_argument("--threads", type=int, default=0, help="--model.threads (its default)")
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
