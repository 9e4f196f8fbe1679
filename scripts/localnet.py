"""`subnet localnet`: a whole subnet on this machine, what `make demo` runs.

    subnet localnet [--miners 3] [--validators 2] [--tempo 10] [--epochs 6] [--block-time 0.5]
                    [--model PATH] [--keep] [--out runs/localnet]

Starts a dev chain node with fast blocks, creates throwaway wallets in OUT/wallets, creates a
subnet and sets demo hyperparameters with the sudo key //Alice, registers and stakes, builds
(or reuses) the tiny models, starts the miners (the last one a cheater serving another
model's output) and the validators as separate processes, and shows the subnet live until
`--epochs` epochs have passed with every miner serving. Then it prints the final metagraph,
writes OUT/epochs.csv, OUT/emission.png and OUT/summary.json (timings, emission totals),
stops every process it started and exits 0.

Child logs: OUT/logs/NAME.log. Exit status: 0 done, 1 a child failed (its log's tail is
printed), 2 bad options (a missing model, a port in use), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path

import chain as chain_api
from chain import ChainError, Metagraph
from scripts.localnet_chain import CHEATER, VALIDATOR, Subnet, build_subnet
from scripts.localnet_options import (
    GATEWAY_READY,
    PROCESSES,
    SUMMARY,
    Options,
    UsageError,
    build_parser,
    model_is_built,
    neuron_argv,
    options_from,
    prepare_out,
    python,
)
from scripts.localnet_organic import OrganicTraffic, gateway_figures
from scripts.localnet_procs import (
    HOST,
    Child,
    ChildFailed,
    first_crashed,
    stop_all,
    wait_for_exit,
    wait_for_line,
)
from scripts.localnet_record import (
    EpochRow,
    epoch_at,
    epoch_block,
    epoch_rows,
    first_paying_epoch,
    plot_emission,
    totals,
    write_csv,
)
from scripts.localnet_view import NeuronsWaiting, Progress, View, subnet_table

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
NODE_READY = "dev chain listening on"
NODE_START_S = 30.0
MODEL_BUILD_S = 300.0
# Every miner must be serving within this long after the neurons start.
NEURONS_READY_S = 240.0
BLOCK_WAIT_S = 5.0
# The organic user's request in flight at the end gets this long to finish.
TRAFFIC_STOP_S = 5.0


def create_gateway_key(folder: Path) -> str:
    """The demo user's API key, in the gateway's store (no limits)."""
    from neurons.gateway.store import GatewayStore

    store = GatewayStore.open(folder)
    try:
        return store.create_key("localnet", requests_per_minute=0, tokens_per_minute=0)[1]
    finally:
        store.close()


def organic_line(user, figures) -> str:
    """One line on the organic traffic: what the user got and what the gateway verified."""
    ttft = f"{user.ttft_p50_s:.2f} s" if user.ttft_p50_s is not None else "-"
    checked = figures.verified.get("pass", 0) + figures.verified.get("fail", 0)
    return (
        f"organic (openai client -> gateway): {user.answered} answered, "
        f"{user.completion_tokens} tokens, time to first token p50 {ttft}, "
        f"{checked} verified ({figures.verified_share:.0%}), "
        f"{figures.verified.get('fail', 0)} caught wrong"
    )


class Run:
    """One localnet run: its children, its chain client, what it has recorded."""

    def __init__(self, opts: Options, view: View, stop: asyncio.Event):
        self.opts = opts
        self.view = view
        self.stop = stop
        self.started = time.monotonic()
        self.chain_node: Child | None = None
        self.network: str | None = None  # dev://HOST:PORT once the node listens
        self.neurons: list[Child] = []
        self.helpers: list[Child] = []
        self.client = None
        self.rows: list[EpochRow] = []
        self.metagraph: Metagraph | None = None
        self.first_paid_s: float | None = None
        self.serving_s: float | None = None  # when every miner was serving
        # Organic traffic: a user of the gateway that the first validator serves.
        self.gateway_key: str | None = None
        self.gateway_url: str | None = None
        self.traffic: OrganicTraffic | None = None
        self.traffic_task: asyncio.Task | None = None
        self.traffic_stop = asyncio.Event()
        self.organic = None  # the gateway's figures (neurons.gateway.metrics.OrganicFigures)
        self.neurons_started: float | None = None  # monotonic time the neurons were started
        self.build_started: dict[str, float] = {}  # build child name -> monotonic start

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def log(self, name: str) -> Path:
        return self.opts.out / "logs" / f"{name}.log"

    def started_child(self, child: Child) -> Child:
        """Note a started child in OUT/processes.json (what was started, and its pid)."""
        children = [c for c in (self.chain_node, *self.helpers, *self.neurons) if c is not None]
        if child not in children:
            children.append(child)
        pids = {c.name: c.pid for c in children if c.process is not None}
        (self.opts.out / PROCESSES).write_text(json.dumps(pids, indent=2) + "\n")
        return child

    # -- phases ----------------------------------------------------------------------------

    async def start_chain(self) -> str:
        argv = python("-m", "chain.dev.node", "--port", str(self.opts.port))
        argv += ["--block-time", f"{self.opts.block_time:g}"]
        self.chain_node = Child("chain", argv, self.log("chain"), outlive_parent=self.opts.keep)
        self.started_child(self.chain_node.start())
        line = await wait_for_line(self.chain_node, NODE_READY, NODE_START_S)
        port = int(line.split(NODE_READY, 1)[1].split()[0].rsplit(":", 1)[1])
        self.view.say(f"dev chain on {HOST}:{port}, a block every {self.opts.block_time:g} s")
        self.network = f"dev://{HOST}:{port}"
        return self.network

    def start_model_builds(self) -> list[Child]:
        """Build the default tiny models that are missing, in parallel with the chain setup."""
        builds = []
        for path, seed in self.opts.builds:
            if model_is_built(path):
                continue
            name = f"build-{path.name}"
            argv = python("-m", "inference.tiny", "--out", str(path), "--seed", str(seed))
            child = Child(name, argv, self.log(name))
            self.helpers.append(child)
            builds.append(self.started_child(child.start()))
            self.build_started[name] = time.monotonic()
            self.view.say(f"building the tiny model (seed {seed}) into {path}")
        return builds

    async def finish_builds(self, builds: list[Child]) -> None:
        for build in builds:
            await wait_for_exit(build, MODEL_BUILD_S)
            took = time.monotonic() - self.build_started[build.name]
            self.view.say(f"{build.name.removeprefix('build-')} built in {took:.0f} s")

    async def setup_subnet(self, network: str) -> Subnet:
        self.client = chain_api.connect(network)
        subnet = await build_subnet(
            self.client,
            self.opts.out / "wallets",
            self.opts.miners,
            self.opts.validators,
            self.opts.cheaters,
            self.opts.tempo,
        )
        self.view.say(
            f"subnet {subnet.netuid}: tempo {self.opts.tempo}, {self.opts.validators} "
            f"validators, {self.opts.miners} miners ({self.opts.cheaters} cheating); wallets in "
            f"{self.opts.out / 'wallets'}"
        )
        return subnet

    def start_neurons(self, subnet: Subnet, network: str) -> None:
        self.neurons_started = time.monotonic()
        gateway = next(s for s in subnet.neurons if s.role == VALIDATOR)
        self.gateway_key = create_gateway_key(self.opts.gateway_path)
        for spec in subnet.neurons:
            argv = neuron_argv(spec, self.opts, subnet, network, gateway=spec is gateway)
            self.neurons.append(
                self.started_child(Child(spec.name, argv, self.log(spec.name)).start())
            )
        self.view.say(f"started {len(self.neurons)} neurons; logs in {self.opts.out / 'logs'}")
        self.traffic_task = asyncio.create_task(self.organic_user(gateway.name))

    async def organic_user(self, validator: str) -> None:
        """Once the gateway is up, send it requests with the openai client until the end."""
        child = next(c for c in self.neurons if c.name == validator)
        line = await wait_for_line(child, GATEWAY_READY, NEURONS_READY_S)
        self.gateway_url = line.split(" at ", 1)[1].split()[0]
        self.view.say(f"gateway of {validator} at {self.gateway_url}: organic requests start")
        self.traffic = OrganicTraffic(
            self.gateway_url, self.gateway_key or "", str(self.opts.model)
        )
        await self.traffic.run(self.traffic_stop)

    async def read_organic(self) -> None:
        if self.gateway_url is not None:
            self.organic = await gateway_figures(self.gateway_url) or self.organic

    def organic_by_name(self, subnet: Subnet) -> dict[str, int] | None:
        if self.organic is None:
            return None
        return {s.name: self.organic.per_uid.get(s.uid, 0) for s in subnet.neurons if s.is_miner}

    def organic_caption(self, subnet: Subnet) -> str | None:
        if self.organic is None or self.traffic is None:
            return None
        per_miner = self.organic_by_name(subnet) or {}
        roles = {s.name: s.role for s in subnet.neurons}
        shares = ", ".join(
            f"{name}{' (cheater)' if roles[name] == CHEATER else ''} {n}"
            for name, n in per_miner.items()
        )
        return f"{organic_line(self.traffic.user, self.organic)}; answered by {shares}"

    async def stop_traffic(self) -> None:
        self.traffic_stop.set()
        if self.traffic_task is not None:
            task, self.traffic_task = self.traffic_task, None
            if not task.done():
                await asyncio.wait({task}, timeout=TRAFFIC_STOP_S)
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise asyncio.CancelledError

    def check_children(self) -> None:
        crashed = first_crashed([c for c in (self.chain_node, *self.neurons) if c is not None])
        if crashed is not None:
            raise crashed.failure()
        if self.traffic_task is not None and self.traffic_task.done():
            self.traffic_task.result()  # a gateway that never came up fails the run

    async def watch(self, subnet: Subnet) -> None:
        """Follow the chain block by block until the run's epochs are done."""
        assert self.client is not None
        opts, specs = self.opts, [subnet.owner, *subnet.neurons]
        miners = [s for s in subnet.neurons if s.is_miner]
        launch_epoch = epoch_at(await self.client.block(), subnet.tempo_block, opts.tempo)
        recorded, ready_epoch, block = launch_epoch, None, 0
        ready_deadline = time.monotonic() + NEURONS_READY_S
        seen_serving: set[str] = set()
        while True:
            self.check_stop()
            self.check_children()
            with contextlib.suppress(TimeoutError):
                await self.client.wait_for_block(block + 1, timeout=BLOCK_WAIT_S)
            metagraph = await self.client.metagraph(subnet.netuid)
            self.metagraph, block = metagraph, metagraph.block
            epoch = epoch_at(block, subnet.tempo_block, opts.tempo)
            waiting = None
            if ready_epoch is None:
                waiting = self.follow_serving(metagraph, miners, seen_serving)
                if waiting.serving == waiting.miners:
                    ready_epoch, self.serving_s, waiting = epoch, self.elapsed(), None
                    self.view.say(
                        f"all {len(miners)} miners serving at block {block}: the neurons took "
                        f"{self.since_neurons_started():.0f} s to start ({self.elapsed():.0f} s "
                        "since the run began)"
                    )
                elif time.monotonic() > ready_deadline:
                    late = [s.name for s in miners if not metagraph.axons[s.uid].is_serving]
                    child = next(c for c in self.neurons if c.name == late[0])
                    raise child.failure(f"did not serve within {NEURONS_READY_S:g} s")
            if epoch > recorded:
                recorded = epoch
                self.rows += epoch_rows(epoch, metagraph, specs)
                if self.first_paid_s is None and first_paying_epoch(self.rows) is not None:
                    self.first_paid_s = self.elapsed()
                    self.view.say(
                        f"first epoch with emissions to miners: epoch {epoch}, "
                        f"{self.first_paid_s:.0f} s after start"
                    )
            done = 0 if ready_epoch is None else epoch - ready_epoch
            next_at = epoch_block(epoch + 1, subnet.tempo_block, opts.tempo)
            phase = "waiting for the miners to serve" if ready_epoch is None else "running"
            progress = Progress(
                block, epoch, min(done, opts.epochs), opts.epochs, next_at - block, phase, waiting
            )
            title = f"subnet {subnet.netuid} at block {block}, epoch {epoch}"
            await self.read_organic()
            table = subnet_table(
                metagraph, specs, totals(self.rows), title, self.organic_caption(subnet)
            )
            self.view.show(table, progress)
            if done >= opts.epochs:
                return

    def since_neurons_started(self) -> float:
        started = self.neurons_started if self.neurons_started is not None else self.started
        return time.monotonic() - started

    def follow_serving(self, metagraph: Metagraph, miners: list, seen: set[str]) -> NeuronsWaiting:
        """One line for each miner that has just started serving; how many serve now."""
        serving = [s for s in miners if metagraph.axons[s.uid].is_serving]
        for spec in serving:
            if spec.name not in seen:
                seen.add(spec.name)
                self.view.say(
                    f"{spec.name} serving at block {metagraph.block}, "
                    f"{self.since_neurons_started():.0f} s after the neurons started"
                )
        return NeuronsWaiting(len(serving), len(miners), self.since_neurons_started())

    async def finish(self, subnet: Subnet) -> None:
        """Final metagraph, organic traffic, CSV and plot."""
        assert self.metagraph is not None
        await self.stop_traffic()
        await self.read_organic()
        specs = [subnet.owner, *subnet.neurons]
        table = subnet_table(
            self.metagraph,
            specs,
            totals(self.rows),
            "final metagraph",
            self.organic_caption(subnet),
        )
        self.view.say("")
        self.view.console.print(table)
        if self.organic is not None:
            self.view.say(
                "the gateway routes organic requests only to miners with a verified score; a "
                "failed verification, synthetic or organic, resets it"
            )
        self.write_results(subnet)

    def write_results(self, subnet: Subnet) -> None:
        csv_path, png_path = self.opts.out / "epochs.csv", self.opts.out / "emission.png"
        write_csv(csv_path, self.rows)
        plot_emission(
            png_path,
            [r for r in self.rows if r.role != "owner"],
            f"subnet {subnet.netuid} on a local dev chain: emission per neuron",
        )
        summary = {
            "netuid": subnet.netuid,
            "epochs_recorded": len({r.epoch for r in self.rows}),
            "first_paid_epoch": first_paying_epoch(self.rows),
            "miners_serving_s": self.serving_s,
            "first_paid_s": self.first_paid_s,
            "elapsed_s": self.elapsed(),
            "emission_tao": totals(self.rows),
            "organic": self.organic_summary(subnet),
        }
        (self.opts.out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        self.view.say(f"wrote {csv_path}, {png_path} and {self.opts.out / SUMMARY}")

    def organic_summary(self, subnet: Subnet) -> dict | None:
        """The organic traffic of the run: the user's side and the gateway's."""
        if self.traffic is None:
            return None
        user = self.traffic.user
        figures = self.organic
        return {
            "answered": user.answered,
            "failed": user.failed,
            "completion_tokens": user.completion_tokens,
            "ttft_p50_s": user.ttft_p50_s,
            "gateway_served": figures.served if figures else 0,
            "verified": figures.verified if figures else {},
            "verified_share": figures.verified_share if figures else 0.0,
            "per_miner": self.organic_by_name(subnet) or {},
        }

    async def close(self, keep_chain: bool) -> None:
        """Stop the neurons, then the chain (unless kept); every stop happens before any await,
        so a second Ctrl-C cannot leave a process behind."""
        self.traffic_stop.set()
        if self.traffic_task is not None:
            self.traffic_task.cancel()
        stop_all(self.helpers + self.neurons)
        node = self.chain_node
        if node is not None and keep_chain and node.exit_code() is None:
            self.view.say(
                f"the dev chain keeps running at {self.network} (pid {node.pid}); "
                f"stop it with `kill {node.pid}`"
            )
        elif node is not None:
            stop_all([node])
        if self.client is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self.client.close()


async def run_localnet(opts: Options, view: View, stop: asyncio.Event | None = None) -> int:
    """The whole run; `stop` set (by SIGINT/SIGTERM) ends it like a cancellation does."""
    run = Run(opts, view, stop or asyncio.Event())
    succeeded = False
    subnet: Subnet | None = None
    try:
        network = await run.start_chain()
        builds = run.start_model_builds()
        subnet = await run.setup_subnet(network)
        run.check_stop()
        await run.finish_builds(builds)
        run.start_neurons(subnet, network)
        with view:
            await run.watch(subnet)
        await run.finish(subnet)
        succeeded = True
        view.say(f"done in {run.elapsed():.0f} s")
        return EXIT_OK
    except asyncio.CancelledError:  # Ctrl-C or SIGTERM: keep what was recorded, stop the rest
        view.say("interrupted: stopping every process this run started")
        if subnet is not None and run.rows:
            run.write_results(subnet)
        return EXIT_INTERRUPTED
    except ChildFailed as failure:
        view.console.print(f"[red]error:[/red] {failure}", markup=True, highlight=False)
        view.say("stopping everything else")
        return EXIT_FAILED
    except ChainError as error:
        view.console.print(f"[red]error:[/red] the dev chain refused: {error}", markup=True)
        view.say(f"stopping everything; the chain's log is {run.log('chain')}")
        return EXIT_FAILED
    finally:
        await run.close(keep_chain=opts.keep and succeeded)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        opts = options_from(args)
        prepare_out(opts.out)
    except UsageError as error:
        print(f"subnet localnet: {error}", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(_interruptible(opts, View()))


async def _interruptible(opts: Options, view: View) -> int:
    """Run localnet; SIGINT or SIGTERM stops it, and its cleanup stops every child.

    The signal both cancels the run and sets `stop`, which the run checks every block: on
    Python 3.11 `asyncio.wait_for` can swallow a cancellation that arrives as its inner call
    completes, and the chain client's long polls complete every block."""
    stop = asyncio.Event()
    task = asyncio.ensure_future(run_localnet(opts, view, stop))

    def interrupt() -> None:
        stop.set()
        task.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt)
    try:
        return await task
    except asyncio.CancelledError:  # cancelled before it could start
        return EXIT_INTERRUPTED
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


if __name__ == "__main__":
    sys.exit(main())
