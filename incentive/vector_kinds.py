"""How each vector kind of the SPEC §12 format is run and checked (used by incentive.vectors).

Every runner returns (largest difference, list of problems); an empty list means PASS.
"""

from __future__ import annotations

import numbers
from dataclasses import fields, replace

import numpy as np

from incentive.bonds import alpha_sigmoid, ema_liquid
from incentive.consensus import is_topk, partition_search, weighted_median_col
from incentive.emission import alpha_block_emission, split_block_emission
from incentive.epoch import run_epoch
from incentive.fixed import backend
from incentive.types import U16_MAX, EpochInput, EpochOutput, EpochParams, SparseRows
from incentive.weights import max_upscale_u16

U16_OUTPUTS = ("consensus", "incentive", "dividends", "validator_trust", "stake_weight")
RAW_OUTPUTS = ("emission", "server_emission", "validator_emission")
INFORMATIONAL = ("asserted_at", "expected_unasserted", "notes")
IGNORED_HYPERPARAMS = ("tao_weight",)  # stake arrives already weighted, in raw units
PARAM_NAMES = {f.name for f in fields(EpochParams)}
FLOAT_MODE_UNITS = 1  # float mode may differ by one u16 unit or one raw unit (SPEC §10)


class VectorError(ValueError):
    """The vector file does not have the expected shape."""


def need(obj: dict, key: str, where: str, kind: type | tuple, expected: str):
    if not isinstance(obj, dict) or key not in obj:
        raise VectorError(f"{where}.{key}: missing; expected {expected}")
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise VectorError(f"{where}.{key}: expected {expected}, got {value!r}")
    if not isinstance(value, kind):
        raise VectorError(f"{where}.{key}: expected {expected}, got {type(value).__name__}")
    return value


def int_list(obj: dict, key: str, where: str, n: int | None, *, minimum: int = 0) -> np.ndarray:
    values = need(obj, key, where, list, "a list of integers")
    ok = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values)
    if not ok or any(v < minimum for v in values):
        raise VectorError(f"{where}.{key}: expected integers >= {minimum}")
    if n is not None and len(values) != n:
        raise VectorError(f"{where}.{key}: expected {n} entries (one per uid), got {len(values)}")
    return np.asarray(values, dtype=np.int64)


def sparse_rows(obj: dict, key: str, where: str, n: int) -> SparseRows:
    rows = need(obj, key, where, list, f"a list of {n} rows of [uid, u16] pairs")
    if len(rows) != n:
        raise VectorError(f"{where}.{key}: expected {n} rows, got {len(rows)}")
    for i, row in enumerate(rows):
        pairs_ok = isinstance(row, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, int) for x in p) for p in row
        )
        if not pairs_ok:
            raise VectorError(f"{where}.{key}[{i}]: expected a list of [uid, u16] pairs")
        if any(not (0 <= u < n and 0 <= v <= U16_MAX) for u, v in row):
            raise VectorError(f"{where}.{key}[{i}]: uid must be < {n} and value a u16")
    return SparseRows.from_lists(rows, n)


def epoch_params(vector: dict, where: str) -> tuple[EpochParams, list[str]]:
    """The vector's hyperparameters, and the names of those this package does not read
    (reported with the result: if one of them mattered, the numbers will not match)."""
    hp = need(vector, "hyperparams", where, dict, "an object of hyperparameters")
    values = {}
    for spec in fields(EpochParams):
        if spec.name not in hp:
            continue
        value = hp[spec.name]
        if spec.name == "owner_uid" and value is None:
            values[spec.name] = None
            continue
        kind = bool if isinstance(spec.default, bool) else int
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise VectorError(f"{where}.hyperparams.{spec.name}: expected {kind.__name__}")
        values[spec.name] = value
    ignored = sorted(set(hp) - PARAM_NAMES - set(IGNORED_HYPERPARAMS))
    return EpochParams(**values), ignored


