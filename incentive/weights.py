"""From a validator's scores to the u16 weights it submits, and the chain's own weight checks.

`max_upscale_u16` and `max_weight_exceeded` are the chain's `vec_u16_max_upscale_to_u16` and
`check_vec_max_limited` (SPEC §3.2), bit for bit. `conform_weights` turns scores into
(uids, u16 weights) that pass set_weights: at least min(n, min_allowed_weights) entries, no
normalised weight above max_weight_limit after the chain's max-upscale, no duplicates, uids in
ascending order, and a higher score never gets a lower weight.
"""

from __future__ import annotations

import math

import numpy as np

from incentive.fixed import FRAC_BITS, HALF_BITS, fixed_div
from incentive.types import U16_MAX

UPSCALE_THRESHOLD = 32_768  # above this max the chain divides first, then multiplies
LIMIT_MARGIN_STEPS = 32  # retries, each with a slightly tighter cap, to absorb u16 rounding
LIMIT_MARGIN = 0.999


def _u16_array(name: str, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array")
    fractional = arr.size and not np.issubdtype(arr.dtype, np.integer)
    if fractional and (not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr))):
        raise ValueError(f"{name} must hold integers")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > U16_MAX):
        raise ValueError(f"{name} must hold u16 values (0..65535)")
    return arr


def max_upscale_u16(values: np.ndarray) -> np.ndarray:
    """vec_u16_max_upscale_to_u16: scale so the maximum becomes 65535, rounding half away from
    zero in I32F32 exactly as the chain does before storing weights."""
    v = _u16_array("values", values)
    if v.size == 0:
        return v
    top = int(v.max())
    if top == 0:
        return np.zeros_like(v)
    if top > UPSCALE_THRESHOLD:
        factor = (U16_MAX << FRAC_BITS) // top  # u16_max.safe_div(max)
        bits = v * factor  # I32F32(v) * factor: (v << 32) * factor >> 32
    else:
        bits = ((v * U16_MAX) << FRAC_BITS) // top  # (v * u16_max).safe_div(max)
    return np.minimum((bits + HALF_BITS) >> FRAC_BITS, U16_MAX)


def max_weight_exceeded(upscaled: np.ndarray, max_weight_limit_u16: int) -> bool:
    """The chain's max-weight check on stored (upscaled) weights: True if, normalised, the largest
    weight is above limit/65535. A limit of 65535 means no limit (the chain skips the check)."""
    v = _u16_array("upscaled", upscaled)
    if not 0 <= max_weight_limit_u16 <= U16_MAX:
        raise ValueError("max_weight_limit_u16 must be a u16 (0..65535)")
    if max_weight_limit_u16 == U16_MAX or v.size == 0:
        return False
    limit = (max_weight_limit_u16 << FRAC_BITS) // U16_MAX
    total = int(v.sum())
    if total == 0:
        return False
    top = fixed_div(np.int64(int(v.max()) << FRAC_BITS), np.int64(total << FRAC_BITS))
    return bool(top > limit)


