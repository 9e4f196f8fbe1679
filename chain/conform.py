"""Turning a caller's weights into the u16 vector a chain stores, the same way everywhere.

Floats are relative: they are max-upscaled to u16 and zeros dropped, exactly as the SDK's
`normalize` does before it submits. Integers are taken as u16 values as they are (zeros
kept), for callers who already conformed their weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chain.errors import INVALID_ARGUMENT, ChainError
from chain.types import U16_MAX


def _array(values, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or array.dtype.kind not in "iuf":
        raise ChainError(INVALID_ARGUMENT, f"{what} must be a flat sequence of numbers")
    return array


def as_uids(uids: Sequence[int]) -> list[int]:
    array = _array(uids, "uids")
    if array.dtype.kind == "f" or (array.size and (array.min() < 0 or array.max() > U16_MAX)):
        raise ChainError(INVALID_ARGUMENT, f"uids must be integers in [0, {U16_MAX}]")
    return array.tolist()


def weights_to_u16(uids: Sequence[int], weights: Sequence[float]) -> tuple[list[int], list[int]]:
    """(uids, u16 values) ready for the chain, or ChainError saying what to fix."""
    uid_list = as_uids(uids)
    values = _array(weights, "weights")
    if len(values) != len(uid_list):
        raise ChainError(
            "WeightVecNotEqualSize", f"{len(uid_list)} uids but {len(values)} weights: pair them up"
        )
    if values.dtype.kind in "iu":
        if values.size and (values.min() < 0 or values.max() > U16_MAX):
            raise ChainError(INVALID_ARGUMENT, f"integer weights are u16 values in [0, {U16_MAX}]")
        return uid_list, values.tolist()
    if not np.isfinite(values).all() or (values < 0).any():
        raise ChainError(INVALID_ARGUMENT, "weights must be finite, non-negative numbers")
    top = float(values.max()) if values.size else 0.0
    if top <= 0:
        raise ChainError(INVALID_ARGUMENT, "all weights are zero: there is nothing to set")
    scaled = np.round(values / top * U16_MAX).astype(np.int64)  # half to even, as the SDK
    keep = scaled != 0
    return np.asarray(uid_list, dtype=np.int64)[keep].tolist(), scaled[keep].tolist()
