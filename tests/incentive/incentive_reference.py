"""Literal, slow ports of chain functions, used as oracles by the incentive tests.

They follow the Rust code line by line on Python integers (I32F32 bits), with none of the
vectorisation tricks of the package, so an agreement between the two is evidence that the
tricks are sound.
"""

from __future__ import annotations

FRAC = 32
ONE = 1 << FRAC


def mul(a: int, b: int) -> int:
    return (a * b) >> FRAC  # Python's >> floors, like the arithmetic shift


def div(a: int, b: int) -> int:
    """safe_div: truncation toward zero, 0 when b == 0."""
    if b == 0:
        return 0
    num = a << FRAC
    quo = abs(num) // abs(b)
    return -quo if (num < 0) != (b < 0) else quo


def weighted_median(stake, score, partition, minority, lo, hi) -> int:
    """math.rs `weighted_median`, recursive form."""
    n = len(partition)
    if n == 0:
        return 0
    if n == 1:
        return score[partition[0]]
    pivot = score[partition[n // 2]]
    lo_stake = hi_stake = 0
    lower, upper = [], []
    for idx in partition:
        if score[idx] == pivot:
            continue
        if score[idx] < pivot:
            lo_stake += stake[idx]
            lower.append(idx)
        else:
            hi_stake += stake[idx]
            upper.append(idx)
    if lo + lo_stake <= minority < hi - hi_stake:
        return pivot
    if minority < lo + lo_stake and lower:
        return weighted_median(stake, score, lower, minority, lo, lo + lo_stake)
    if hi - hi_stake <= minority and upper:
        return weighted_median(stake, score, upper, minority, hi - hi_stake, hi)
    return pivot


def exp_fixed(x: int) -> int:
    """substrate-fixed `exp` for I32F32 bits (Taylor series, reciprocal for negatives)."""
    if x == 0:
        return ONE
    if x == ONE:
        return 22_802_600 << (FRAC - 23)  # the I9F23 constant E
    neg = x < 0
    op = -x if neg else x
    result = op + ONE
    term = op
    for i in range(2, FRAC):
        term = mul(term, op)
        term = div(term, i << FRAC)
        result += term
    return div(ONE, result) if neg else result


def liquid_alpha_inputs(row, columns: int):
    """compute_liquid_alpha_values_sparse's peek iterator over one stored row: the value it
    reads for each column 0..columns-1 (0 where it finds nothing)."""
    found = [0] * columns
    it = 0
    for j in range(columns):
        while it < len(row):
            uid, value = row[it]
            if uid < j:
                it += 1
                continue
            if uid == j:
                found[j] = value
            break
    return found
