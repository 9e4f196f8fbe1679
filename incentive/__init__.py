"""The math of the subnet: chain-exact Yuma consensus, emission, scoring and simulation (numpy only)."""

from __future__ import annotations

from incentive.epoch import run_epoch
from incentive.types import EpochInput, EpochOutput, EpochParams, SparseRows

__all__ = ["EpochInput", "EpochOutput", "EpochParams", "SparseRows", "run_epoch"]
