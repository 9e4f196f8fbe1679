"""What `subnet localnet` keeps of a run: one row per epoch and neuron, the CSV and the plot.

Pure except for the two writers at the bottom. Epochs are found by the chain's schedule:
setting the tempo restarts the cycle at that block, so epoch k runs at block
`tempo_block + k * tempo`, and a metagraph read at a block of epoch k's span shows what
epoch k paid.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from chain import Metagraph
from chain.types import rao_to_tao
from scripts.localnet_chain import CHEATER, NeuronSpec


def epoch_at(block: int, tempo_block: int, tempo: int) -> int:
    """The last epoch that ran at or before `block` (0: none yet)."""
    return max(0, (block - tempo_block) // tempo)


def epoch_block(epoch: int, tempo_block: int, tempo: int) -> int:
    return tempo_block + epoch * tempo


@dataclass(frozen=True)
class EpochRow:
    epoch: int
    block: int
    uid: int
    name: str
    role: str
    hotkey: str
    stake_tao: float
    incentive: float
    dividends: float
    emission_tao: float  # what this epoch paid the uid
    consensus: float
    validator_trust: float
    validator_permit: bool


def epoch_rows(epoch: int, metagraph: Metagraph, neurons: list[NeuronSpec]) -> list[EpochRow]:
    """One row per neuron of the demo (and the owner), as the metagraph shows it."""
    rows = []
    for spec in neurons:
        uid = spec.uid
        if not spec.holds_uid(metagraph):
            continue  # nothing of this neuron to show
        rows.append(
            EpochRow(
                epoch=epoch,
                block=metagraph.block,
                uid=uid,
                name=spec.name,
                role=spec.role,
                hotkey=spec.hotkey,
                stake_tao=float(metagraph.stake_tao[uid]),
                incentive=float(metagraph.incentive[uid]),
                dividends=float(metagraph.dividends[uid]),
                emission_tao=rao_to_tao(int(metagraph.emission[uid])),
                consensus=float(metagraph.consensus[uid]),
                validator_trust=float(metagraph.validator_trust[uid]),
                validator_permit=bool(metagraph.validator_permit[uid]),
            )
        )
    return rows


def totals(rows: list[EpochRow]) -> dict[str, float]:
    """Emission (TAO) summed over the recorded epochs, per neuron name."""
    out: dict[str, float] = {}
    for row in rows:
        out[row.name] = out.get(row.name, 0.0) + row.emission_tao
    return out


def first_paying_epoch(rows: list[EpochRow]) -> int | None:
    """The first epoch in which some miner earned incentive (the subnet is working)."""
    paying = [r.epoch for r in rows if r.role != CHEATER and r.incentive > 0]
    return min(paying) if paying else None


def write_csv(path: Path, rows: list[EpochRow]) -> None:
    names = [f.name for f in fields(EpochRow)]
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as source:
        return list(csv.DictReader(source))


def plot_emission(path: Path, rows: list[EpochRow], title: str) -> None:
    """Emission per neuron per epoch (left) and accumulated (right), one line per neuron."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (per_epoch, total) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = list(dict.fromkeys(r.name for r in rows))
    for name in names:
        own = [r for r in rows if r.name == name]
        epochs = [r.epoch for r in own]
        paid = [r.emission_tao for r in own]
        running = [sum(paid[: i + 1]) for i in range(len(paid))]
        label = f"{name} (uid {own[0].uid}, {own[0].role})"
        style = "--" if own[0].role == CHEATER else "-"
        per_epoch.plot(epochs, paid, style, marker="o", markersize=3, label=label)
        total.plot(epochs, running, style, marker="o", markersize=3, label=label)
    per_epoch.set(title="emission per epoch", xlabel="epoch", ylabel="alpha (TAO units)")
    total.set(title="emission accumulated", xlabel="epoch", ylabel="alpha (TAO units)")
    total.legend(fontsize="small", loc="upper left")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
