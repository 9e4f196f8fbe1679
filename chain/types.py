"""Immutable snapshots of chain state, and the units they use.

Units, the same on every kind of chain:

- Amounts are integers of RAO (1 TAO = 1e9 RAO; alpha has the same 1e9 subdivision).
  Every method that takes an amount accepts a `bittensor.Balance` (its `.rao` is used) or a
  number of whole tokens (`add_stake(..., 2.5)` stakes 2.5 TAO). Every amount a read returns
  is an int of RAO.
- Scores (incentive, dividends, consensus, validator trust) are the chain's u16 values divided
  by 65535, as float64 in [0, 1].
- Blocks are integers; u16 hyperparameters (kappa, max_weights_limit, bonds_penalty, alpha
  low/high) are the raw u16 the chain stores.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields

import numpy as np

from chain.errors import INVALID_ARGUMENT, ChainError

RAO_PER_TAO = 1_000_000_000
U16_MAX = 65_535
PER_MILLE = 1_000


def to_rao(amount: object, what: str = "amount") -> int:
    """RAO from a `bittensor.Balance` (its `.rao`) or a number of whole TAO (or alpha)."""
    rao = getattr(amount, "rao", None)
    if rao is not None and not isinstance(amount, numbers.Number):
        value = int(rao)
    elif isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise ChainError(
            INVALID_ARGUMENT,
            f"{what} must be a bittensor.Balance or a number of TAO, not {type(amount).__name__}",
        )
    elif not math.isfinite(float(amount)):
        raise ChainError(INVALID_ARGUMENT, f"{what} must be finite, got {amount!r}")
    else:
        value = round(float(amount) * RAO_PER_TAO)
    if value < 0:
        raise ChainError(INVALID_ARGUMENT, f"{what} must not be negative, got {amount!r}")
    return value


def rao_to_tao(rao: int) -> float:
    return rao / RAO_PER_TAO


def tao_text(rao: int) -> str:
    """An amount as a person reads it: "1.5 TAO" (every digit a RAO amount has)."""
    return f"{rao / RAO_PER_TAO:,.9g} TAO"


def activity_cutoff(factor_milli: int, tempo: int) -> int:
    """Blocks a validator may go without setting weights: `max(1, factor * tempo / 1000)`
    (utils/misc.rs, SPEC §2), from the stored per-mille factor."""
    return max(1, factor_milli * tempo // PER_MILLE)


@dataclass(frozen=True)
class AxonInfo:
    """Where a neuron serves: `ip` is the text form ("0.0.0.0" when never served)."""

    ip: str
    port: int
    ip_type: int = 4
    protocol: int = 4
    version: int = 0
    block: int = 0

    @property
    def is_serving(self) -> bool:
        return self.port != 0

    @property
    def url(self) -> str:
        host = f"[{self.ip}]" if self.ip_type == 6 else self.ip
        return f"http://{host}:{self.port}"


NEVER_SERVED = AxonInfo(ip="0.0.0.0", port=0)  # what a chain reports for a uid with no axon


def _frozen_array(values, dtype) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class Metagraph:
    """One subnet at one block. Arrays are read-only and indexed by uid.

    stake and emission are int64 RAO (emission: what the last epoch paid each uid);
    incentive, dividends, consensus and validator_trust are float64 in [0, 1];
    last_update and block_at_registration are blocks.
    """

    netuid: int
    block: int
    uids: np.ndarray
    hotkeys: tuple[str, ...]
    coldkeys: tuple[str, ...]
    stake: np.ndarray
    validator_permit: np.ndarray
    axons: tuple[AxonInfo, ...]
    incentive: np.ndarray
    dividends: np.ndarray
    emission: np.ndarray
    consensus: np.ndarray
    validator_trust: np.ndarray
    last_update: np.ndarray
    block_at_registration: np.ndarray
    active: np.ndarray = field(default_factory=lambda: _frozen_array([], bool))
    owner_hotkey: str = ""
    owner_coldkey: str = ""

    @property
    def n(self) -> int:
        return len(self.hotkeys)

    @property
    def stake_tao(self) -> np.ndarray:
        return self.stake / RAO_PER_TAO

    def uid_of(self, hotkey: str) -> int | None:
        try:
            return self.hotkeys.index(hotkey)
        except ValueError:
            return None

    @staticmethod
    def build(
        *,
        netuid: int,
        block: int,
        hotkeys,
        coldkeys,
        stake,
        validator_permit,
        axons,
        incentive_u16,
        dividends_u16,
        emission,
        consensus_u16,
        validator_trust_u16,
        last_update,
        block_at_registration,
        active=None,
        owner_hotkey: str = "",
        owner_coldkey: str = "",
    ) -> Metagraph:
        """From per-uid sequences in chain units (u16 scores, RAO amounts)."""
        n = len(hotkeys)
        return Metagraph(
            netuid=int(netuid),
            block=int(block),
            uids=_frozen_array(range(n), np.int64),
            hotkeys=tuple(hotkeys),
            coldkeys=tuple(coldkeys),
            stake=_frozen_array(stake, np.int64),
            validator_permit=_frozen_array(validator_permit, bool),
            axons=tuple(axons),
            incentive=_frozen_array(np.asarray(incentive_u16, np.float64) / U16_MAX, np.float64),
            dividends=_frozen_array(np.asarray(dividends_u16, np.float64) / U16_MAX, np.float64),
            emission=_frozen_array(emission, np.int64),
            consensus=_frozen_array(np.asarray(consensus_u16, np.float64) / U16_MAX, np.float64),
            validator_trust=_frozen_array(
                np.asarray(validator_trust_u16, np.float64) / U16_MAX, np.float64
            ),
            last_update=_frozen_array(last_update, np.int64),
            block_at_registration=_frozen_array(block_at_registration, np.int64),
            active=_frozen_array([True] * n if active is None else active, bool),
            owner_hotkey=owner_hotkey,
            owner_coldkey=owner_coldkey,
        )


@dataclass(frozen=True)
class Hyperparameters:
    """A subnet's hyperparameters in the chain's stored units.

    Names are the SDK's and btcli's (`set_hyperparameter(wallet, netuid, name, value)` takes
    the same names). activity_cutoff is derived: max(1, activity_cutoff_factor * tempo / 1000).
    """

    netuid: int
    tempo: int  # blocks per epoch
    immunity_period: int  # blocks a new neuron cannot be pruned
    max_allowed_uids: int
    max_validators: int
    min_allowed_weights: int
    max_weights_limit: int  # u16; 65535 = no limit
    weights_rate_limit: int  # blocks between set_weights
    weights_version: int  # minimum version_key
    commit_reveal_weights_enabled: bool
    commit_reveal_period: int  # epochs from commit to reveal
    kappa: int  # u16
    bonds_moving_avg: int  # per million
    bonds_penalty: int  # u16
    yuma3_enabled: bool
    liquid_alpha_enabled: bool
    alpha_low: int  # u16
    alpha_high: int  # u16
    alpha_sigmoid_steepness: int
    activity_cutoff: int  # blocks
    activity_cutoff_factor: int  # per mille of tempo
    burn: int  # RAO, the current registration cost
    min_burn: int  # RAO
    max_burn: int  # RAO
    max_regs_per_block: int
    registration_allowed: bool
    serving_rate_limit: int  # blocks between serve_axon

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.name != "netuid")


@dataclass(frozen=True)
class WeightsReceipt:
    """What `set_weights` did: set directly, or committed for the reveal round."""

    block: int
    committed: bool
    reveal_round: int | None = None