def apply_pre_ops(ops, where: str, bonds: SparseRows, permit: np.ndarray) -> SparseRows:
    if not isinstance(ops, list):
        raise VectorError(f"{where}.pre_ops: expected a list of operations")
    for k, op in enumerate(ops):
        at = f"{where}.pre_ops[{k}]"
        kind = need(op, "op", at, str, "'replace_neuron' or 'reset_bonds_column'")
        uid = need(op, "uid", at, int, "a uid")
        if not 0 <= uid < bonds.n:
            raise VectorError(f"{at}.uid: expected a uid below {bonds.n}")
        if kind == "replace_neuron":
            keep = bonds.rows != uid
            permit[uid] = False
        elif kind == "reset_bonds_column":
            keep = bonds.cols != uid
        else:
            raise VectorError(f"{at}.op: expected 'replace_neuron' or 'reset_bonds_column'")
        bonds = SparseRows(bonds.n, bonds.rows[keep], bonds.cols[keep], bonds.vals[keep])
    return bonds


def _compare(problems, label, got, want, tol) -> float:
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        problems.append(f"{label}: expected {want.size} values, computed {got.size}")
        return float("inf")
    diff = float(np.max(np.abs(got - want))) if got.size else 0.0
    if diff > tol:
        worst = int(np.argmax(np.abs(got - want)))
        problems.append(f"{label}[{worst}] = {got.flat[worst]:g}, expected {want.flat[worst]:g}")
    return diff


def _expected_key(key: str) -> tuple[str, str]:
    """(output name, form) of an `expected` key, in the forms SPEC §12 names:
    `NAME_u16` (a full u16 vector), `NAME` (raw units or proportions), `NAME_check` and
    `NAME_u16_check` (a list of [uid, value] or, on bonds, [row, col, value] entries)."""
    if key.endswith("_check"):
        base = key.removesuffix("_check")
        return (
            (base.removesuffix("_u16"), "u16_check") if base.endswith("_u16") else (base, "check")
        )
    if key.endswith("_u16"):
        return key.removesuffix("_u16"), "u16"
    return key, "plain"


def check_expected(out: EpochOutput, expected: dict, tol: dict, mode: str, where: str):
    """Compare one step's output with its `expected` object."""
    widen = FLOAT_MODE_UNITS if mode == "float" else 0
    tol_u16 = max(tol.get("u16", 0), widen)
    tol_raw = max(tol.get("emission", 0), widen)
    problems: list[str] = []
    diff = 0.0
    bonds_dense = out.bonds.dense()
    for key, want in expected.items():
        if key in INFORMATIONAL:
            continue
        name, form = _expected_key(key)
        if form == "u16" and name in U16_OUTPUTS:
            got = getattr(out, f"{name}_u16")
            diff = max(diff, _compare(problems, key, got, want, tol_u16))
        elif form == "u16" and name == "bonds":
            diff = max(diff, _compare(problems, key, bonds_dense, _dense_bonds(want, out), tol_u16))
        elif form == "plain" and name in RAW_OUTPUTS:
            diff = max(diff, _compare(problems, key, getattr(out, key), want, tol_raw))
        elif form == "plain" and name in U16_OUTPUTS:
            # proportions, compared as the chain's tests do: u16 / 65535
            got = getattr(out, f"{key}_u16") / U16_MAX
            diff = max(diff, _compare(problems, key, got, want, tol.get(key, 0.0)))
        elif form == "plain" and name == "validator_permit":
            diff = max(diff, _compare(problems, key, out.validator_permit, want, 0))
        elif form == "check" and name in (*U16_OUTPUTS, *RAW_OUTPUTS, "bonds"):
            entries = _check_list(want, name, out.bonds.n, f"{where}.expected.{key}")
            diff = max(diff, _check_entries(problems, out, bonds_dense, name, entries, tol, mode))
        elif form == "u16_check" and name in (*U16_OUTPUTS, "bonds"):
            entries = _check_list(want, name, out.bonds.n, f"{where}.expected.{key}")
            diff = max(
                diff, _check_entries(problems, out, bonds_dense, name, entries, tol, mode, True)
            )
        else:
            problems.append(f"expected.{key} names no output this package computes")
    return diff, problems


def _dense_bonds(want, out: EpochOutput) -> np.ndarray:
    if want and isinstance(want[0], list) and want[0] and isinstance(want[0][0], list):
        return SparseRows.from_lists(want, out.bonds.n).dense()
    return np.asarray(want)


