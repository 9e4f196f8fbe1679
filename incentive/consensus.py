"""Stake-weighted kappa-quantile consensus and top-k permits, as the chain computes them.

The chain's `weighted_median` (math.rs) is a deterministic partition search: the pivot is the
middle element of the current partition (in uid order), stake strictly below and strictly above
the pivot decides whether to descend low, high, or stop. Elements equal to the pivot leave the
partition, so ties resolve exactly as the chain resolves them. Every partition it ever visits
is "the uids, in order, whose score lies strictly between two bounds", so the search is run for
all columns at once: one loop iteration is one search step for every column still searching.
"""

from __future__ import annotations

import numpy as np


def _stake_sums(stake: np.ndarray, mask: np.ndarray, exact: bool) -> np.ndarray:
    """Σ_i stake_i over the rows selected by `mask` (V, k), per column."""
    # For int64 I32F32 bits the products are 0/1 times values below 2^40 and every partial sum
    # stays below 2^53, so a float64 matrix product is exact and far faster than an int matmul.
    sums = stake.astype(np.float64) @ mask.astype(np.float64)
    return sums.astype(np.int64) if exact else sums


def partition_search(stake, scores, minority, partition_lo, partition_hi, exact: bool):
    """The chain's `weighted_median` for every column of `scores` (V, k) at once.

    `stake` (V,) are the weights of the rows, `minority`, `partition_lo`, `partition_hi` scalars
    in the same units. Returns (k,) medians, 0 for an empty partition.
    """
    scores = np.asarray(scores)
    n_rows, n_cols = scores.shape
    dtype = np.int64 if exact else np.float64
    result = np.zeros(n_cols, dtype=dtype)
    if n_rows == 0 or n_cols == 0:
        return result
    big = np.iinfo(np.int64).max if exact else np.inf
    lower_bound = np.full(n_cols, -big, dtype=dtype)  # exclusive bounds of each partition
    upper_bound = np.full(n_cols, big, dtype=dtype)
    p_lo = np.full(n_cols, partition_lo, dtype=dtype)
    p_hi = np.full(n_cols, partition_hi, dtype=dtype)
    todo = np.arange(n_cols)
    # Each step removes at least the pivot, so n_rows steps always finish; the chain's own
    # iteration cap (the partition length) is therefore never reached.
    for _ in range(n_rows):
        sc = scores[:, todo]
        inside = (sc > lower_bound[todo]) & (sc < upper_bound[todo])
        count = inside.sum(axis=0)
        rank = np.cumsum(inside, axis=0)
        pivot_row = np.argmax(inside & (rank == (count // 2 + 1)), axis=0)
        pivot = sc[pivot_row, np.arange(todo.size)]
        below = inside & (sc < pivot)
        above = inside & (sc > pivot)
        lo_stake = _stake_sums(stake, below, exact)
        hi_stake = _stake_sums(stake, above, exact)
        lo_edge = p_lo[todo] + lo_stake
        hi_edge = p_hi[todo] - hi_stake
        go_low = (minority < lo_edge) & below.any(axis=0)
        go_high = ~go_low & (hi_edge <= minority) & above.any(axis=0)
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
    return partition_search(
        use_stake, scores[keep], minority, ar.zero, stake_sum, exact=ar.name == "exact"
    )


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
