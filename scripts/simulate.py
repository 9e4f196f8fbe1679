"""`subnet simulate SCENARIO_OR_FILE`: many epochs of incentive math, CSV and PNG out.

The IO adapter around incentive.simulation: reads a built-in scenario or a YAML/JSON file
(its format is in the README, "Simulating a subnet"), prints the scenario it runs (neurons and
hyperparameters, with `subnet owner set`'s names and units), runs it, writes DIR/epochs.csv
(one row per epoch and neuron, amounts in alpha) and DIR/emission.png, and prints the final
epoch's emission table and what an owner should read from the run: who earned what, and why.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

from incentive.scenarios import BUILTIN, builtin
from incentive.simulation import (
    RAW_PER_ALPHA,
    U16_MAX,
    Scenario,
    ScenarioError,
    SimulationResult,
    parse_scenario,
    run_simulation,
)

CSV_HEADER = (
    "epoch",
    "uid",
    "name",
    "role",
    "stake_alpha",
    "incentive",
    "dividends",
    "emission_alpha",
)
# The reading averages the last quarter of the epochs: bonds have settled by then.
SETTLED_SHARE = 0.25


def load_scenario_data(spec: str) -> dict:
    """A built-in scenario by name, or the parsed contents of a .yaml/.yml/.json file."""
    if spec in BUILTIN:
        return builtin(spec)
    path = Path(spec)
    if not path.is_file():
        raise ScenarioError(
            f"{spec!r} is neither a built-in scenario ({', '.join(sorted(BUILTIN))}) nor a file"
        )
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = path.suffix.lstrip(".") or "YAML"
        raise ScenarioError(f"{path} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping with 'neurons' and 'hyperparameters'")
    return data


def write_csv(result: SimulationResult, path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_HEADER)
        writer.writerows(result.rows())


def write_plot(result: SimulationResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    epochs = range(result.emission.shape[0])
    colours = plt.get_cmap("tab20").colors
    for uid, nrn in enumerate(result.scenario.neurons):
        style = "-" if nrn.role == "miner" else "--"
        ax.plot(
            epochs,
            result.emission[:, uid] / RAW_PER_ALPHA,
            style,
            color=colours[uid % len(colours)],
            label=nrn.name,
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("emission per epoch (alpha)")
    ax.set_title(f"{result.scenario.name}: emission per neuron (dashed: validators)")
    ax.legend(fontsize="small", ncol=2, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scenario_tables(scenario: Scenario, mode: str) -> list[Table]:
    """What is about to run: its neurons, and its hyperparameters as given."""
    neurons = Table(
        title=f"scenario {scenario.name}: {scenario.epochs} epochs, seed "
        f"{scenario.seed}, {mode} mode"
    )
    for column in ("uid", "name", "role", "stake (α)", "quality", "behaviour"):
        neurons.add_column(column)
    for uid, nrn in enumerate(scenario.neurons):
        miner = nrn.role == "miner"
        behaviour = f"{nrn.behaviour} on {nrn.target}" if nrn.target else nrn.behaviour
        neurons.add_row(
            str(uid),
            nrn.name,
            nrn.role,
            f"{nrn.stake / RAW_PER_ALPHA:,.0f}",
            f"{nrn.quality:g}" if miner else "",
            "" if miner else behaviour,
        )
    params = Table(title="hyperparameters (names and units of `subnet owner set`)")
    for column in ("name", "value"):
        params.add_column(column)
    for name, value in scenario.hyperparameters or (("(all defaults)", ""),):
        params.add_row(name, str(value))
    return [neurons, params]


def emission_table(result: SimulationResult) -> Table:
    last = result.emission.shape[0] - 1
    table = Table(title=f"{result.scenario.name}: emission at epoch {last}")
    for column in ("uid", "name", "role", "stake (α)", "incentive", "dividends", "emission (α)"):
        table.add_column(column, justify="left" if column in ("name", "role") else "right")
    for uid, nrn in enumerate(result.scenario.neurons):
        table.add_row(
            str(uid),
            nrn.name,
            nrn.role,
            f"{nrn.stake / RAW_PER_ALPHA:,.0f}",
            f"{result.incentive[last, uid]:.4f}",
            f"{result.dividends[last, uid]:.4f}",
            f"{result.emission[last, uid] / RAW_PER_ALPHA:,.3f}",
        )
    return table


def _inversion(neurons, earned: np.ndarray, miners: list[int]) -> tuple[int, int] | None:
    """A pair of miners (worse, better) where the worse one earned more, if there is one."""
    for better in miners:
        for worse in miners:
            if neurons[better].quality > neurons[worse].quality and earned[worse] > earned[better]:
                return worse, better
    return None


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole > 0 else "0%"


def reading(result: SimulationResult) -> list[str]:
    """What an owner should read from the run: who earned what over the settled epochs, and
    why, in the terms of Yuma consensus."""
    scenario, neurons = result.scenario, result.scenario.neurons
    settled = max(1, round(result.emission.shape[0] * SETTLED_SHARE))
    earned = result.emission[-settled:].mean(axis=0)
    total = earned.sum()
    miners = [u for u, n in enumerate(neurons) if n.role == "miner"]
    validators = [u for u, n in enumerate(neurons) if n.role == "validator"]
    lines = [f"what to read from this run (the mean of its last {settled} epochs):"]
    mined, validated = earned[miners].sum(), earned[validators].sum()
    lines.append(
        f"- miners took {_share(mined, total)} of each epoch's emission, validators "
        f"{_share(validated, total)}; emission.png draws each neuron's share per epoch "
        "(dashed: validators)"
    )
    by_pay = sorted(miners, key=lambda u: -earned[u])
    top, bottom = by_pay[0], by_pay[-1]
    lines.append(
        f"- miners: {neurons[top].name} (quality {neurons[top].quality:g}) earned most, "
        f"{_share(earned[top], mined)} of the miners' share; {neurons[bottom].name} (quality "
        f"{neurons[bottom].quality:g}) least, {_share(earned[bottom], mined)}"
    )
    inversion = _inversion(neurons, earned, miners)
    if inversion is None:
        lines.append(
            "  pay follows quality (no miner earned more than a better one): validators weigh "
            "what they measure, and consensus pays each miner what most of the stake agrees "
            "it is worth"
        )
    else:
        worse, better = (neurons[u] for u in inversion)
        lines.append(
            f"  pay does not follow quality: {worse.name} (quality {worse.quality:g}) earned "
            f"more than {better.name} (quality {better.quality:g}); look at the validators "
            "that weigh them"
        )
    stake = np.array([n.stake for n in neurons], dtype=np.float64)
    staked = stake[validators].sum()
    for u in validators:
        nrn = neurons[u]
        how = {
            "honest": "scores the miners",
            "lazy": "copies the last consensus",
            "colluding": f"puts all its weight on {nrn.target}",
        }[nrn.behaviour]
        lines.append(
            f"- {nrn.name} ({how}): {_share(stake[u], staked)} of the validators' stake, "
            f"{_share(earned[u], validated)} of their dividends"
        )
    targets = sorted({n.target for n in neurons if n.behaviour == "colluding" and n.target})
    kappa = scenario.params.kappa_u16 / U16_MAX
    for target in targets:
        uid = next(u for u, n in enumerate(neurons) if n.name == target)
        backers = [u for u, n in enumerate(neurons) if n.target == target]
        backing = stake[backers].sum() / staked if staked else 0.0
        why = (
            f"their {backing:.0%} of the stake is below kappa ({kappa:.0%}), so consensus "
            "clips their weight on it to what the rest gives"
            if backing < kappa
            else f"their {backing:.0%} of the stake reaches kappa ({kappa:.0%}): consensus "
            "follows them"
        )
        lines.append(
            f"- {target}, boosted by colluders, earned {_share(earned[uid], mined)}: {why}"
        )
    idle = [neurons[u].name for u in range(len(neurons)) if earned[u] == 0]
    if idle:
        lines.append(f"- earned nothing: {', '.join(idle)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="subnet simulate",
        description="Run many epochs of Yuma consensus for a scenario; write CSV and PNG.",
    )
    parser.add_argument(
        "scenario", help=f"built-in ({', '.join(sorted(BUILTIN))}) or a YAML/JSON file"
    )
    parser.add_argument("--epochs", type=int, help="override the scenario's number of epochs")
    parser.add_argument("--mode", choices=("exact", "float"), default="float")
    parser.add_argument("--out", type=Path, help="output folder (default runs/simulate-NAME)")
    args = parser.parse_args(argv)
    try:
        scenario = parse_scenario(load_scenario_data(args.scenario), epochs=args.epochs)
    except ScenarioError as exc:
        print(f"subnet simulate: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path("runs") / f"simulate-{scenario.name}"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(
            f"subnet simulate: --out {out}: {exc.strerror or exc}; give a folder you can write to",
            file=sys.stderr,
        )
        return 2
    console = Console(highlight=False)
    for table in scenario_tables(scenario, args.mode):
        console.print(table)
    result = run_simulation(scenario, args.mode)
    write_csv(result, out / "epochs.csv")
    write_plot(result, out / "emission.png")
    console.print(emission_table(result))
    for line in reading(result):
        console.print(line, markup=False)
    print(f"wrote {out / 'epochs.csv'} (amounts in alpha) and {out / 'emission.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
