"""Bonds and dividends: old Yuma (SPEC §4.11a), Yuma3 (§4.11b) and liquid alpha.

Matrices are dense (R, n) blocks with a presence mask (see incentive.rows); every function
takes the numeric backend `ar` first, so one code path serves the exact and the float mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incentive.types import U16_MAX

STEEPNESS_DIVISOR = -100  # alpha_sigmoid scales the raw i16 steepness by 1/-100


@dataclass
class Ema:
    """EMA bonds: values, presence, and whether their stored order follows W^b's rows."""

    value: np.ndarray
    has: np.ndarray
    weights_order: bool


def col_normalize(ar, x: np.ndarray) -> np.ndarray:
    """inplace_col_normalize_sparse for non-negative x: each column over its sum. A column
    whose sum is 0 holds only zeros, which safe_div's 0 leaves as they were."""
    return ar.div(x, ar.sum(x, axis=0)[None, :])


def interpolate(ar, w, w_has, clipped, clipped_has, beta):
    """interpolate_sparse: W + β(W̄ - W) over every column, keeping entries > 0.

    β = 0 and β = 1 return the input matrices themselves, in their stored order.
    Returns (values, presence, keeps_stored_order).
    """
    if beta == ar.zero:
        return w, w_has, True
    if beta == ar.one:
        return clipped, clipped_has, True
    interp = w + ar.mul(beta, clipped - w)
    return np.where(interp > 0, interp, ar.zero), interp > 0, False


def alpha_sigmoid(ar, consensus, weight, bond, alpha_low, alpha_high, steepness: int):
    """Liquid alpha per (i, j) (run_epoch.rs alpha_sigmoid), vectorised."""
    zero, one = ar.zero, ar.one
    half = ar.one // 2 if ar.name == "exact" else 0.5
    diff_buy = np.clip(weight - consensus, zero, one)
    diff_sell = np.clip(bond - weight, zero, one)
    combined = np.where(weight >= bond, diff_buy, diff_sell)
    scale = ar.div(ar.from_int(steepness), ar.from_int(STEEPNESS_DIVISOR))
    sigmoid = ar.div(one, one + ar.exp_safe(ar.mul(scale, combined - half)))
    alpha = alpha_low + ar.mul(sigmoid, alpha_high - alpha_low)
    return np.clip(alpha, alpha_low, alpha_high)


def ema_liquid(ar, new, new_has, old, alpha) -> tuple[np.ndarray, np.ndarray]:
    """mat_ema_alpha_sparse: min(1, (1-α)·old + max(0, α·new)) for entries present in `new`.

    chain quirk (SPEC §8.1): sparse liquid-alpha EMA drops bonds absent from W^b instead of
    decaying them, so a bond whose weight was clipped away or never set vanishes at once.
    """
    decayed = ar.mul(ar.one - alpha, old)  # absent entries hold 0
    increment = np.maximum(ar.mul(alpha, new), ar.zero)
    value = np.minimum(decayed + increment, ar.one)
    has = new_has & (value > 0)
    return np.where(has, value, ar.zero), has


def ema_constant(ar, new, old, alpha) -> tuple[np.ndarray, np.ndarray]:
    """mat_ema_sparse: α·new + (1-α)·old over the union of entries, keeping entries > 0
    (absent entries hold 0 in both matrices, and every term is non-negative)."""
    value = ar.mul(alpha, new) + ar.mul(ar.one - alpha, old)
    return value, value > 0


def _visible(order, has: np.ndarray) -> np.ndarray:
    """Entries the chain's uid-ordered peek finds: all of them when rows are sorted."""
    return has if order is None else order.visible(has.shape)


def yuma3_ema(ar, params, wb, wb_has, wb_order, bonds, bonds_has, bonds_order, consensus):
    """Yuma3 EMA bonds (compute_bonds_sparse) from absolute-proportion stored bonds.

    `wb_order` / `bonds_order` are the rows' stored order (OrderedEntries), None when sorted.
    """
    if params.liquid_alpha and np.any(consensus != 0):
        low = ar.ratio(params.alpha_low_u16, U16_MAX)
        high = ar.ratio(params.alpha_high_u16, U16_MAX)
        # chain quirk (SPEC §8.2): the alpha matrix reads weights and bonds with a forward-only
        # iterator that assumes uid-sorted rows; entries it skips count as 0.
        w_seen = np.where(_visible(wb_order, wb_has), wb, ar.zero)
        b_seen = np.where(_visible(bonds_order, bonds_has), bonds, ar.zero)
        alpha = alpha_sigmoid(
            ar, consensus[None, :], w_seen, b_seen, low, high, params.alpha_sigmoid_steepness
        )
        value, has = ema_liquid(ar, wb, wb_has, bonds, alpha)
        return Ema(value, has, weights_order=True)
    alpha = ar.one_minus_bma(params.bonds_moving_average)
    value, has = ema_constant(ar, wb, bonds, alpha)
    return Ema(value, has, weights_order=False)


def yuma3_dividends(ar, ema: Ema, incentive, active_stake_rows):
    """D_i ∝ A_i · Σ_j colnorm(E)_ij · I_j (unnormalised; the caller normalises over all n)."""
    normed = col_normalize(ar, ema.value)
    per_validator = ar.sum(ar.mul(normed, incentive[None, :]), axis=1)
    return ar.mul(per_validator, active_stake_rows)


def old_yuma(ar, params, wb, bonds_raw, active_stake_rows, incentive):
    """Old Yuma bonds (SPEC §4.11a). Returns (EMA bonds, unnormalised dividends, stored values).

    Stored bonds (`bonds_raw`, integer u16) are column-normalised on load; the EMA is
    column-normalised again and max-upscaled per column for storage.
    """
    col_sum = bonds_raw.sum(axis=0)[None, :]  # raw u16 values, absent entries are 0
    bonds = np.where(col_sum > 0, ar.int_ratio(bonds_raw, np.maximum(col_sum, 1)), ar.zero)
    delta = col_normalize(ar, ar.mul(wb, active_stake_rows[:, None]))
    alpha = ar.one_minus_bma(params.bonds_moving_average)
    value, has = ema_constant(ar, delta, bonds, alpha)
    value = col_normalize(ar, value)
    dividends = ar.sum(ar.mul(incentive[None, :], value), axis=1)
    col_max = value.max(axis=0) if value.shape[0] else np.zeros(value.shape[1], value.dtype)
    stored = np.where(col_max != 0, ar.div(value, col_max[None, :]), value)
    return Ema(value, has, weights_order=False), dividends, stored
