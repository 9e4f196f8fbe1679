"""`subnet simulate SCENARIO_OR_FILE`: many epochs of incentive math, CSV and PNG out.

The IO adapter around incentive.simulation: reads a built-in scenario or a YAML/JSON file,
runs it, writes DIR/epochs.csv (epoch, uid, role, incentive, dividends, emission) and
DIR/emission.png, and prints the final epoch's emission table.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import yaml

from incentive.scenarios import BUILTIN, builtin
from incentive.simulation import (
    RAW_PER_ALPHA,
    ScenarioError,
    SimulationResult,
    parse_scenario,
    run_simulation,
)

CSV_HEADER = ("epoch", "uid", "role", "incentive", "dividends", "emission")


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


def print_table(result: SimulationResult) -> None:
    from rich.console import Console
    from rich.table import Table

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
    Console().print(table)


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
    result = run_simulation(scenario, args.mode)
    write_csv(result, out / "epochs.csv")
    write_plot(result, out / "emission.png")
    print_table(result)
    print(f"wrote {out / 'epochs.csv'} and {out / 'emission.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
