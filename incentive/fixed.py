"""The two numeric modes of the epoch behind one small interface.

`Exact` emulates substrate-fixed's I32F32 on int64 numpy arrays holding the raw bits (value =
bits / 2^32), with the rounding rules of SPEC §1: a product is `(a*b) >> 32` (floor), a quotient
is `(a << 32) / b` truncated toward zero and 0 on division by zero (`safe_div`), a conversion to
an integer drops the fraction (floor), `from_num(float)` rounds half to even. Products of two
I32F32 need up to 128 bits; they are computed from 32-bit halves so everything stays vectorised.

`Float` is the same interface on float64: fast, and within one unit of the last place of the
chain's u16 and raw-unit outputs (SPEC §10).
"""

from __future__ import annotations

import numpy as np

from incentive.types import U16_MAX

FRAC_BITS = 32
ONE_BITS = 1 << FRAC_BITS
HALF_BITS = 1 << (FRAC_BITS - 1)
LOW_MASK = ONE_BITS - 1
I64_MAX = (1 << 63) - 1
I64_MIN = -(1 << 63)
U64_MAX = (1 << 64) - 1
EXP_INPUT_LIMIT = 20  # exp_safe clamps its input to [-20, 20] (math.rs exp_safe)
TAYLOR_LAST_TERM = FRAC_BITS - 1  # substrate-fixed exp sums terms 2..frac_nbits-1
# substrate-fixed's E constant is I9F23: floor(e * 2^23) / 2^23, widened to I32F32.
E_I9F23_BITS = 22_802_600
E_BITS = E_I9F23_BITS << (FRAC_BITS - 23)
GRID = float(ONE_BITS)
# float64 estimates of a product or quotient are within one unit below these bounds, so one
# exact integer correction step (on wrapping 64-bit arithmetic) gives the chain's result.
ESTIMATE_PRODUCT_LIMIT = 1 << 83
ESTIMATE_QUOTIENT_LIMIT = 1 << 17  # quotient value; its I32F32 bits stay below 2^49
ESTIMATE_DEN_LIMIT = 1 << 61


def _as_i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _absmax(x: np.ndarray) -> int:
    if x.size == 0:
        return 0
    return max(abs(int(x.max())), abs(int(x.min())))


def fixed_mul(a, b) -> np.ndarray:
    """I32F32 saturating multiply on raw bits: floor(a*b / 2^32), clamped to the i64 range."""
    a, b = np.broadcast_arrays(_as_i64(a), _as_i64(b))
    if a.size == 0:
        return np.zeros(a.shape, dtype=np.int64)
    amax, bmax = _absmax(a), _absmax(b)
    if amax * bmax <= I64_MAX:
        return (a * b) >> FRAC_BITS  # numpy's >> on int64 is arithmetic: floor
    if amax * bmax < ESTIMATE_PRODUCT_LIMIT:
        return _mul_estimated(a, b)
    return _mul_wide(a, b)


