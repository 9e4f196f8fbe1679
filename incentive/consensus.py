"""Stake-weighted kappa-quantile consensus and top-k permits, as the chain computes them.

The chain's `weighted_median` (math.rs) is a deterministic partition search: the pivot is the
middle element of the current partition (in uid order), stake strictly below and strictly above
the pivot decides whether to descend low, high, or stop. Elements equal to the pivot leave the
partition, so ties resolve exactly as the chain resolves them. Every partition it ever visits
is "the uids, in order, whose score lies strictly between two bounds", so the search is run for
all columns at once: one loop iteration is one search step for every column still searching.

The epoch itself calls `quantile_by_sorting`, which returns the same value as the search over
a whole column with one sort instead of up to V steps; why the two agree is written there, and
the tests check it against a line-by-line port of the recursive chain function, ties included.
`partition_search` remains the literal reproduction (and runs the primitive test vectors,
which start the search from arbitrary partition bounds).
"""

from __future__ import annotations

import numpy as np


def partition_search(stake, scores, minority, partition_lo, partition_hi, exact: bool):
    """The chain's `weighted_median` for every column of `scores` (V, k) at once.

    `stake` (V,) are the weights of the rows, `minority`, `partition_lo`, `partition_hi` scalars
    in the same units. Returns (k,) medians, 0 for an empty partition.
    """
    by_col = np.ascontiguousarray(np.asarray(scores).T)  # (k, V): one search per row
    n_cols, n_rows = by_col.shape
    dtype = np.int64 if exact else np.float64
    result = np.zeros(n_cols, dtype=dtype)
    if n_rows == 0 or n_cols == 0:
        return result
    # Stake sums of I32F32 bits stay below 2^53, so float64 products with 0/1 masks are exact.
    weights = np.asarray(stake, dtype=np.float64)
    big = np.iinfo(np.int64).max if exact else np.inf
    lower_bound = np.full(n_cols, -big, dtype=dtype)  # exclusive bounds of each partition
    upper_bound = np.full(n_cols, big, dtype=dtype)
    p_lo = np.full(n_cols, partition_lo, dtype=dtype)
    p_hi = np.full(n_cols, partition_hi, dtype=dtype)
    todo = np.arange(n_cols)
    # Each step removes at least the pivot, so n_rows steps always finish; the chain's own
    # iteration cap (the partition length) is therefore never reached.
    for _ in range(n_rows):
        sc = by_col[todo]
        inside = (sc > lower_bound[todo, None]) & (sc < upper_bound[todo, None])
        rank = np.cumsum(inside, axis=1, dtype=np.int32)
        # The pivot is the middle element of the partition in uid order: the first place where
        # the running count of partition members reaches count // 2 + 1.
        middle = rank[:, -1] // 2 + 1
        pivot = sc[np.arange(todo.size), np.argmax(rank == middle[:, None], axis=1)]
        below = inside & (sc < pivot[:, None])
        above = inside & (sc > pivot[:, None])
        lo_stake = (below @ weights).astype(dtype)
        hi_stake = (above @ weights).astype(dtype)
        lo_edge = p_lo[todo] + lo_stake
        hi_edge = p_hi[todo] - hi_stake
        go_low = (minority < lo_edge) & below.any(axis=1)
        go_high = ~go_low & (hi_edge <= minority) & above.any(axis=1)
        stop = ~(go_low | go_high)
        result[todo[stop]] = pivot[stop]
        low_cols, high_cols = todo[go_low], todo[go_high]
        upper_bound[low_cols] = pivot[go_low]
        p_hi[low_cols] = lo_edge[go_low]
        lower_bound[high_cols] = pivot[go_high]
        p_lo[high_cols] = hi_edge[go_high]
        todo = todo[~stop]
        if todo.size == 0:
            break
    return result


def quantile_by_sorting(stake, scores, minority, exact: bool) -> np.ndarray:
    """What `partition_search` returns when the partition is the whole column (lo = 0,
    hi = Σ stake), computed with one sort per column.

    Why they agree: at every step the search's lo + lo_stake is the total stake strictly below
    the pivot, B(x), and hi - hi_stake is B(x) + E(x) with E(x) the stake equal to x. It
    returns x exactly when B(x) <= minority < B(x) + E(x). Those intervals tile [0, Σ stake)
    one distinct value after another, so exactly one value qualifies, whatever the pivots on
    the way; when minority < 0 the search can only descend to the minimum, and when
    minority >= Σ stake only climb to the maximum. In sorted order that value is the first
    one whose cumulative stake exceeds minority (the maximum when none does). Sums are exact
    integers in both modes (on the 2^-32 grid in float mode), so ties resolve identically.
    """
    by_col = np.ascontiguousarray(np.asarray(scores).T)  # (k, V)
    n_cols, n_rows = by_col.shape
    if n_rows == 0:
        return np.zeros(n_cols, dtype=np.int64 if exact else np.float64)
    # The order inside a group of equal scores does not matter: whichever member's stake
    # crosses minority, the value returned is the group's common score.
    order = np.argsort(by_col, axis=1)
    cumulative = np.cumsum(np.asarray(stake)[order], axis=1)
    first = np.minimum((cumulative <= minority).sum(axis=1), n_rows - 1)
    cols = np.arange(n_cols)
    return by_col[cols, order[cols, first]]


def weighted_median_col(ar, stake: np.ndarray, scores: np.ndarray, majority) -> np.ndarray:
    """Column-wise consensus: the chain's `weighted_median_col(_sparse)`.

    `stake` (rows,) is the active stake, `scores` (rows, n) the row-normalised weights (0 where
    absent). Rows with positive stake are kept and their stake renormalised;
    minority = Σ(renormalised stake) - majority.
    """
    keep = stake > 0
    use_stake = normalize(ar, stake[keep])
    stake_sum = ar.sum(use_stake)
    minority = stake_sum - majority
    return quantile_by_sorting(use_stake, scores[keep], minority, exact=ar.name == "exact")


def normalize(ar, x: np.ndarray) -> np.ndarray:
    """x / Σx, unchanged when Σx == 0 (inplace_normalize)."""
    total = ar.sum(x)
    if total == 0:
        return x.copy()
    return ar.div(x, total)


def is_topk(values: np.ndarray, k: int) -> np.ndarray:
    """True for the k largest values. A stable ascending sort drops the first n-k, so among
    equal values the higher index wins (math.rs is_topk)."""
    n = values.shape[0]
    keep = np.ones(n, dtype=bool)
    if n < k:
        return keep
    order = np.argsort(values, kind="stable")
    keep[order[: n - k]] = False
    return keep


def is_topk_nonzero(values: np.ndarray, k: int) -> np.ndarray:
    """is_topk, with zero entries never selected (math.rs is_topk_nonzero)."""
    return is_topk(values, k) & (values != 0)
