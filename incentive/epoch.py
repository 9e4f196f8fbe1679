"""One Yuma consensus epoch exactly as the chain's sparse production path runs it (SPEC §4).

`run_epoch(inp, params, mode)` takes what the chain stores (EpochInput, EpochParams) and returns
what it would persist (EpochOutput). mode "exact" reproduces the chain's fixed-point integers bit
for bit; mode "float" runs the same steps in float64.
"""

from __future__ import annotations

import numpy as np

from incentive import bonds as bondmath
from incentive.consensus import is_topk_nonzero, normalize, weighted_median_col
from incentive.fixed import backend
from incentive.rows import OrderedEntries, check_sparse, entries_in_order, to_dense
from incentive.types import U16_MAX, EpochInput, EpochOutput, EpochParams, SparseRows


def _check_input(inp: EpochInput, params: EpochParams) -> None:
    n = inp.n
    if inp.stake.ndim != 1:
        raise ValueError("stake must be a 1-D array of raw units, one per uid")
    for name in ("validator_permit", "last_update", "block_at_registration"):
        arr = np.asarray(getattr(inp, name))
        if arr.shape != (n,):
            raise ValueError(f"{name} has length {arr.shape}, expected {n} (one per uid)")
    if inp.commit_block is not None and np.asarray(inp.commit_block).shape != (n,):
        raise ValueError(f"commit_block must have one entry per uid ({n}), -1 for none")
    if n and np.asarray(inp.stake).min() < 0:
        raise ValueError("stake must be non-negative raw units")
    if inp.rao_emission < 0:
        raise ValueError("rao_emission must be non-negative raw units")
    if inp.current_block < 0:
        raise ValueError("current_block must be non-negative")
    check_sparse("weights", inp.weights, n)
    check_sparse("bonds", inp.bonds, n)
    for name in ("kappa_u16", "bonds_penalty_u16", "alpha_low_u16", "alpha_high_u16"):
        value = getattr(params, name)
        if not 0 <= value <= U16_MAX:
            raise ValueError(f"{name} = {value} is outside the u16 range 0..65535")
    if not 0 <= params.bonds_moving_average <= 1_000_000:
        raise ValueError("bonds_moving_average is per million: expected 0..1000000")
    if not -(2**15) <= params.alpha_sigmoid_steepness < 2**15:
        raise ValueError("alpha_sigmoid_steepness must fit in an i16")
    if params.owner_uid is not None and not 0 <= params.owner_uid < n:
        raise ValueError(f"owner_uid {params.owner_uid} is not a uid (0..{n - 1})")
    if params.max_allowed_validators < 0 or params.tempo < 0:
        raise ValueError("max_allowed_validators and tempo must be non-negative")


def _weight_mask(inp: EpochInput, params: EpochParams, rows_used: np.ndarray) -> np.ndarray:
    """Which (row, uid) cells of the dense block survive the diagonal, outdated and
    commit-reveal masks (SPEC §4.5); rows without a permit were left out already."""
    registered = np.asarray(inp.block_at_registration, dtype=np.int64)[None, :]
    keep = np.asarray(inp.last_update, dtype=np.int64)[rows_used][:, None] > registered
    # The subnet owner keeps its self-weight; every other diagonal entry is dropped.
    diagonal = np.arange(rows_used.size)
    keep[diagonal, rows_used] &= rows_used == params.owner_uid
    if params.commit_reveal and inp.commit_block is not None:
        commit = np.asarray(inp.commit_block, dtype=np.int64)[rows_used][:, None]
        keep &= ~((commit >= 0) & (commit < registered))
    return keep


def _bond_entries(inp: EpochInput, params: EpochParams):
    """Stored bonds without those pointing at uids registered since the last epoch (SPEC §4.10)."""
    b = inp.bonds
    if inp.last_mechanism_step_block != 0:
        last_tempo = inp.last_mechanism_step_block + 1
    else:
        last_tempo = max(inp.current_block - params.tempo, 0)
    keep = ~(last_tempo <= inp.block_at_registration[b.cols])
    return b.rows[keep], b.cols[keep], b.vals[keep]


def _stored_order(rows: np.ndarray, cols: np.ndarray, n: int) -> OrderedEntries | None:
    """The rows' stored order, or None when every row is sorted by uid (the usual case, in
    which the order-dependent quirk of SPEC §8.2 cannot apply)."""
    key = rows * n + cols
    if np.all(key[1:] > key[:-1]):
        return None
    return OrderedEntries(rows, cols)


