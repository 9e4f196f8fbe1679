"""How a localnet run ends: `--keep` leaves the dev chain node running (and says how to stop
it), without it the node is stopped with everything else, and a stop request (SIGINT/SIGTERM)
ends the watch loop even when a chain call swallowed the cancellation."""

from __future__ import annotations

import asyncio
import io

import pytest
from rich.console import Console

import chain
from scripts.localnet import Run
from scripts.localnet_chain import NeuronSpec, Subnet
from scripts.localnet_options import build_parser, options_from, prepare_out
from scripts.localnet_procs import stop_all
from scripts.localnet_view import View


def run_for(tmp_path, *flags: str) -> tuple[Run, io.StringIO]:
    argv = [
        "--model",
        str(tmp_path),
        "--cheat-model",
        str(tmp_path),
        "--out",
        str(tmp_path / "run"),
    ]
    opts = options_from(build_parser().parse_args([*argv, *flags]))
    prepare_out(opts.out)
    said = io.StringIO()
    return Run(opts, View(Console(file=said, width=200)), asyncio.Event()), said


async def test_keep_leaves_the_chain_answering_and_says_how_to_stop_it(tmp_path):
    run, said = run_for(tmp_path, "--keep")
    network = await run.start_chain()
    try:
        await run.close(keep_chain=True)
        client = chain.connect(network)
        try:
            assert await client.block() >= 0
        finally:
            await client.close()
        assert f"kill {run.chain_node.pid}" in said.getvalue()
    finally:
        stop_all([run.chain_node])


async def test_without_keep_the_chain_is_stopped(tmp_path):
    run, _ = run_for(tmp_path)
    await run.start_chain()
    try:
        await run.close(keep_chain=False)
        assert run.chain_node.exit_code() is not None
    finally:
        stop_all([run.chain_node])


class SwallowingChain:
    """A chain client whose calls return normally, as a wait_for that swallowed a cancel."""

    async def block(self) -> int:
        return 0

    async def wait_for_block(self, block: int, timeout: float | None = None) -> int:
        return block

    async def metagraph(self, netuid: int):
        raise AssertionError("the run read the chain after it was asked to stop")


async def test_a_stop_request_ends_the_watch_even_if_no_cancellation_arrives(tmp_path):
    run, _ = run_for(tmp_path)
    run.client = SwallowingChain()
    run.stop.set()
    subnet = Subnet(1, 0, NeuronSpec("owner", "owner", "owner", "h", "c", 0), [])
    with pytest.raises(asyncio.CancelledError):
        await run.watch(subnet)
