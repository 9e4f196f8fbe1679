"""Where subtensor keeps what `SubtensorChain` reads, and how it becomes our snapshot types.

Pure tables and conversions (no IO), shared by the adapter and by the tests' fake substrate.
"""

from __future__ import annotations

import ipaddress

from chain.types import NEVER_SERVED, AxonInfo, Hyperparameters, Metagraph, activity_cutoff

# Hyperparameter name (the SDK's) -> SubtensorModule storage item, keyed by netuid.
HYPERPARAMETER_STORAGE: dict[str, str] = {
    "tempo": "Tempo",
    "immunity_period": "ImmunityPeriod",
    "max_allowed_uids": "MaxAllowedUids",
    "max_validators": "MaxAllowedValidators",
    "min_allowed_weights": "MinAllowedWeights",
    "max_weights_limit": "MaxWeightsLimit",
    "weights_rate_limit": "WeightsSetRateLimit",
    "weights_version": "WeightsVersionKey",
    "commit_reveal_weights_enabled": "CommitRevealWeightsEnabled",
    "commit_reveal_period": "RevealPeriodEpochs",
    "kappa": "Kappa",
    "bonds_moving_avg": "BondsMovingAverage",
    "bonds_penalty": "BondsPenalty",
    "yuma3_enabled": "Yuma3On",
    "liquid_alpha_enabled": "LiquidAlphaOn",
    "alpha_values": "AlphaValues",
    "alpha_sigmoid_steepness": "AlphaSigmoidSteepness",
    "activity_cutoff_factor": "ActivityCutoffFactorMilli",
    "burn": "Burn",
    "min_burn": "MinBurn",
    "max_burn": "MaxBurn",
    "max_regs_per_block": "MaxRegistrationsPerBlock",
    "registration_allowed": "NetworkRegistrationAllowed",
    "serving_rate_limit": "ServingRateLimit",
}

# Hyperparameter name -> (AdminUtils setter, its value parameter), for calls made as sudo.
# max_weights_limit and burn have no setter on today's runtime.
SUDO_SETTERS: dict[str, tuple[str, str]] = {
    "tempo": ("sudo_set_tempo", "tempo"),
    "immunity_period": ("sudo_set_immunity_period", "immunity_period"),
    "max_allowed_uids": ("sudo_set_max_allowed_uids", "max_allowed_uids"),
    "max_validators": ("sudo_set_max_allowed_validators", "max_allowed_validators"),
    "min_allowed_weights": ("sudo_set_min_allowed_weights", "min_allowed_weights"),
    "weights_rate_limit": ("sudo_set_weights_set_rate_limit", "weights_set_rate_limit"),
    "weights_version": ("sudo_set_weights_version_key", "weights_version_key"),
    "commit_reveal_weights_enabled": ("sudo_set_commit_reveal_weights_enabled", "enabled"),
    "commit_reveal_period": ("sudo_set_commit_reveal_weights_interval", "interval"),
    "kappa": ("sudo_set_kappa", "kappa"),
    "bonds_moving_avg": ("sudo_set_bonds_moving_average", "bonds_moving_average"),
    "bonds_penalty": ("sudo_set_bonds_penalty", "bonds_penalty"),
    "yuma3_enabled": ("sudo_set_yuma3_enabled", "enabled"),
    "liquid_alpha_enabled": ("sudo_set_liquid_alpha_enabled", "enabled"),
    "alpha_low": ("sudo_set_alpha_values", "alpha_low"),
    "alpha_high": ("sudo_set_alpha_values", "alpha_high"),
    "alpha_sigmoid_steepness": ("sudo_set_alpha_sigmoid_steepness", "steepness"),
    "activity_cutoff_factor": ("sudo_set_activity_cutoff_factor", "factor_milli"),
    "min_burn": ("sudo_set_min_burn", "min_burn"),
    "max_burn": ("sudo_set_max_burn", "max_burn"),
    "max_regs_per_block": ("sudo_set_max_registrations_per_block", "max_registrations_per_block"),
    "registration_allowed": ("sudo_set_network_registration_allowed", "registration_allowed"),
    "serving_rate_limit": ("sudo_set_serving_rate_limit", "serving_rate_limit"),
}

# The chain's error name when an owner's value is outside the range the SDK checks first.
RANGE_ERRORS: dict[str, str] = {
    "tempo": "TempoOutOfBounds",
    "activity_cutoff_factor": "ActivityCutoffFactorMilliOutOfBounds",
    "bonds_moving_avg": "BondsMovingAverageMaxReached",
    "alpha_sigmoid_steepness": "NegativeSigmoidSteepness",
    "commit_reveal_period": "RevealPeriodTooLarge",
}


def _int(value, default: int = 0) -> int:
    return default if value is None else int(value)


def hyperparameters_from_storage(netuid: int, stored: dict) -> Hyperparameters:
    low, high = stored.get("alpha_values") or (0, 0)
    values = {name: stored[name] for name in HYPERPARAMETER_STORAGE if name != "alpha_values"}
    flags = {
        "commit_reveal_weights_enabled",
        "yuma3_enabled",
        "liquid_alpha_enabled",
        "registration_allowed",
    }
    return Hyperparameters(
        netuid=netuid,
        alpha_low=int(low),
        alpha_high=int(high),
        activity_cutoff=activity_cutoff(
            _int(stored["activity_cutoff_factor"]), _int(stored["tempo"])
        ),
        **{name: bool(v) if name in flags else _int(v) for name, v in values.items()},
    )


def _axon(raw) -> AxonInfo:
    if not isinstance(raw, dict) or not raw.get("port"):
        return NEVER_SERVED
    ip_type = int(raw.get("ip_type") or 4)
    number = int(raw.get("ip") or 0)
    ip = ipaddress.IPv4Address(number) if ip_type == 4 else ipaddress.IPv6Address(number)
    return AxonInfo(
        ip=str(ip),
        port=int(raw["port"]),
        ip_type=ip_type,
        protocol=int(raw.get("protocol") or 0),
        version=int(raw.get("version") or 0),
        block=int(raw.get("block") or 0),
    )


def metagraph_from_runtime(netuid: int, graph: dict, validator_trust) -> Metagraph:
    """From `SubnetInfoRuntimeApi.get_metagraph` (and the ValidatorTrust storage vector)."""
    hotkeys = [str(h) for h in graph.get("hotkeys") or []]
    n = len(hotkeys)

    def column(key: str, default=0) -> list:
        values = list(graph.get(key) or [])
        return [default if v is None else v for v in values + [default] * (n - len(values))][:n]

    trust = list(validator_trust or []) + [0] * n
    return Metagraph.build(
        netuid=netuid,
        block=int(graph.get("block") or 0),
        hotkeys=hotkeys,
        coldkeys=[str(c) for c in column("coldkeys", "")],
        stake=[int(v) for v in column("total_stake")],
        validator_permit=[bool(v) for v in column("validator_permit", False)],
        axons=[_axon(a) for a in column("axons", None)],
        incentive_u16=[int(v) for v in column("incentives")],
        dividends_u16=[int(v) for v in column("dividends")],
        emission=[int(v) for v in column("emission")],
        consensus_u16=[int(v) for v in column("consensus")],
        validator_trust_u16=[int(v) for v in trust[:n]],
        last_update=[int(v) for v in column("last_update")],
        block_at_registration=[int(v) for v in column("block_at_registration")],
        active=[bool(v) for v in column("active", True)],
        owner_hotkey=str(graph.get("owner_hotkey") or ""),
        owner_coldkey=str(graph.get("owner_coldkey") or ""),
    )