def check_weights(uids, weights, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Refuse a weight vector the chain would refuse for its shape: returns int64 copies."""
    u = np.asarray(uids)
    w = np.asarray(weights)
    if u.ndim != 1 or w.ndim != 1 or u.shape != w.shape:
        raise ValueError("uids and weights must be 1-D arrays of the same length")
    if u.size and not np.issubdtype(u.dtype, np.integer):
        raise ValueError("uids must be integers")
    if u.size and (u.min() < 0 or u.max() >= n):
        raise ValueError(f"a uid is out of range: uids must be within 0..{n - 1}")
    if np.unique(u).size != u.size:
        raise ValueError("duplicate uids: each uid may appear once")
    if w.size and not np.all(np.isfinite(w.astype(np.float64))):
        raise ValueError("weights must be finite numbers")
    if w.size and np.any(w < 0):
        raise ValueError("weights must be non-negative")
    return u.astype(np.int64), w


def _check_scores(scores, n: int) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.shape[0] != n:
        raise ValueError(f"scores must be a 1-D array with one score per uid (n = {n})")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite: found NaN or infinity")
    if np.any(s < 0):
        raise ValueError("scores must be non-negative")
    return s


def _water_fill(values: np.ndarray, limit: float) -> np.ndarray:
    """Cap values at c so that c / Σ min(v, c) <= limit; returns min(v, c) (order kept).

    With the j largest values capped, c = limit · Σ(rest) / (1 - j·limit); the first j whose
    cap is at least the largest uncapped value is the answer.
    """
    if limit >= 1.0 or values.size == 0 or values.max() <= limit * values.sum():
        return values
    desc = np.sort(values)[::-1]
    m = desc.size
    tail = np.cumsum(desc[::-1])[::-1]  # tail[j] = Σ desc[j:]
    capped = np.arange(1, m)
    denominator = 1.0 - capped * limit
    with np.errstate(divide="ignore", invalid="ignore"):
        caps = limit * tail[1:] / denominator
    valid = (denominator > 0) & (caps >= desc[1:])
    if valid.any():
        return np.minimum(values, caps[np.argmax(valid)])
    # Every value capped: equal weights, the flattest distribution there is (the caller has
    # chosen enough uids for it to meet the real limit).
    return np.full_like(values, desc[-1])


def conform_weights(
    scores: np.ndarray, *, n: int, max_weight_limit_u16: int, min_allowed_weights: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (one per uid) to the (uids, u16 weights) a validator submits."""
    s = _check_scores(scores, n)
    if not 0 <= max_weight_limit_u16 <= U16_MAX:
        raise ValueError("max_weight_limit_u16 must be a u16 (0..65535)")
    if min_allowed_weights < 0:
        raise ValueError("min_allowed_weights must be non-negative")
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    limit = max_weight_limit_u16 / U16_MAX
    if limit * n < 1.0:
        raise ValueError(
            f"max_weight_limit {max_weight_limit_u16} cannot be met: even equal weights on all "
            f"{n} uids give each 1/{n}"
        )
    values = s.copy()
    if not np.any(values > 0):
        values[:] = 1.0  # nothing to say: equal weights on every uid
    needed = min(n, min_allowed_weights)
    target = limit
    for _ in range(LIMIT_MARGIN_STEPS):
        weights = _conform_once(values, limit, target, needed)
        if not max_weight_exceeded(weights[weights > 0], max_weight_limit_u16):
            uids = np.nonzero(weights > 0)[0]
            return uids.astype(np.int64), weights[uids].astype(np.int64)
        target *= LIMIT_MARGIN
    raise ValueError("could not round weights under max_weight_limit; raise the limit")


def _conform_once(values: np.ndarray, limit: float, target: float, needed: int) -> np.ndarray:
    """One attempt: choose the support for `limit`, cap at `target` (the limit, tightened on
    retries to absorb u16 rounding), scale to u16, add fillers."""
    chosen = values > 0
    if limit < 1.0:
        # Too few scored uids to stay under the limit: lift the lowest unscored uids to the
        # smallest positive score (never above any scored uid, so the order is kept).
        lacking = math.ceil(1.0 / limit - 1e-12) - int(chosen.sum())
        if lacking > 0:
            floor_value = values[chosen].min()
            extra = np.nonzero(~chosen)[0][:lacking]
            values = values.copy()
            values[extra] = floor_value
            chosen[extra] = True
    capped = np.zeros_like(values)
    capped[chosen] = _water_fill(values[chosen], target)
    top = capped.max()
    weights = np.zeros(values.shape, dtype=np.int64)
    weights[chosen] = np.maximum(np.floor(capped[chosen] / top * U16_MAX), 1).astype(np.int64)
    # min_allowed_weights counts entries: fill with the lowest unscored uids at weight 1.
    missing = needed - int(chosen.sum())
    if missing > 0:
        weights[np.nonzero(~chosen)[0][:missing]] = 1
    return weights