def _check_list(entries, name: str, n: int, where: str) -> list[list]:
    """The entries of a `*_check` key: [uid, value], or [row, col, value] on bonds."""
    size = 3 if name == "bonds" else 2
    shape = "[row, col, value]" if name == "bonds" else "[uid, value]"
    if not isinstance(entries, list):
        raise VectorError(f"{where}: expected a list of {shape} entries")
    for k, entry in enumerate(entries):
        ok = (
            isinstance(entry, list)
            and len(entry) == size
            and all(isinstance(x, int) and not isinstance(x, bool) for x in entry[:-1])
            and isinstance(entry[-1], numbers.Real)
            and not isinstance(entry[-1], bool)
        )
        if not ok:
            raise VectorError(f"{where}[{k}]: expected {shape} with integer indices")
        if not all(0 <= index < n for index in entry[:-1]):
            raise VectorError(f"{where}[{k}]: indices must be uids below {n}")
    return entries


def _check_entries(problems, out, bonds_dense, name, entries, tol, mode, u16=False) -> float:
    """Compare listed entries; `u16` (a `*_u16_check` key) says the values are u16 units,
    otherwise a non-integer value is a proportion of 65535."""
    widen = FLOAT_MODE_UNITS if mode == "float" else 0
    diff = 0.0
    for entry in entries:
        *index, want = entry
        if name == "bonds":
            got_u16, label = bonds_dense[index[0], index[1]], f"bonds[{index[0]}][{index[1]}]"
        elif name in RAW_OUTPUTS:
            got_u16, label = getattr(out, name)[index[0]], f"{name}[{index[0]}]"
        else:
            got_u16, label = getattr(out, f"{name}_u16")[index[0]], f"{name}[{index[0]}]"
        proportion = not u16 and isinstance(want, float) and not float(want).is_integer()
        if proportion and name not in RAW_OUTPUTS:
            got, limit = got_u16 / U16_MAX, tol.get(name, tol.get("u16", 0) / U16_MAX)
        else:
            key = "emission" if name in RAW_OUTPUTS else "u16"
            got, limit = got_u16, max(tol.get(key, 0), widen)
        diff = max(diff, _compare(problems, label, [got], [want], limit))
    return diff


def run_epoch_vector(vector: dict, mode: str):
    where = f"vector {vector['name']!r}"
    params, ignored = epoch_params(vector, where)
    n = need(vector, "n", where, int, "the number of uids")
    stake = int_list(vector, "stake", where, n)
    permit = np.asarray(need(vector, "validator_permit", where, list, "a list of bools"), bool)
    if permit.shape != (n,):
        raise VectorError(f"{where}.validator_permit: expected {n} booleans")
    bonds = sparse_rows(vector, "initial_bonds_u16_sparse", where, n)
    tol = vector.get("tolerance", {})
    if not isinstance(tol, dict):
        raise VectorError(f"{where}.tolerance: expected an object of tolerances")
    steps = need(vector, "steps", where, list, "a list of epoch steps")
    diff, problems = 0.0, []
    for s, step in enumerate(steps):
        at = f"{where}.steps[{s}]"
        if not isinstance(step, dict):
            raise VectorError(f"{at}: expected an object")
        if "stake" in step:
            stake = int_list(step, "stake", at, n)
        bonds = apply_pre_ops(step.get("pre_ops", []), at, bonds, permit)
        commit_key = "commit_blocks" if "commit_blocks" in step else "commit_block"
        commit = step.get(commit_key)
        inp = EpochInput(
            current_block=need(step, "current_block", at, int, "a block number"),
            stake=stake,
            validator_permit=permit,
            weights=sparse_rows(step, "weights_u16_sparse", at, n),
            bonds=bonds,
            last_update=int_list(step, "last_update", at, n),
            block_at_registration=int_list(step, "block_at_registration", at, n),
            rao_emission=need(step, "rao_emission", at, int, "raw units"),
            commit_block=None if commit is None else int_list(step, commit_key, at, n, minimum=-1),
            last_mechanism_step_block=step.get("last_mechanism_step_block", 0),
        )
        repeat = need(step, "repeat", at, int, "a positive count") if "repeat" in step else 1
        for _ in range(max(repeat, 1)):
            try:
                out = run_epoch(inp, params, mode)
            except ValueError as exc:
                raise VectorError(f"{at}: the epoch refused its input: {exc}") from None
            permit = out.validator_permit.copy()
            # The next repeat reads what this epoch stored, as the chain would.
            inp = replace(inp, validator_permit=permit, bonds=out.bonds)
        bonds = out.bonds
        # A step whose `expected` is absent or null asserts nothing (SPEC §12: optional).
        expected = step.get("expected")
        if expected is None:
            expected = {}
        if not isinstance(expected, dict):
            raise VectorError(f"{at}.expected: expected an object")
        try:
            step_diff, step_problems = check_expected(out, expected, tol, mode, at)
        except VectorError:
            raise
        except (TypeError, ValueError) as exc:
            raise VectorError(f"{at}.expected: values must be numbers ({exc})") from None
        diff = max(diff, step_diff)
        problems += [f"step {s}: {p}" for p in step_problems]
    notes = [f"ignored hyperparameters {ignored}"] if ignored else []
    return diff, problems, notes


