"""Per-block emission, its split, the pending amounts paid at the epoch, and the tempo scheduler.

Pure functions over integers in raw units (1 alpha = 1e9 raw), computed with the chain's
fixed-point rules (U96F32/I96F32: 32 fractional bits, truncating) so that every raw unit matches
(SPEC §6, §7; coinbase/run_coinbase.rs `emit_to_subnets`, coinbase/block_emission.rs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from incentive.fixed import FRAC_BITS, HALF_BITS, ONE_BITS, U64_MAX
from incentive.types import U16_MAX

OWNER_CUT_U16 = 11_796  # SubnetOwnerCut, ≈18%
TOTAL_SUPPLY = 21_000_000_000_000_000  # raw units
DEFAULT_BLOCK_EMISSION = 1_000_000_000  # 1 alpha per block before the first halving
MAX_BLOCKS_WITHOUT_EPOCH = 50_400  # BlocksSinceLastStep beyond this forces an epoch (SPEC §7)


@dataclass(frozen=True)
class BlockSplit:
    """One block's alpha emission, in raw units."""

    owner_cut: int
    server: int  # PendingServerEmission: miners
    validator: int  # PendingValidatorEmission: alpha validators
    root: int  # PendingRootAlphaDivs: root validators

    @property
    def total(self) -> int:
        return self.owner_cut + self.server + self.validator + self.root


def _check_raw(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer amount of raw units, got {value!r}")
    if not 0 <= value <= U64_MAX:
        raise ValueError(f"{name} = {value} is outside the u64 range")
    return value


def split_block_emission(
    alpha_out: int, owner_cut_u16: int = OWNER_CUT_U16, root_proportion: float = 0.0
) -> BlockSplit:
    """Split one block's alpha_out: owner cut, then half to miners and half to validators, of
    which `root_proportion` goes to root stakers. Rounds as the chain does (truncating U96F32)."""
    _check_raw("alpha_out", alpha_out)
    if isinstance(owner_cut_u16, bool) or not isinstance(owner_cut_u16, int):
        raise ValueError(f"owner_cut_u16 must be an integer, got {owner_cut_u16!r}")
    if not 0 <= owner_cut_u16 <= U16_MAX:
        raise ValueError(f"owner_cut_u16 = {owner_cut_u16} is outside the u16 range 0..65535")
    if not (math.isfinite(root_proportion) and 0.0 <= root_proportion <= 1.0):
        raise ValueError(f"root_proportion must be within [0, 1], got {root_proportion!r}")
    cut_percent = (owner_cut_u16 << FRAC_BITS) // U16_MAX
    out_bits = alpha_out << FRAC_BITS
    owner_bits = (out_bits * cut_percent) >> FRAC_BITS
    remaining = out_bits - owner_bits
    root_prop_bits = round(root_proportion * ONE_BITS)  # from_num(f64): nearest, ties to even
    root_bits = (((root_prop_bits * remaining) >> FRAC_BITS) * HALF_BITS) >> FRAC_BITS
    server_bits = (remaining * HALF_BITS) >> FRAC_BITS
    validator_bits = max(remaining - server_bits - root_bits, 0)
    return BlockSplit(
        owner_cut=owner_bits >> FRAC_BITS,
        server=server_bits >> FRAC_BITS,
        validator=validator_bits >> FRAC_BITS,
        root=root_bits >> FRAC_BITS,
    )


def _log2_floor_fixed(bits: int) -> int:
    """Integer part of substrate-fixed `log2` for a value >= 1 (its halving rounds up)."""
    count = 0
    while bits >= 2 * ONE_BITS:
        count += 1
        bits = (bits >> 1) + (bits & 1)
    return count


def alpha_block_emission(alpha_issuance: int) -> int:
    """Alpha emitted per block at this issuance: 1e9 raw, halved each time issuance crosses
    another half of the remaining supply (get_block_emission_for_issuance)."""
    _check_raw("alpha_issuance", alpha_issuance)
    if alpha_issuance >= TOTAL_SUPPLY:
        return 0
    issued_fraction = (alpha_issuance << FRAC_BITS) // TOTAL_SUPPLY
    remaining_fraction = ONE_BITS - issued_fraction
    halvings = _log2_floor_fixed((ONE_BITS << FRAC_BITS) // remaining_fraction)
    percentage = ONE_BITS >> halvings if halvings < FRAC_BITS + 1 else 0
    return (percentage * DEFAULT_BLOCK_EMISSION) >> FRAC_BITS


def should_run_epoch(
    block: int,
    last_epoch_block: int,
    tempo: int,
    pending_epoch_at: int = 0,
    blocks_since_last_step: int = 0,
) -> bool:
    """Whether the subnet's epoch fires at `block` (SPEC §7, the stateful scheduler)."""
    if tempo == 0:
        return False
    if pending_epoch_at > 0 and block >= pending_epoch_at:
        return True
    if blocks_since_last_step > MAX_BLOCKS_WITHOUT_EPOCH:
        return True
    return max(block - last_epoch_block, 0) >= tempo


def initial_last_epoch_block(now: int, netuid: int, tempo: int) -> int:
    """LastEpochBlock of a new subnet: staggered by netuid so subnets do not fire together."""
    if tempo <= 0:
        return now
    return max(now - (netuid % tempo), 0)


@dataclass(frozen=True)
class PendingEmission:
    """Amounts accumulated block by block and drained when the epoch runs."""

    owner_cut: int = 0
    server: int = 0
    validator: int = 0
    root: int = 0

    def add(self, split: BlockSplit) -> PendingEmission:
        return replace(
            self,
            owner_cut=self.owner_cut + split.owner_cut,
            server=self.server + split.server,
            validator=self.validator + split.validator,
            root=self.root + split.root,
        )

    @property
    def epoch_emission(self) -> int:
        """What the epoch distributes through Yuma: server + validator + root (SPEC §6)."""
        return self.server + self.validator + self.root

    def drain(self) -> tuple[PendingEmission, PendingEmission]:
        """(the amounts to pay now, the emptied accumulator)."""
        return self, PendingEmission()
