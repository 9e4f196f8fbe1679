"""The data an epoch takes and gives, in the units the chain stores.

These types are the contract between `incentive/` (which computes epochs) and `chain/dev`
(which stores their inputs and outputs). Inputs use the chain's storage units: stake in raw
units (RAO), weights and bonds as stored u16 rows, blocks as integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

U16_MAX = 65_535


@dataclass(frozen=True)
class SparseRows:
    """Sparse u16 rows exactly as the chain stores them: `Vec<(u16 uid, u16 value)>` per row.

    Entries are grouped by row (`rows` non-decreasing) and, inside a row, kept in the order they
    were stored: the chain keeps the caller's order and explicit zeros, and one of its quirks
    (SPEC §8.2) depends on that order, so the order is data, not an accident.
    """

    n: int
    rows: np.ndarray  # int64, row index of each entry, non-decreasing
    cols: np.ndarray  # int64, column (uid) of each entry
    vals: np.ndarray  # int64, stored u16 value of each entry

    @staticmethod
    def empty(n: int) -> SparseRows:
        none = np.zeros(0, dtype=np.int64)
        return SparseRows(n, none, none.copy(), none.copy())

    @staticmethod
    def from_lists(rows: Sequence[Sequence[Sequence[int]]], n: int | None = None) -> SparseRows:
        """From the chain's (and the vector files') form: one list of `(uid, value)` per row."""
        n = len(rows) if n is None else n
        r = [i for i, row in enumerate(rows) for _ in row]
        c = [int(uid) for row in rows for uid, _ in row]
        v = [int(value) for row in rows for _, value in row]
        return SparseRows(
            n,
            np.asarray(r, dtype=np.int64),
            np.asarray(c, dtype=np.int64),
            np.asarray(v, dtype=np.int64),
        )

    def to_lists(self) -> list[list[tuple[int, int]]]:
        out: list[list[tuple[int, int]]] = [[] for _ in range(self.n)]
        for r, c, v in zip(self.rows.tolist(), self.cols.tolist(), self.vals.tolist(), strict=True):
            out[r].append((c, v))
        return out

    def dense(self) -> np.ndarray:
        """Dense (n, n) int64 matrix; a later duplicate of the same (row, col) wins."""
        m = np.zeros((self.n, self.n), dtype=np.int64)
        m[self.rows, self.cols] = self.vals
        return m


@dataclass(frozen=True)
class EpochParams:
    """Hyperparameters an epoch reads, in stored units (SPEC §2). Defaults are a new subnet's."""

    kappa_u16: int = 32_767
    bonds_moving_average: int = 900_000  # per million
    bonds_penalty_u16: int = U16_MAX
    liquid_alpha: bool = False
    alpha_low_u16: int = 45_875
    alpha_high_u16: int = 58_982
    alpha_sigmoid_steepness: int = 1_000
    yuma3: bool = True
    min_stake: int = 0  # StakeThreshold, raw units
    max_allowed_validators: int = 64
    activity_cutoff_blocks: int = 5_000
    tempo: int = 360
    commit_reveal: bool = False
    owner_uid: int | None = None


@dataclass(frozen=True)
class EpochInput:
    """Everything one epoch of one mechanism reads from storage (SPEC §4)."""

    current_block: int
    stake: np.ndarray  # (n,) int64, raw units
    validator_permit: np.ndarray  # (n,) bool, permits stored by the previous epoch
    weights: SparseRows  # stored Weights rows (max-upscaled u16)
    bonds: SparseRows  # stored Bonds rows (u16)
    last_update: np.ndarray  # (n,) int64
    block_at_registration: np.ndarray  # (n,) int64
    rao_emission: int  # emission this epoch distributes, raw units
    # Earliest unexpired commit block per uid for the commit-reveal column mask (SPEC §4.5.5);
    # -1 where the uid has no unexpired commit. Ignored unless params.commit_reveal.
    commit_block: np.ndarray | None = None
    last_mechanism_step_block: int = 0  # LastMechansimStepBlock, for the bond mask (SPEC §4.10)

    @property
    def n(self) -> int:
        return int(self.stake.shape[0])


@dataclass(frozen=True)
class EpochOutput:
    """What the chain persists after an epoch (SPEC §4.13), plus the proportions behind it."""

    consensus_u16: np.ndarray
    incentive_u16: np.ndarray
    dividends_u16: np.ndarray
    validator_trust_u16: np.ndarray
    stake_weight_u16: np.ndarray
    emission: np.ndarray  # (n,) int64 raw units, combined server + validator
    server_emission: np.ndarray  # (n,) int64 raw units
    validator_emission: np.ndarray  # (n,) int64 raw units
    active: np.ndarray  # (n,) bool
    validator_permit: np.ndarray  # (n,) bool, permit_new: becomes next epoch's input
    bonds: SparseRows  # stored Bonds rows after this epoch, following SPEC §4.13's row rules
    # Proportions as float64, for display and for tests that compare with tolerances.
    incentive: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dividends: np.ndarray = field(default_factory=lambda: np.zeros(0))
    consensus: np.ndarray = field(default_factory=lambda: np.zeros(0))
