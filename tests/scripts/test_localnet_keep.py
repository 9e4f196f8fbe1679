"""`--keep`: at the end the dev chain node keeps running (and the run says how to stop it);
without it, the node is stopped with everything else."""

from __future__ import annotations

import io

from rich.console import Console

import chain
from scripts.localnet import Run
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
    return Run(opts, View(Console(file=said, width=200))), said


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