def _mul_estimated(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """floor(a*b / 2^32) from a float64 estimate (off by at most one below the limit),
    corrected with the exact low 64 bits of the product (int64 arithmetic wraps mod 2^64)."""
    estimate = np.floor(a.astype(np.float64) * b.astype(np.float64) / ONE_BITS).astype(np.int64)
    with np.errstate(over="ignore"):
        remainder = a * b - (estimate << FRAC_BITS)  # the true remainder lies in (-2^32, 2^33)
    return estimate - (remainder < 0) + (remainder >= ONE_BITS)


def _mul_wide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """floor(a*b / 2^32) for any int64 a, b via 32-bit halves, saturating at the i64 bounds."""
    ah, al = a >> FRAC_BITS, a & LOW_MASK
    bh, bl = b >> FRAC_BITS, b & LOW_MASK
    low = ((al.astype(np.uint64) * bl.astype(np.uint64)) >> np.uint64(FRAC_BITS)).astype(np.int64)
    with np.errstate(over="ignore"):
        out = ((ah * bh) << FRAC_BITS) + ah * bl + al * bh + low
    approx = a.astype(np.float64) * b.astype(np.float64) / ONE_BITS
    out = np.where(approx >= 2.0**63, I64_MAX, out)
    return np.where(approx < -(2.0**63), I64_MIN, out)


def _frac_quotient(rem: np.ndarray, den: np.ndarray, shift: int) -> np.ndarray:
    """floor(rem * 2^shift / den) for 0 <= rem < den (uint64), by long division in chunks."""
    chunk = 64 - int(den.max()).bit_length()  # rem << chunk still fits in 64 bits
    quo = np.zeros(rem.shape, dtype=np.uint64)
    left = shift
    while left > 0:
        step = min(chunk, left)
        rem = rem << np.uint64(step)
        quo = (quo << np.uint64(step)) | (rem // den)
        rem = rem % den
        left -= step
    return quo


def fixed_div(a, b) -> np.ndarray:
    """I32F32 `safe_div`: (a << 32) / b truncated toward zero; 0 where b == 0 or on overflow."""
    a, b = np.broadcast_arrays(_as_i64(a), _as_i64(b))
    if a.size == 0:
        return np.zeros(a.shape, dtype=np.int64)
    zero_den = b == 0
    den = np.where(zero_den, 1, b)
    negative = (a < 0) != (den < 0)
    ua, ub = np.abs(a), np.abs(den)
    if _absmax(a) < (1 << 31):
        mag = (ua << FRAC_BITS) // ub
    elif (
        int(ub.max()) < ESTIMATE_DEN_LIMIT
        and int(ub.min()) > 0
        and (int(ua.max()) // int(ub.min()) < ESTIMATE_QUOTIENT_LIMIT)
    ):
        mag = _div_estimated(ua, ub)
    else:
        mag = _div_long(ua, ub)
    overflow = mag == I64_MAX  # beyond the I32F32 range: checked_div fails, safe_div gives 0
    out = np.where(negative, -mag, mag)
    return np.where(zero_den | overflow, 0, out)


def _div_estimated(ua: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """floor(ua * 2^32 / ub) for ua >= 0, ub > 0: float64 estimate, then exact correction."""
    estimate = np.floor(ua.astype(np.float64) / ub.astype(np.float64) * ONE_BITS)
    quo = estimate.astype(np.int64)
    with np.errstate(over="ignore"):
        remainder = (ua << FRAC_BITS) - quo * ub  # true remainder in (-ub, 2ub): no wrap left
    return quo - (remainder < 0) + (remainder >= ub)


def _div_long(ua: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """floor(ua * 2^32 / ub) by long division in chunks, for any non-negative int64."""
    uua, uub = ua.astype(np.uint64), ub.astype(np.uint64)
    whole, rem = uua // uub, uua % uub
    frac = _frac_quotient(rem, uub, FRAC_BITS)
    big = whole >= np.uint64(1 << 31)
    mag = ((np.where(big, 0, whole) << np.uint64(FRAC_BITS)) | frac).astype(np.int64)
    return np.where(big, I64_MAX, mag)


def div_floor_shift(num: np.ndarray, den: int, shift: int) -> np.ndarray:
    """floor(num * 2^shift / den) for non-negative int64 num and a positive integer den."""
    num = _as_i64(num)
    if den <= 0:
        raise ValueError("den must be positive")
    if den >= 1 << 63:
        raise ValueError("den must fit in 63 bits")
    un = num.astype(np.uint64)
    ud = np.full(num.shape, den, dtype=np.uint64)
    whole, rem = un // ud, un % ud
    frac = _frac_quotient(rem, ud, shift)
    return ((whole << np.uint64(shift)) | frac).astype(np.int64)


def from_float_bits(x) -> np.ndarray:
    """`I32F32::from_num(float)`: the nearest multiple of 2^-32, ties to even (exact for f64)."""
    return np.rint(np.asarray(x, dtype=np.float64) * ONE_BITS).astype(np.int64)


class Exact:
    """Chain-exact arithmetic: arrays are int64 I32F32 bits."""

    name = "exact"
    dtype = np.int64
    zero = 0
    one = ONE_BITS

    @staticmethod
    def from_int(x) -> np.ndarray:
        return _as_i64(x) << FRAC_BITS

    @staticmethod
    def from_float(x) -> np.ndarray:
        return from_float_bits(x)

    @staticmethod
    def to_float(x) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) / ONE_BITS

    mul = staticmethod(fixed_mul)
    div = staticmethod(fixed_div)

    @staticmethod
    def sum(x, axis=None):
        return np.sum(_as_i64(x), axis=axis)

    @staticmethod
    def to_u16(x) -> np.ndarray:
        """fixed_proportion_to_u16: floor(x * 65535), saturating to [0, 65535]."""
        x = np.clip(_as_i64(x), -ONE_BITS, 2 * ONE_BITS)  # outside [0, 1] saturates anyway
        return np.clip((x * U16_MAX) >> FRAC_BITS, 0, U16_MAX)

    @staticmethod
    def int_ratio(num, den) -> np.ndarray:
        """I32F32(num) / I32F32(den) for integers num >= 0, den > 0: floor(num * 2^32 / den)."""
        return (_as_i64(num) << FRAC_BITS) // _as_i64(den)

    @staticmethod
    def u16_proportion(u) -> np.ndarray:
        """u16 / 65535 as the chain computes it (I32F32 division, truncated)."""
        return (_as_i64(u) << FRAC_BITS) // U16_MAX

    @staticmethod
    def ratio(num: int, den: int):
        """I32F32::from(num).safe_div(I32F32::from(den)) for small non-negative integers."""
        return 0 if den == 0 else (num << FRAC_BITS) // den

    @staticmethod
    def stake_weights(raw: np.ndarray) -> np.ndarray:
        """Normalise raw stake in I64F64, then truncate to I32F32: floor(v * 2^32 / sum)."""
        fits = raw.size == 0 or int(raw.max()) < (1 << 62) // raw.size
        total = int(raw.sum()) if fits else int(raw.sum(dtype=object))
        if total == 0:
            return np.zeros(raw.shape, dtype=np.int64)
        if total >= 1 << 63:
            raise ValueError("total stake exceeds the chain's 64-bit range")
        return div_floor_shift(raw, total, FRAC_BITS)

    @staticmethod
    def one_minus_bma(bonds_moving_average: int):
        """1 - I32F32(I64F64(bma) / 1e6): the EMA weight of new observations."""
        per_million = 1_000_000
        return ONE_BITS - (bonds_moving_average << FRAC_BITS) // per_million

    @staticmethod
    def to_raw_units(p: np.ndarray, amount: int) -> np.ndarray:
        """floor(I96F32(p) * amount): p's bits times an integer amount, shifted down, saturating."""
        p = np.maximum(_as_i64(p), 0).astype(np.uint64)
        hi, lo = np.uint64(amount >> FRAC_BITS), np.uint64(amount & LOW_MASK)
        with np.errstate(over="ignore"):
            part_lo = (p * lo) >> np.uint64(FRAC_BITS)
            part_hi = p * hi
            total = part_hi + part_lo
        approx = p.astype(np.float64) * float(amount) / ONE_BITS
        total = np.where(approx >= 2.0**63, np.uint64(I64_MAX), total)
        return np.minimum(total, np.uint64(I64_MAX)).astype(np.int64)

    @staticmethod
    def exp_safe(x) -> np.ndarray:
        """substrate-fixed `exp` (Taylor series, reciprocal for negatives) with exp_safe's clamp."""
        x = np.clip(_as_i64(x), -EXP_INPUT_LIMIT << FRAC_BITS, EXP_INPUT_LIMIT << FRAC_BITS)
        neg = x < 0
        op = np.abs(x)
        result = op + ONE_BITS
        term = op.copy()
        for i in range(2, TAYLOR_LAST_TERM + 1):
            term = fixed_mul(term, op) // i  # checked_div by I32F32(i): floor for term >= 0
            result = result + term
        inv = fixed_div(ONE_BITS, np.where(result == 0, 1, result))
        result = np.where(neg, inv, result)
        result = np.where(x == 0, ONE_BITS, result)
        return np.where(x == ONE_BITS, E_BITS, result)


def _grid_floor(x):
    """Round down to the I32F32 grid (multiples of 2^-32), in float64."""
    return np.floor(np.multiply(x, GRID)) / GRID


def _grid_trunc(x):
    """Round toward zero to the I32F32 grid, in float64."""
    return np.trunc(np.multiply(x, GRID)) / GRID


class Float:
    """float64 arithmetic with the same interface.

    Where the chain truncates (every product, quotient and conversion), the result is rounded
    to the same 2^-32 grid, so the float path follows the chain's systematic rounding instead of
    drifting from it; what remains is float64's own rounding, at most a unit in the last place.
    """

    name = "float"
    dtype = np.float64
    zero = 0.0
    one = 1.0

    @staticmethod
    def from_int(x) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    @staticmethod
    def from_float(x) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    @staticmethod
    def to_float(x) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    @staticmethod
    def mul(a, b):
        return _grid_floor(np.multiply(a, b))

    @staticmethod
    def div(a, b):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        nonzero = b != 0
        if np.all(nonzero):
            return _grid_trunc(a / b)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _grid_trunc(np.where(nonzero, a / np.where(nonzero, b, 1.0), 0.0))

    @staticmethod
    def sum(x, axis=None):
        return np.sum(x, axis=axis)

    @staticmethod
    def to_u16(x) -> np.ndarray:
        return np.clip(np.floor(np.asarray(x) * U16_MAX), 0, U16_MAX).astype(np.int64)

    @staticmethod
    def u16_proportion(u) -> np.ndarray:
        return _grid_floor(np.asarray(u, dtype=np.float64) / U16_MAX)

    @staticmethod
    def int_ratio(num, den) -> np.ndarray:
        return _grid_floor(np.asarray(num, dtype=np.float64) / den)

    @staticmethod
    def ratio(num: int, den: int):
        return 0.0 if den == 0 else float(_grid_floor(num / den))

    @staticmethod
    def stake_weights(raw: np.ndarray) -> np.ndarray:
        total = float(raw.sum(dtype=np.float64))
        if total == 0:
            return np.zeros(raw.shape)
        return _grid_floor(raw.astype(np.float64) / total)

    @staticmethod
    def one_minus_bma(bonds_moving_average: int):
        return 1.0 - float(_grid_floor(bonds_moving_average / 1_000_000))

    @staticmethod
    def to_raw_units(p: np.ndarray, amount: int) -> np.ndarray:
        return np.floor(np.maximum(p, 0.0) * float(amount)).astype(np.int64)

    @staticmethod
    def exp_safe(x) -> np.ndarray:
        """The chain's Taylor-series exp on the 2^-32 grid (np.exp differs by tens of units in
        the last place, enough to move liquid-alpha dividends by a few raw units)."""
        x = np.clip(np.asarray(x, dtype=np.float64), -EXP_INPUT_LIMIT, EXP_INPUT_LIMIT)
        op = np.abs(x)
        result = op + 1.0
        term = op.copy()
        for i in range(2, TAYLOR_LAST_TERM + 1):
            term = _grid_floor(_grid_floor(term * op) / i)
            result = result + term
        with np.errstate(divide="ignore"):
            inverse = _grid_trunc(1.0 / result)
        result = np.where(x < 0, inverse, result)
        result = np.where(x == 0, 1.0, result)
        return np.where(x == 1.0, E_BITS / GRID, result)


MODES = {"exact": Exact, "float": Float}


def backend(mode: str):
    try:
        return MODES[mode]
    except KeyError:
        raise ValueError(f"mode must be 'exact' or 'float', not {mode!r}") from None
