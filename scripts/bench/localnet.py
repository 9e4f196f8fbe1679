"""Benchmark of `subnet localnet` (what `make demo` runs): how soon the first emissions show.

1. Build the two tiny models side by side, as `make demo` does (seconds).
2. Baseline, measured here: one neuron's cold start alone, a Python process that imports the
   miner and loads the tiny model (the per-process cost every neuron pays once).
3. Run `subnet localnet` (3 miners, one cheating, 2 validators) and read its summary.json:
   seconds until every miner serves, and until the first epoch that pays the honest miners.

Figures: the median over runs of `first_paid_s`, the start-up `miners_serving_s` against the
single-process baseline (how five processes on this machine's cores compare with one), and
the demo estimate `model_build_s + first_paid_s` against the 90 s target.
Usage: python scripts/bench/localnet.py [--quick]. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_FIRST_EMISSION_S = 90.0
HONEST_SEED, OTHER_SEED = 0, 1
RUN_TIMEOUT_S = 600
COLD_START = (
    "import neurons.miner\nfrom inference.engine import Engine\nEngine.from_pretrained({path!r})\n"
)


def timed_run(argv: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env, timeout=RUN_TIMEOUT_S)
    return time.perf_counter() - started


def build_models(root: Path) -> tuple[Path, Path, float]:
    honest, other = root / "tiny", root / "tiny-other"
    started = time.perf_counter()
    builds = [
        subprocess.Popen(
            [sys.executable, "-m", "inference.tiny", "--out", str(path), "--seed", str(seed)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for path, seed in ((honest, HONEST_SEED), (other, OTHER_SEED))
    ]
    for build in builds:
        if build.wait(timeout=RUN_TIMEOUT_S) != 0:
            raise SystemExit("building a tiny model failed: run python -m inference.tiny by hand")
    return honest, other, time.perf_counter() - started


def cold_start(model: Path) -> float:
    """One neuron process alone: imports plus loading the model, one compute thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return timed_run([sys.executable, "-c", COLD_START.format(path=str(model))], env)


def localnet_run(honest: Path, other: Path, out: Path, epochs: int) -> dict:
    argv = [sys.executable, "-m", "scripts.cli", "localnet", "--out", str(out)]
    argv += ["--model", str(honest), "--cheat-model", str(other), "--epochs", str(epochs)]
    timed_run(argv)
    summary = json.loads((out / "summary.json").read_text())
    if summary["first_paid_s"] is None:
        raise SystemExit(f"no epoch paid the miners; see the logs in {out / 'logs'}")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run of one epoch")
    args = parser.parse_args()
    runs, epochs = (1, 1) if args.quick else (3, 2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        honest, other, build_s = build_models(root / "models")
        print(f"tiny models built in {build_s:.1f} s", flush=True)
        single_s = statistics.median(cold_start(honest) for _ in range(runs))
        print(f"one neuron's cold start alone: {single_s:.1f} s", flush=True)
        summaries = []
        for index in range(runs):
            summary = localnet_run(honest, other, root / f"run{index}", epochs)
            print(
                f"run {index}: miners serving at {summary['miners_serving_s']:.1f} s, first "
                f"emissions at {summary['first_paid_s']:.1f} s",
                flush=True,
            )
            summaries.append(summary)
    serving_s = statistics.median(s["miners_serving_s"] for s in summaries)
    paid_s = statistics.median(s["first_paid_s"] for s in summaries)
    result = {
        "bench": "localnet",
        "quick": args.quick,
        "runs": runs,
        "cpus": os.cpu_count(),
        "model_build_s": round(build_s, 2),
        "single_neuron_cold_start_s": round(single_s, 2),
        "miners_serving_s": round(serving_s, 2),
        "first_paid_s": round(paid_s, 2),
        "serving_over_single_cold_start": round(serving_s / single_s, 2),
        "demo_first_paid_s": round(build_s + paid_s, 2),
        "target_s": TARGET_FIRST_EMISSION_S,
        "demo_first_paid_over_target": round((build_s + paid_s) / TARGET_FIRST_EMISSION_S, 3),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
