"""Benchmark: time per Yuma epoch, vectorised (exact and float) against a per-neuron loop.

Sizes n/validators = 256/64, 1024/128, 4096/256 with dense random weights (every validator
weights every uid) and bonds from a previous epoch; both numeric modes; Yuma3 on and off.
The baseline is the epoch written the way a first implementation would: Python lists and
loops over neurons, following SPEC §4 in float. It is measured in the same run on the
smallest size (its slowness makes the larger sizes impractical; nothing is extrapolated).

Usage: python scripts/bench/yuma.py [--quick]. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from incentive import EpochInput, EpochParams, SparseRows, run_epoch
from incentive.weights import max_upscale_u16

SIZES = ((256, 64), (1024, 128), (4096, 256))
QUICK_SIZES = ((256, 64), (1024, 128))
CURRENT_BLOCK = 10_000
RAO_PER_EPOCH = 295_200_000_000  # one tempo of miner + validator emission
SEED = 7


def make_input(n: int, validators: int, seed: int = SEED) -> EpochInput:
    rng = np.random.default_rng(seed)
    stake = np.zeros(n, dtype=np.int64)
    stake[:validators] = rng.integers(10**12, 10**15, validators)
    raw = rng.integers(0, 65_536, (validators, n))
    stored = np.vstack([max_upscale_u16(row) for row in raw])
    weights = SparseRows(
        n,
        np.repeat(np.arange(validators, dtype=np.int64), n),
        np.tile(np.arange(n, dtype=np.int64), validators),
        stored.reshape(-1).astype(np.int64),
    )
    permit = np.zeros(n, dtype=bool)
    permit[:validators] = True
    return EpochInput(
        current_block=CURRENT_BLOCK,
        stake=stake,
        validator_permit=permit,
        weights=weights,
        bonds=SparseRows.empty(n),
        last_update=np.full(n, CURRENT_BLOCK - 1, dtype=np.int64),
        block_at_registration=np.zeros(n, dtype=np.int64),
        rao_emission=RAO_PER_EPOCH,
    )


def with_bonds(inp: EpochInput, params: EpochParams) -> EpochInput:
    """The same input after one epoch, so that the timed epoch carries bonds."""
    out = run_epoch(inp, params, "float")
    return replace(inp, bonds=out.bonds, validator_permit=out.validator_permit)


def interleaved_ms(
    runs: dict[str, Callable[[], object]], rounds: int, per_round: dict[str, int]
) -> dict[str, float]:
    """Median milliseconds per call of each function, measured in interleaved rounds so that
    a load change on this shared machine hits every contender alike."""
    for fn in runs.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            for _ in range(per_round[name]):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) * 1000.0 for name, ts in times.items()}


# ---------------------------------------------------------------- per-neuron loop baseline
# The chain's sparse path (SPEC §4) ported function by function to Python lists and loops,
# in float: what a first implementation that follows the spec looks like.

Rows = list[list[tuple[int, float]]]


def _normalize(xs: list[float]) -> list[float]:
    total = sum(xs)
    return [x / total for x in xs] if total else list(xs)


def _col_normalize(rows: Rows, n: int) -> Rows:
    sums = [0.0] * n
    for row in rows:
        for j, v in row:
            sums[j] += v
    return [[(j, v / sums[j] if sums[j] else v) for j, v in row] for row in rows]


def _median(stake: list[float], score: list[float], part: list[int], minority, lo, hi) -> float:
    if not part:
        return 0.0
    if len(part) == 1:
        return score[part[0]]
    pivot = score[part[len(part) // 2]]
    lower = [i for i in part if score[i] < pivot]
    upper = [i for i in part if score[i] > pivot]
    lo_stake = sum(stake[i] for i in lower)
    hi_stake = sum(stake[i] for i in upper)
    if lo + lo_stake <= minority < hi - hi_stake:
        return pivot
    if minority < lo + lo_stake and lower:
        return _median(stake, score, lower, minority, lo, lo + lo_stake)
    if hi - hi_stake <= minority and upper:
        return _median(stake, score, upper, minority, hi - hi_stake, hi)
    return pivot


def _ema(new: Rows, old: Rows, alpha: float, n: int) -> Rows:
    out: Rows = []
    for new_row, old_row in zip(new, old, strict=True):
        dense = [0.0] * n
        for j, v in new_row:
            dense[j] += alpha * v
        for j, v in old_row:
            dense[j] += (1 - alpha) * v
        out.append([(j, v) for j, v in enumerate(dense) if v > 0])
    return out


def loop_epoch(inp: EpochInput, params: EpochParams) -> list[int]:
    """One epoch, the chain's sparse path in Python loops; returns emission per uid."""
    n = inp.n
    stake = _normalize([float(s) if s >= params.min_stake else 0.0 for s in inp.stake.tolist()])
    last_update = inp.last_update.tolist()
    registered = inp.block_at_registration.tolist()
    permit = inp.validator_permit.tolist()
    active = [last_update[i] + params.activity_cutoff_blocks >= inp.current_block for i in range(n)]
    active_stake = _normalize([stake[i] if active[i] and permit[i] else 0.0 for i in range(n)])
    weights: Rows = [[] for _ in range(n)]
    for i, j, w in zip(
        *(a.tolist() for a in (inp.weights.rows, inp.weights.cols, inp.weights.vals)), strict=True
    ):
        if permit[i] and i != j and last_update[i] > registered[j]:
            weights[i].append((j, float(w)))
    weights = [[(j, w / sum(v for _, v in row)) for j, w in row] if row else [] for row in weights]
    voters = [i for i in range(n) if active_stake[i] > 0]
    use_stake = _normalize([active_stake[i] for i in voters])
    minority = sum(use_stake) - params.kappa_u16 / 65_535
    use_score = [[0.0] * len(voters) for _ in range(n)]
    for k, i in enumerate(voters):
        for j, w in weights[i]:
            use_score[j][k] = w
    part = list(range(len(voters)))
    consensus = [
        _median(use_stake, use_score[j], part, minority, 0.0, sum(use_stake)) for j in range(n)
    ]
    clipped: Rows = []
    for row in weights:
        clipped.append(
            [(j, min(w, consensus[j])) for j, w in row if w <= consensus[j] or consensus[j] > 0]
        )
    ranks = [0.0] * n
    for i in range(n):
        for j, w in clipped[i]:
            ranks[j] += active_stake[i] * w
    incentive = _normalize(ranks)
    last_tempo = max(inp.current_block - params.tempo, 0)
    bonds: Rows = [[] for _ in range(n)]
    for i, j, b in zip(
        *(a.tolist() for a in (inp.bonds.rows, inp.bonds.cols, inp.bonds.vals)), strict=True
    ):
        if last_tempo > registered[j]:
            bonds[i].append((j, b / 65_535 if params.yuma3 else float(b)))
    alpha = 1.0 - params.bonds_moving_average / 1_000_000
    if params.yuma3:
        ema = _ema(clipped, bonds, alpha, n)
        normed = _col_normalize(ema, n)
        dividends = [
            active_stake[i] * sum(v * incentive[j] for j, v in normed[i]) for i in range(n)
        ]
    else:
        delta = _col_normalize(
            [[(j, w * active_stake[i]) for j, w in clipped[i]] for i in range(n)], n
        )
        ema = _col_normalize(_ema(delta, _col_normalize(bonds, n), alpha, n), n)
        dividends = [sum(incentive[j] * v for j, v in ema[i]) for i in range(n)]
    dividends = _normalize(dividends)
    total = sum(incentive) + sum(dividends)
    return [
        int((incentive[i] + dividends[i]) / total * inp.rao_emission) if total else 0
        for i in range(n)
    ]


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, two sizes")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    rounds = 3 if args.quick else 7
    figures: dict[str, float] = {}
    for n, validators in sizes:
        calls = 8 if n <= 1024 else 2  # vectorised calls per round
        base = make_input(n, validators)
        for yuma3 in (True, False):
            params = EpochParams(yuma3=yuma3, max_allowed_validators=validators)
            inp = with_bonds(base, params)
            version = "yuma3" if yuma3 else "yuma2"
            runs = {
                mode: (lambda inp=inp, params=params, mode=mode: run_epoch(inp, params, mode))
                for mode in ("exact", "float")
            }
            per_round = dict.fromkeys(runs, calls)
            if (n, validators) == SIZES[0]:
                runs["loop"] = lambda inp=inp, params=params: loop_epoch(inp, params)
                per_round["loop"] = 1
            measured = interleaved_ms(runs, rounds, per_round)
            for name, ms in measured.items():
                figures[f"{name}_{version}_{n}x{validators}_ms"] = round(ms, 3)
                print(
                    f"n={n:5d} validators={validators:4d} {version} {name:5s}: {ms:9.3f} ms/epoch"
                )
            if "loop" in measured:
                for mode in ("exact", "float"):
                    ratio = measured["loop"] / measured[mode]
                    figures[f"speedup_{mode}_{version}_{n}x{validators}"] = round(ratio, 1)
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
