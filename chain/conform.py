"""Turning a caller's weights into the u16 vector a chain stores, the same way everywhere.

Floats are relative: they are max-upscaled to u16 and zeros dropped, exactly as the SDK's
`normalize` does before it submits. Integers are taken as u16 values as they are (zeros
kept), for callers who already conformed their weights.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from chain.errors import INVALID_ARGUMENT, ChainError
from chain.types import U16_MAX


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_uids(uids: Sequence[int]) -> list[int]:
    values = np.asarray(uids).tolist() if isinstance(uids, np.ndarray) else list(uids)
    if any(not _is_integer(u) or not 0 <= u <= U16_MAX for u in values):
        raise ChainError(INVALID_ARGUMENT, f"uids must be integers in [0, {U16_MAX}]")
    return [int(u) for u in values]


def weights_to_u16(uids: Sequence[int], weights: Sequence[float]) -> tuple[list[int], list[int]]:
    """(uids, u16 values) ready for the chain, or ChainError saying what to fix."""
    uid_list = as_uids(uids)
    raw = np.asarray(weights).tolist() if isinstance(weights, np.ndarray) else list(weights)
    if len(raw) != len(uid_list):
        raise ChainError(
            "WeightVecNotEqualSize", f"{len(uid_list)} uids but {len(raw)} weights: pair them up"
        )
    if all(_is_integer(w) for w in raw):
        if any(not 0 <= w <= U16_MAX for w in raw):
            raise ChainError(INVALID_ARGUMENT, f"integer weights are u16 values in [0, {U16_MAX}]")
        return uid_list, [int(w) for w in raw]
    if any(
        not isinstance(w, numbers.Real) or isinstance(w, bool) or not math.isfinite(w) or w < 0
        for w in raw
    ):
        raise ChainError(INVALID_ARGUMENT, "weights must be finite, non-negative numbers")
    top = max(raw, default=0.0)
    if top <= 0:
        raise ChainError(INVALID_ARGUMENT, "all weights are zero: there is nothing to set")
    out_uids, out_values = [], []
    for uid, weight in zip(uid_list, raw, strict=True):
        value = round(weight / top * U16_MAX)
        if value:
            out_uids.append(uid)
            out_values.append(int(value))
    return out_uids, out_values