COINBASE_FIELDS = {
    "pending_owner_cut": "owner_cut",
    "pending_server_emission": "server",
    "pending_validator_emission": "validator",
    "pending_root_alpha_divs": "root",
}


def run_coinbase(vector: dict):
    """coinbase.split (and coinbase.block_emission); None for a kind this package cannot map."""
    where = f"vector {vector['name']!r}"
    inputs = need(vector, "inputs", where, dict, "an object of inputs")
    expected = need(vector, "expected", where, dict, "an object of expected amounts")
    tol = vector.get("tolerance", 0)
    problems: list[str] = []
    if vector["kind"] == "coinbase.block_emission":
        issuance = np.atleast_1d(need(inputs, "alpha_issuance", where, (int, list), "raw units"))
        got = [alpha_block_emission(int(i)) for i in issuance]
        want = np.atleast_1d(need(expected, "block_emission", where, (int, list), "raw units"))
        return _compare(problems, "block_emission", got, want, tol), problems
    if vector["kind"] != "coinbase.split":
        return None
    alpha_out = need(inputs, "alpha_out_per_block", where + ".inputs", int, "raw units")
    cuts = np.atleast_1d(inputs.get("subnet_owner_cut_u16", 11_796))
    root = float(inputs.get("root_proportion", 0.0))
    blocks = int(inputs.get("blocks", 1))
    splits = [split_block_emission(alpha_out, int(c), root) for c in cuts]
    diff = 0.0
    for key, want in expected.items():
        field = COINBASE_FIELDS.get(key)
        if field is None:
            raise VectorError(f"{where}.expected.{key}: not a known pending amount")
        got = [getattr(sp, field) * blocks for sp in splits]
        diff = max(diff, _compare(problems, key, got, np.atleast_1d(want), tol))
    return diff, problems


def _compare_in_mode(ar, problems, label, got, want, tol) -> float:
    """Compare in the mode's own numbers, as the chain's tests compare I32F32 values: the
    expected f32 literals and the tolerance are converted with from_num first."""
    want_m = ar.from_float(_f32(want))
    tol_m = ar.from_float(np.float64(tol))
    _compare(problems, label, got, want_m, tol_m)
    got_f, want_f = ar.to_float(got), ar.to_float(want_m)
    return float(np.max(np.abs(got_f - want_f))) if np.size(got_f) else 0.0


