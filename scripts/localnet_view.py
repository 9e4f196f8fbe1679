"""The live picture of `subnet localnet`: one table of the subnet, redrawn as blocks arrive.

On a terminal the table updates in place (rich Live) under a progress line; elsewhere (a
log file, CI) the table is printed once per epoch, so the output stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from chain import Metagraph
from chain.types import rao_to_tao
from scripts.localnet_chain import CHEATER, NeuronSpec

ROLE_STYLE = {"validator": "cyan", "miner": "green", CHEATER: "red", "owner": "dim"}
REFRESH_PER_SECOND = 4
# Columns for output that is not a terminal (a log, CI): wide enough for the whole table.
LOG_WIDTH = 140


@dataclass(frozen=True)
class Progress:
    block: int
    epoch: int  # epochs since the tempo was set
    epochs_done: int  # of the run's epochs
    epochs_wanted: int
    blocks_to_next_epoch: int
    phase: str  # what localnet is doing now
    waiting: NeuronsWaiting | None = None  # set until every miner serves


@dataclass(frozen=True)
class NeuronsWaiting:
    """How far the neurons are from serving: miners serving of all, seconds since started."""

    serving: int
    miners: int
    seconds: float

    def text(self) -> str:
        return f"{self.serving}/{self.miners} miners serving, {self.seconds:.0f} s since start"


def subnet_table(
    metagraph: Metagraph,
    neurons: list[NeuronSpec],
    totals: dict[str, float],
    title: str,
    caption: str | None = None,
) -> Table:
    """One row per neuron; fits 80 columns. Emission: what the last epoch paid (alpha, in TAO
    units), and its total over the run; `caption` (the organic traffic) goes under it. (A
    neuron process that ends stops the run, so the table has no process column: the run
    reports it.)"""
    table = Table(
        title=title,
        title_justify="left",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAVY,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
    )
    for column, justify in (
        ("uid", "right"),
        ("neuron", "left"),
        ("role", "left"),
        ("stake", "right"),
        ("incentive", "right"),
        ("dividends", "right"),
        ("emission", "right"),
        ("run total", "right"),
    ):
        table.add_column(column, justify=justify)
    for spec in neurons:
        uid = spec.uid
        if not spec.holds_uid(metagraph):
            continue
        style = ROLE_STYLE.get(spec.role, "")
        table.add_row(
            str(uid),
            spec.name,
            Text(spec.role, style=style),
            f"{metagraph.stake_tao[uid]:,.1f}",
            f"{metagraph.incentive[uid]:.4f}",
            f"{metagraph.dividends[uid]:.4f}",
            f"{rao_to_tao(int(metagraph.emission[uid])):.4f}",
            f"{totals.get(spec.name, 0.0):.4f}",
        )
    return table


def progress_text(progress: Progress) -> Text:
    if progress.waiting is not None:
        return Text.assemble(
            ("block ", "bold"),
            str(progress.block),
            ("  waiting for the neurons: ", "bold"),
            (progress.waiting.text(), "italic"),
        )
    return Text.assemble(
        ("block ", "bold"),
        str(progress.block),
        ("  epoch ", "bold"),
        str(progress.epoch),
        ("  run ", "bold"),
        f"{progress.epochs_done}/{progress.epochs_wanted} epochs",
        ("  next epoch in ", "bold"),
        f"{progress.blocks_to_next_epoch} blocks",
        "  ",
        (progress.phase, "italic"),
    )


def progress_line(progress: Progress) -> Group:
    """The run's epochs as a bar; until every miner serves, the miners serving instead."""
    if progress.waiting is not None:
        waiting = progress.waiting
        bar = ProgressBar(total=max(1, waiting.miners), completed=waiting.serving)
    else:
        bar = ProgressBar(total=max(1, progress.epochs_wanted), completed=progress.epochs_done)
    return Group(progress_text(progress), bar)


class View:
    """Live on a terminal; one printed table per epoch otherwise."""

    def __init__(self, console: Console | None = None):
        if console is None:
            console = Console(highlight=False)
            if not console.is_terminal:
                console = Console(highlight=False, width=LOG_WIDTH)
        self.console = console
        self.live: Live | None = None
        self._last_printed_epoch = -1

    def __enter__(self) -> View:
        if self.console.is_terminal:
            self.live = Live(console=self.console, refresh_per_second=REFRESH_PER_SECOND)
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
            self.live = None

    def say(self, text: str) -> None:
        self.console.print(text)

    def show(self, table: Table, progress: Progress) -> None:
        if self.live is not None:
            self.live.update(Group(table, progress_line(progress)))
        elif progress.epoch != self._last_printed_epoch:
            self._last_printed_epoch = progress.epoch
            self.console.print(table)
            self.console.print(progress_text(progress))
