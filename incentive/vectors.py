"""Run test vectors (SPEC §12 format) against this package: `python -m incentive.vectors FILE`.

Prints one PASS / FAIL / SKIP line per vector with the largest difference found, then a
summary. Exit status: 0 when nothing failed, 1 when a vector failed, 2 when the file is
malformed (the message names the field and what was expected).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from incentive.vector_kinds import PRIMITIVES, VectorError, run_coinbase, run_epoch_vector


@dataclass
class Outcome:
    name: str
    status: str  # PASS, FAIL or SKIP
    max_diff: float
    detail: str = ""


def load_vectors(path: Path) -> list[dict]:
    """Read and shape-check a vector file; raises VectorError naming the offending field."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise VectorError(f"cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise VectorError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("vectors"), list):
        raise VectorError("field 'vectors': expected a top-level object with a list 'vectors'")
    for index, vector in enumerate(data["vectors"]):
        where = f"vectors[{index}]"
        if not isinstance(vector, dict):
            raise VectorError(f"{where}: expected an object")
        for key in ("name", "kind"):
            if not isinstance(vector.get(key), str):
                raise VectorError(f"{where}.{key}: expected a string")
    return data["vectors"]


def run_vector(vector: dict, mode: str) -> Outcome:
    name, kind = vector["name"], vector["kind"]
    notes: list[str] = []
    if kind == "epoch":
        diff, problems, notes = run_epoch_vector(vector, mode)
    elif kind.startswith("coinbase."):
        result = run_coinbase(vector)
        if result is None:
            return Outcome(name, "SKIP", 0.0, f"coinbase kind {kind!r} is not mapped")
        diff, problems = result
    elif kind in PRIMITIVES:
        try:
            diff, problems = PRIMITIVES[kind](vector, mode)
        except KeyError as exc:
            raise VectorError(f"vector {name!r}: missing field {exc.args[0]!r} ({kind})") from None
        except (TypeError, ValueError) as exc:
            raise VectorError(f"vector {name!r}: inputs do not fit {kind}: {exc}") from None
    else:
        return Outcome(name, "SKIP", 0.0, f"no function of this package maps to kind {kind!r}")
    status = "FAIL" if problems else "PASS"
    return Outcome(name, status, diff, "; ".join(problems[:3] + notes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m incentive.vectors", description="Check Yuma test vectors."
    )
    parser.add_argument("file", type=Path, help="vector file (SPEC §12 format)")
    parser.add_argument("--mode", choices=("exact", "float"), default="exact")
    args = parser.parse_args(argv)
    try:
        vectors = load_vectors(args.file)
        outcomes = []
        for vector in vectors:
            outcome = run_vector(vector, args.mode)
            outcomes.append(outcome)
            detail = f"  ({outcome.detail})" if outcome.detail else ""
            print(f"{outcome.status} {outcome.name:<44} max_diff={outcome.max_diff:.6g}{detail}")
    except VectorError as exc:
        print(f"malformed vector file: {exc}", file=sys.stderr)
        return 2
    counts = {s: sum(o.status == s for o in outcomes) for s in ("PASS", "FAIL", "SKIP")}
    print(
        f"{len(outcomes)} vectors ({args.mode}): {counts['PASS']} passed, "
        f"{counts['FAIL']} failed, {counts['SKIP']} skipped"
    )
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