def _f32(values) -> np.ndarray:
    """The tests write f32 literals; their exact f32 values are what the chain converts."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def _weighted_median(vector: dict, mode: str):
    ar = backend(mode)
    inputs, expected = vector["inputs"], vector["expected"]
    stake = ar.from_float(_f32(inputs["stake"]))
    score = ar.from_float(_f32(inputs["score"]))
    total = ar.sum(stake) if stake.size else ar.zero
    majority = ar.from_float(_f32(inputs.get("majority", 0.0)))

    def given(key: str, default):
        value = inputs.get(key)
        return ar.from_float(_f32(value)) if isinstance(value, numbers.Real) else default

    minority = given("minority", total - majority)
    lo = given("partition_lo", ar.zero)
    hi = given("partition_hi", total)
    got = partition_search(stake, score[:, None], minority, lo, hi, ar.name == "exact")
    want = ar.from_float(_f32([expected["median"]]))
    problems: list[str] = []
    diff = _compare(problems, "median", ar.to_float(got), ar.to_float(want), vector["tolerance"])
    return diff, problems


def _weighted_median_col(vector: dict, mode: str):
    ar = backend(mode)
    inputs = vector["inputs"]
    stake = ar.from_float(_f32(inputs["stake"]))
    weights = ar.from_float(_f32(inputs["weights"]))
    got = weighted_median_col(ar, stake, weights, ar.from_float(_f32(inputs["majority"])))
    want = ar.from_float(_f32(vector["expected"]["median"]))
    problems: list[str] = []
    diff = _compare(problems, "median", ar.to_float(got), ar.to_float(want), vector["tolerance"])
    return diff, problems


def _max_upscale(vector: dict, mode: str):
    problems: list[str] = []
    got = max_upscale_u16(np.asarray(vector["inputs"]["values"], dtype=np.int64))
    diff = _compare(problems, "result", got, vector["expected"]["result"], vector["tolerance"])
    return diff, problems


def _is_topk(vector: dict, mode: str):
    ar = backend(mode)
    values = ar.from_float(_f32(vector["inputs"]["vector"]))
    got = is_topk(values, int(vector["inputs"]["k"]))
    problems: list[str] = []
    return _compare(problems, "result", got, vector["expected"]["result"], 0), problems


def _mat_ema_alpha(vector: dict, mode: str):
    ar = backend(mode)
    inputs = vector["inputs"]
    old = ar.from_float(_f32(inputs["old"]))
    new = ar.from_float(_f32(inputs["new"]))
    alpha = np.full(new.shape, ar.from_float(_f32([inputs["alpha_all"]]))[0])
    dense = vector["kind"].endswith("dense")
    new_has = np.ones(new.shape, bool) if dense else new != 0
    old_has = np.ones(old.shape, bool) if dense else old != 0
    got, _ = ema_liquid(ar, new, new_has, np.where(old_has, old, ar.zero), alpha)
    problems: list[str] = []
    want = vector["expected"]["result"]
    return _compare_in_mode(ar, problems, "result", got, want, vector["tolerance"]), problems


def _liquid_alpha_equal(vector: dict, mode: str):
    """compute_bonds with alpha_low == alpha_high equals the constant-alpha EMA (dense path)."""
    ar = backend(mode)
    inputs = vector["inputs"]
    weights = ar.from_float(_f32(inputs["weights"]))
    bonds = ar.from_float(_f32(inputs["bonds"]))
    columns = weights.shape[1]
    consensus = ar.from_float(_f32(inputs["consensus"]))[:columns]  # zip truncates
    low = ar.ratio(int(inputs["alpha_low_u16"]), U16_MAX)
    high = ar.ratio(int(inputs["alpha_high_u16"]), U16_MAX)
    steep = int(inputs["alpha_sigmoid_steepness"])
    everything = np.ones(weights.shape, bool)
    if consensus.size < columns:
        liquid = weights  # mat_ema_alpha returns `new` when the alpha rows are too short
    else:
        alpha = alpha_sigmoid(ar, consensus[None, :], weights, bonds, low, high, steep)
        liquid, _ = ema_liquid(ar, weights, everything, bonds, alpha)
    constant = ar.one_minus_bma(int(inputs["bonds_moving_average"]))
    plain = ar.mul(constant, weights) + ar.mul(ar.one - constant, bonds)
    problems: list[str] = []
    got, want = ar.to_float(liquid), ar.to_float(plain)
    return _compare(problems, "liquid vs constant", got, want, vector["tolerance"]), problems


PRIMITIVES = {
    "primitive.weighted_median": _weighted_median,
    "primitive.weighted_median_col": _weighted_median_col,
    "primitive.vec_u16_max_upscale_to_u16": _max_upscale,
    "primitive.is_topk": _is_topk,
    "primitive.mat_ema_alpha_dense": _mat_ema_alpha,
    "primitive.mat_ema_alpha_sparse": _mat_ema_alpha,
    "primitive.compute_bonds_liquid_alpha_equal": _liquid_alpha_equal,
}
