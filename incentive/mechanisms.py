"""Mechanisms (sub-subnets, SPEC §5): one epoch per mechanism, combined per neuron.

Each mechanism has its own weights, bonds and last_update, and shares stake and permits. The
epoch's emission is split evenly or by `MechanismEmissionSplit` (u16 parts of 65535, the
rounding remainder to mechanism 0). Per neuron, emissions add up and the u16 terms are
weighted by each mechanism's share of the emission (subnets/mechanism.rs
`epoch_with_mechanisms`, with its U64F64 accumulation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from incentive.epoch import run_epoch
from incentive.types import U16_MAX, EpochInput, EpochOutput, EpochParams

WEIGHT_FRAC_BITS = 64  # U64F64
MAX_MECHANISMS = 16


def split_emissions(amount: int, count: int, split_u16: Sequence[int] | None = None) -> list[int]:
    """Each mechanism's share of `amount` raw units (split_emissions)."""
    if not 1 <= count <= MAX_MECHANISMS:
        raise ValueError(f"mechanism count must be within 1..{MAX_MECHANISMS}, got {count}")
    if amount < 0:
        raise ValueError("amount must be non-negative raw units")
    if split_u16 is None:
        shares = [amount // count] * count
    else:
        if sum(split_u16) != U16_MAX or any(s < 0 for s in split_u16):
            raise ValueError("the emission split must be u16 parts that add up to 65535")
        shares = [amount * s // U16_MAX for s in split_u16][:count]
        shares += [0] * (count - len(shares))
    shares[0] += amount - sum(shares)
    return shares


@dataclass(frozen=True)
class MechanismsOutput:
    """Per-mechanism outputs (each with its own incentive and bonds) and the per-neuron
    combination the chain persists for the subnet."""

    mechanisms: list[EpochOutput]
    consensus_u16: np.ndarray
    dividends_u16: np.ndarray
    validator_trust_u16: np.ndarray
    stake_weight_u16: np.ndarray
    emission: np.ndarray
    server_emission: np.ndarray
    validator_emission: np.ndarray
    active: np.ndarray
    validator_permit: np.ndarray


def _weighted_sum(values: list[np.ndarray], weights: list[int]) -> np.ndarray:
    """acc = floor(acc + value · weight) in U64F64, mechanism by mechanism (weighted_acc_*)."""
    acc = np.zeros(values[0].shape, dtype=object)
    for value, weight in zip(values, weights, strict=True):
        acc = acc + (value.astype(object) * weight >> WEIGHT_FRAC_BITS)
    return acc


def run_mechanisms(
    inputs: Sequence[EpochInput],
    params: EpochParams,
    rao_emission: int,
    split_u16: Sequence[int] | None = None,
    mode: str = "exact",
) -> MechanismsOutput:
    """Run one epoch per mechanism input (their own rao_emission is replaced by the split)."""
    if not inputs:
        raise ValueError("give one EpochInput per mechanism")
    n = inputs[0].n
    for k, inp in enumerate(inputs):
        if inp.n != n or not np.array_equal(inp.stake, inputs[0].stake):
            raise ValueError(f"mechanism {k}: mechanisms share the same uids and stake")
    shares = split_emissions(rao_emission, len(inputs), split_u16)
    outs = [
        run_epoch(replace(inp, rao_emission=share), params, mode)
        for inp, share in zip(inputs, shares, strict=True)
    ]
    one = 1 << WEIGHT_FRAC_BITS
    weights = [
        (share << WEIGHT_FRAC_BITS) // rao_emission if rao_emission else (one if k == 0 else 0)
        for k, share in enumerate(shares)
    ]

    def combine_u16(name: str) -> np.ndarray:
        total = _weighted_sum([getattr(o, name) for o in outs], weights)
        return np.minimum(total, U16_MAX).astype(np.int64)

    emission = _weighted_sum([o.emission for o in outs], weights).astype(np.int64)
    return MechanismsOutput(
        mechanisms=outs,
        consensus_u16=combine_u16("consensus_u16"),
        dividends_u16=combine_u16("dividends_u16"),
        validator_trust_u16=combine_u16("validator_trust_u16"),
        stake_weight_u16=combine_u16("stake_weight_u16"),
        emission=emission,
        server_emission=np.sum([o.server_emission for o in outs], axis=0),
        validator_emission=np.sum([o.validator_emission for o in outs], axis=0),
        active=np.logical_or.reduce([o.active for o in outs]),
        validator_permit=np.logical_or.reduce([o.validator_permit for o in outs]),
    )
