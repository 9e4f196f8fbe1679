"""The live picture of `subnet localnet`: readable on an 80-column terminal, and one table per
epoch (not per block) when the output is a log."""

from __future__ import annotations

import io

from rich.console import Console

from chain import AxonInfo, Metagraph
from scripts.localnet_chain import NeuronSpec, plan_neurons
from scripts.localnet_view import NeuronsWaiting, Progress, View, subnet_table

RAO = 1_000_000_000


def demo_subnet() -> tuple[Metagraph, list[NeuronSpec]]:
    planned = [("owner", "owner"), *plan_neurons(miners=3, validators=2, cheaters=1)]
    n = len(planned)
    specs = [
        NeuronSpec(name, role, name, f"hot{i}", "cold", i) for i, (name, role) in enumerate(planned)
    ]
    graph = Metagraph.build(
        netuid=1,
        block=40,
        hotkeys=[s.hotkey for s in specs],
        coldkeys=["cold"] * n,
        stake=[1_033_100 * RAO // 1000] * n,
        validator_permit=[True] * n,
        axons=[AxonInfo("127.0.0.1", 8091)] * n,
        incentive_u16=[32_000] * n,
        dividends_u16=[32_000] * n,
        emission=[33 * RAO] * n,
        consensus_u16=[0] * n,
        validator_trust_u16=[0] * n,
        last_update=[0] * n,
        block_at_registration=[0] * n,
    )
    return graph, specs


def test_the_table_fits_80_columns_without_cutting_names_or_headers():
    graph, specs = demo_subnet()
    out = io.StringIO()
    Console(file=out, width=80).print(subnet_table(graph, specs, {}, "subnet 1"))
    text = out.getvalue()
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "validator1" in text and "cheater" in text and "run total" in text


def test_a_log_gets_one_table_per_epoch_not_one_per_block():
    graph, specs = demo_subnet()
    out = io.StringIO()
    view = View(Console(file=out, width=120))  # a file is not a terminal: no live redraw
    with view:
        for block, epoch in ((40, 4), (41, 4), (42, 4), (50, 5)):
            view.show(
                subnet_table(graph, specs, {}, f"block {block}"),
                Progress(block, epoch, 0, 6, 1, "running"),
            )
    assert out.getvalue().count("run total") == 2


def test_until_every_miner_serves_the_progress_line_counts_the_miners_serving():
    graph, specs = demo_subnet()
    out = io.StringIO()
    view = View(Console(file=out, width=120))
    waiting = NeuronsWaiting(serving=2, miners=3, seconds=9.4)
    with view:
        view.show(subnet_table(graph, specs, {}, "block 12"), Progress(12, 1, 0, 6, 3, "", waiting))
    assert "waiting for the neurons: 2/3 miners serving, 9 s since start" in out.getvalue()
