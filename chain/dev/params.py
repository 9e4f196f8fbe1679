"""The dev chain's constants and the rules for each subnet hyperparameter.

Defaults are what subtensor's `init_new_network` gives a new subnet (shared/yuma/SPEC.md §2).
Each hyperparameter has the range its storage type allows (what sudo may set) and, when the
subnet owner may set it, the narrower owner range admin-utils enforces. Names are the SDK's.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.types import RAO_PER_TAO, U16_MAX, activity_cutoff

U64_MAX = 2**64 - 1
I16_MAX = 2**15 - 1
I16_MIN = -(2**15)
PER_MILLION = 1_000_000

# The chain-wide cap on uids per subnet (DefaultMaxAllowedUids).
MAX_UIDS_HARD_CAP = 256
# Floor for alpha_low / alpha_high (65535 / 40), SPEC §2.
ALPHA_VALUE_FLOOR = 1_638
# Owners may not push the bonds moving average past this (BondsMovingAverageMaxReached).
OWNER_MAX_BONDS_MOVING_AVERAGE = 975_000
# Bounds of the commit-reveal period in epochs (MIN/MAX_COMMIT_REVEAL_PEROIDS).
MIN_REVEAL_PERIOD = 1
MAX_REVEAL_PERIOD = 100
# At most this many unrevealed timelocked commits per hotkey per epoch.
MAX_UNREVEALED_COMMITS = 10
# The commit-reveal protocol version subtensor accepts today.
COMMIT_REVEAL_VERSION = 4
# Per-block cap on subnet epochs (`prod_or_fast!(2, 32)`: the fast-blocks value).
MAX_EPOCHS_PER_BLOCK = 32
# Validator take on dividends, u16 (DefaultDelegateTake, 18%).
VALIDATOR_TAKE_U16 = 11_796
# Smallest stake movement (DefaultMinStake), RAO.
MIN_STAKE_RAO = 500_000


@dataclass(frozen=True)
class ParamRule:
    """One hyperparameter: its default, the range sudo may set, and the owner's range."""

    default: int | bool
    low: int = 0
    high: int = U64_MAX
    owner: bool = False  # may the subnet owner set it?
    owner_low: int | None = None
    owner_high: int | None = None
    out_of_range: str = "ValueNotInBounds"  # subtensor's error name when a bound is broken
    is_bool: bool = False


def _flag(default: bool, owner: bool = True) -> ParamRule:
    return ParamRule(default, 0, 1, owner=owner, is_bool=True)


PARAMS: dict[str, ParamRule] = {
    "tempo": ParamRule(
        360,
        0,
        U16_MAX,
        owner=True,
        owner_low=360,
        owner_high=50_400,
        out_of_range="TempoOutOfBounds",
    ),
    "immunity_period": ParamRule(5_000, 0, U16_MAX, owner=True),
    "max_allowed_uids": ParamRule(
        MAX_UIDS_HARD_CAP,
        1,
        MAX_UIDS_HARD_CAP,
        owner=True,
        out_of_range="MaxAllowedUidsGreaterThanDefaultMaxAllowedUids",
    ),
    "max_validators": ParamRule(64, 1, U16_MAX, out_of_range="MaxValidatorsLargerThanMaxUIds"),
    "min_allowed_weights": ParamRule(1, 0, U16_MAX, owner=True),
    "max_weights_limit": ParamRule(U16_MAX, 0, U16_MAX),
    "weights_rate_limit": ParamRule(100, 0, U64_MAX),
    "weights_version": ParamRule(0, 0, U64_MAX, owner=True),
    "commit_reveal_weights_enabled": _flag(True),
    "commit_reveal_period": ParamRule(
        1,
        MIN_REVEAL_PERIOD,
        MAX_REVEAL_PERIOD,
        owner=True,
        out_of_range="RevealPeriodTooLarge",
    ),
    "kappa": ParamRule(32_767, 0, U16_MAX),
    "bonds_moving_avg": ParamRule(
        900_000,
        0,
        PER_MILLION,
        owner=True,
        owner_high=OWNER_MAX_BONDS_MOVING_AVERAGE,
        out_of_range="BondsMovingAverageMaxReached",
    ),
    "bonds_penalty": ParamRule(U16_MAX, 0, U16_MAX, owner=True),
    "yuma3_enabled": _flag(True),
    "liquid_alpha_enabled": _flag(False),
    "alpha_low": ParamRule(45_875, ALPHA_VALUE_FLOOR, U16_MAX, owner=True),
    "alpha_high": ParamRule(58_982, ALPHA_VALUE_FLOOR, U16_MAX, owner=True),
    "alpha_sigmoid_steepness": ParamRule(
        1_000, I16_MIN, I16_MAX, owner=True, owner_low=0, out_of_range="NegativeSigmoidSteepness"
    ),
    "activity_cutoff_factor": ParamRule(
        13_889,
        1,
        U16_MAX,
        owner=True,
        owner_low=1_000,
        owner_high=50_000,
        out_of_range="ActivityCutoffFactorMilliOutOfBounds",
    ),
    "burn": ParamRule(RAO_PER_TAO, 0, U64_MAX),
    "min_burn": ParamRule(500_000, 0, U64_MAX, owner=True),
    "max_burn": ParamRule(100 * RAO_PER_TAO, 0, U64_MAX, owner=True),
    "max_regs_per_block": ParamRule(1, 0, U16_MAX),
    "registration_allowed": _flag(True),
    "serving_rate_limit": ParamRule(50, 0, U64_MAX, owner=True),
}

# Derived values that appear in `Hyperparameters` but cannot be set.
DERIVED = ("activity_cutoff",)


def default_params() -> dict[str, int | bool]:
    return {name: rule.default for name, rule in PARAMS.items()}


def activity_cutoff_blocks(params: dict) -> int:
    return activity_cutoff(int(params["activity_cutoff_factor"]), int(params["tempo"]))


@dataclass(frozen=True)
class GenesisConfig:
    """Chain-wide settings fixed at genesis (stored with the chain; not hyperparameters)."""

    sudo_uri: str = "//Alice"
    dev_account_balance: int = 1_000_000 * RAO_PER_TAO
    subnet_lock_cost: int = 100 * RAO_PER_TAO  # fixed here; dynamic on subtensor
    subnet_limit: int = 128
    stake_threshold: int = 0  # StakeThreshold: stake needed to set weights, RAO
    owner_cut_u16: int = 11_796  # SubnetOwnerCut
    # Subtensor refuses 127.0.0.1 and ::1 as axon addresses; everything on a dev chain runs
    # on one machine, so loopback is allowed unless this is False.
    allow_loopback_axons: bool = True

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @staticmethod
    def from_dict(data: dict) -> GenesisConfig:
        known = GenesisConfig.__dataclass_fields__
        return GenesisConfig(**{k: v for k, v in data.items() if k in known})


DEV_ACCOUNT_URIS = ("//Alice", "//Bob", "//Charlie", "//Dave", "//Eve", "//Ferdie")