def run_epoch(inp: EpochInput, params: EpochParams, mode: str = "exact") -> EpochOutput:
    """Run one epoch of one mechanism; raises ValueError on inconsistent input."""
    ar = backend(mode)
    _check_input(inp, params)
    n = inp.n
    stake_raw = np.asarray(inp.stake, dtype=np.int64)
    last_update = np.asarray(inp.last_update, dtype=np.int64)
    owner = params.owner_uid

    # §4.1 activity, §4.2 stake (the owner is exempt from the stake threshold).
    active = ~(last_update + params.activity_cutoff_blocks < inp.current_block)
    below = stake_raw < params.min_stake
    if owner is not None:
        below[owner] = False
    stake = ar.stake_weights(np.where(below, 0, stake_raw))

    # §4.3 permits. chain quirk (SPEC §8.3): weights, consensus and active stake use the
    # stored permits (permit_old), while the bonds written below follow the new top-k.
    permit_old = np.asarray(inp.validator_permit, dtype=bool).copy()
    permit_new = is_topk_nonzero(stake, params.max_allowed_validators)
    if owner is not None:
        permit_old[owner] = True
        permit_new[owner] = True

    # §4.4 active stake.
    active_stake = normalize(ar, np.where(active & permit_old, stake, ar.zero))

    # The rows that can hold weights or bonds, as one dense block.
    bond_r, bond_c, bond_v = _bond_entries(inp, params)
    used = permit_old.copy()
    used[bond_r] = True
    rows_used = np.nonzero(used)[0]
    compact = np.full(n, -1, dtype=np.int64)
    compact[rows_used] = np.arange(rows_used.size)
    shape = (rows_used.size, n)
    a_rows = active_stake[rows_used]

    # §4.5 weights: masks, then row normalisation of the raw u16 values.
    permitted = permit_old[inp.weights.rows]
    wr, wc = compact[inp.weights.rows[permitted]], inp.weights.cols[permitted]
    w_raw, w_has = to_dense(wr, wc, inp.weights.vals[permitted], shape, np.int64)
    w_has &= _weight_mask(inp, params, rows_used)
    w_raw = np.where(w_has, w_raw, 0)
    w_order = _stored_order(wr, wc, n)
    if w_order is not None:
        w_order = w_order.mask(w_has)
    row_sum = w_raw.sum(axis=1)[:, None]
    w = np.where(row_sum > 0, ar.int_ratio(w_raw, np.maximum(row_sum, 1)), ar.zero)

    # §4.6 consensus, §4.7 clipping and validator trust, §4.8 incentive.
    kappa = ar.ratio(params.kappa_u16, U16_MAX)
    consensus = weighted_median_col(ar, a_rows, w, kappa)
    over = w_has & (w > consensus[None, :])
    clipped = np.where(over, consensus[None, :], w)
    # chain quirk (SPEC §4.7, feeding §8.1): entries above a consensus of 0 are removed, not
    # kept as 0 (col_clip_sparse), so with β = 1 their bonds get no EMA entry at all.
    clipped_has = w_has & ~(over & (consensus[None, :] <= 0))
    clipped = np.where(clipped_has, clipped, ar.zero)
    validator_trust = np.zeros(n, dtype=ar.dtype)
    validator_trust[rows_used] = ar.sum(clipped, axis=1)
    ranks = ar.sum(ar.mul(a_rows[:, None], clipped), axis=0)
    incentive = normalize(ar, ranks)

    # §4.9 weights for bonds.
    beta = ar.ratio(params.bonds_penalty_u16, U16_MAX)
    wb, wb_has, stored_order = bondmath.interpolate(ar, w, w_has, clipped, clipped_has, beta)
    wb_order = w_order.mask(wb_has) if stored_order and w_order is not None else None

    # §4.10 / §4.11 bonds and dividends.
    b_order = _stored_order(compact[bond_r], bond_c, n)
    dividends = np.zeros(n, dtype=ar.dtype)
    if params.yuma3:
        b, b_has = to_dense(compact[bond_r], bond_c, ar.u16_proportion(bond_v), shape, ar.dtype)
        ema = bondmath.yuma3_ema(ar, params, wb, wb_has, wb_order, b, b_has, b_order, consensus)
        dividends[rows_used] = bondmath.yuma3_dividends(ar, ema, incentive, a_rows)
        stored = ema.value
    else:
        b, _ = to_dense(compact[bond_r], bond_c, bond_v, shape, np.int64)
        ema, dividends[rows_used], stored = bondmath.old_yuma(ar, params, wb, b, a_rows, incentive)
    dividends = normalize(ar, dividends)

    # §4.12 the in-epoch split and its fall-backs.
    combined = incentive + dividends
    emission_sum = ar.sum(combined)
    if emission_sum == 0:
        server = incentive.copy()
        fallback = stake if ar.sum(active_stake) == 0 else active_stake
        validator, combined = fallback.copy(), fallback.copy()
    else:
        server = ar.div(incentive, emission_sum)
        validator = ar.div(dividends, emission_sum)
        combined = normalize(ar, combined)

    # §4.13 stored bonds: permit_new rows get the EMA row (in W^b's stored order on the liquid
    # path, where mat_ema_alpha_sparse follows it; sorted by uid otherwise). Every other row is
    # written empty: persist_mechanism_epoch_terms inserts each uid's `bond`, whose default is
    # empty, so a row without either permit is cleared too, not left untouched.
    order = wb_order if ema.weights_order else None
    er, ec = entries_in_order(order, ema.has & permit_new[rows_used][:, None])
    values = ar.to_u16(stored.reshape(-1)[er * n + ec])
    new_bonds = SparseRows(n, rows_used[er].astype(np.int64), ec.astype(np.int64), values)

    return EpochOutput(
        consensus_u16=ar.to_u16(consensus),
        incentive_u16=ar.to_u16(incentive),
        dividends_u16=ar.to_u16(dividends),
        validator_trust_u16=ar.to_u16(validator_trust),
        stake_weight_u16=ar.to_u16(stake),
        emission=ar.to_raw_units(combined, inp.rao_emission),
        server_emission=ar.to_raw_units(server, inp.rao_emission),
        validator_emission=ar.to_raw_units(validator, inp.rao_emission),
        active=active,
        validator_permit=permit_new,
        bonds=new_bonds,
        incentive=ar.to_float(incentive),
        dividends=ar.to_float(dividends),
        consensus=ar.to_float(consensus),
    )
