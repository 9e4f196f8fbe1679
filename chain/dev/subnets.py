"""Creating subnets and setting their hyperparameters.

The sudo key (//Alice by default) may set any hyperparameter to any value its storage type
holds; a subnet owner may set the owner-settable ones within the owner ranges (`params.py`).
"""

from __future__ import annotations

from chain.dev import args as A
from chain.dev.accounts import balance, debit, dev_address
from chain.dev.params import PARAMS, ParamRule
from chain.dev.registration import ROOT_NETUID, append_neuron
from chain.dev.state import DevState, Subnet
from chain.errors import BAD_ORIGIN, INVALID_ARGUMENT, ChainError
from chain.types import tao_text
from incentive.emission import initial_last_epoch_block


def sudo_address(state: DevState) -> str:
    return dev_address(state.config.sudo_uri)


def create_subnet(state: DevState, coldkey: str, args: dict) -> dict:
    """`register_network`: the coldkey pays the lock and becomes the owner; its hotkey is uid 0."""
    hotkey = A.address(args, "hotkey")
    if len(state.subnets) >= state.config.subnet_limit:
        raise ChainError(
            "SubnetLimitReached", f"the chain already has {state.config.subnet_limit} subnets"
        )
    owner_of_hotkey = state.hotkey_owner.get(hotkey, coldkey)
    if owner_of_hotkey != coldkey:
        raise ChainError(
            "NonAssociatedColdKey", f"hotkey {hotkey} belongs to coldkey {owner_of_hotkey}"
        )
    cost = state.config.subnet_lock_cost
    if balance(state, coldkey) < cost:
        raise ChainError(
            "CannotAffordLockCost",
            f"creating a subnet locks {tao_text(cost)}; {coldkey} holds "
            f"{tao_text(balance(state, coldkey))}",
        )
    netuid = next(n for n in range(ROOT_NETUID + 1, 2**16) if n not in state.subnets)
    subnet = Subnet(
        netuid=netuid,
        owner_coldkey=coldkey,
        owner_hotkey=hotkey,
        registered_at=state.block,
        locked=cost,
    )
    tempo = int(subnet.params["tempo"])
    subnet.last_epoch_block = initial_last_epoch_block(state.block, netuid, tempo)
    debit(state, coldkey, cost)
    state.hotkey_owner[hotkey] = coldkey
    state.subnets[netuid] = subnet
    append_neuron(subnet, hotkey, state.block)
    return {"netuid": netuid}


def set_hyperparameter(
    state: DevState, signer: str, args: dict, as_sudo: bool | None = None
) -> dict:
    """Set one hyperparameter. `as_sudo` None: the signer has sudo powers iff it is the sudo
    key (the dev chain's rule); True/False force it (how `Sudo.sudo` wrapping is modelled)."""
    netuid = A.integer(args, "netuid", high=A.U16_MAX)
    name = A.text(args, "name")
    subnet = state.existing_subnet(netuid, "SubnetDoesNotExist")
    rule = PARAMS.get(name)
    if rule is None:
        raise ChainError(
            INVALID_ARGUMENT,
            f"unknown hyperparameter {name!r}; settable: {', '.join(sorted(PARAMS))}",
        )
    is_sudo = signer == sudo_address(state) if as_sudo is None else as_sudo
    if not is_sudo and signer != subnet.owner_coldkey:
        raise ChainError(
            BAD_ORIGIN, f"only subnet {netuid}'s owner coldkey or the sudo key may set {name}"
        )
    if not is_sudo and not rule.owner:
        raise ChainError(BAD_ORIGIN, f"{name} is root-only: only the sudo key may set it")
    value = _coerce(rule, name, A.value_of(args, "value"))
    _check_range(rule, name, value, is_sudo)
    _check_consistency(subnet, name, value)
    subnet.params[name] = value
    if name == "tempo":  # a tempo change restarts the epoch cycle (sudo_set_tempo)
        subnet.last_epoch_block = state.block
    if name in ("min_burn", "max_burn"):
        low, high = subnet.params["min_burn"], subnet.params["max_burn"]
        subnet.params["burn"] = min(max(subnet.params["burn"], low), high)
    return {"name": name, "value": value}


def _coerce(rule: ParamRule, name: str, value: int | bool) -> int | bool:
    if rule.is_bool:
        if value not in (0, 1):
            raise ChainError(INVALID_ARGUMENT, f"{name} is a flag: give true or false")
        return bool(value)
    if isinstance(value, bool):
        raise ChainError(INVALID_ARGUMENT, f"{name} is a number, not a flag")
    return int(value)


def _check_range(rule: ParamRule, name: str, value: int | bool, is_sudo: bool) -> None:
    if rule.is_bool:
        return
    low, high = rule.low, rule.high
    if not is_sudo:
        low = rule.owner_low if rule.owner_low is not None else low
        high = rule.owner_high if rule.owner_high is not None else high
    if value > high:
        raise ChainError(rule.out_of_range, f"{name} must be at most {high}, got {value}")
    if value < low:
        code = "RevealPeriodTooSmall" if name == "commit_reveal_period" else rule.out_of_range
        if name in ("alpha_low", "alpha_high"):
            code = "AlphaLowOutOfRange" if name == "alpha_low" else "AlphaHighTooLow"
        raise ChainError(code, f"{name} must be at least {low}, got {value}")


def _check_consistency(subnet: Subnet, name: str, value: int | bool) -> None:
    """Rules that relate a value to other hyperparameters or to the subnet's neurons."""
    params = subnet.params
    if name == "max_allowed_uids":
        if value < subnet.n:
            raise ChainError(
                "MaxAllowedUIdsLessThanCurrentUIds",
                f"subnet {subnet.netuid} already has {subnet.n} uids; max_allowed_uids={value} "
                "would not hold them",
            )
        if value < params["max_validators"]:
            raise ChainError(
                "MaxValidatorsLargerThanMaxUIds",
                f"max_validators is {params['max_validators']}; lower it before max_allowed_uids",
            )
    if name == "max_validators" and value > params["max_allowed_uids"]:
        raise ChainError(
            "MaxValidatorsLargerThanMaxUIds",
            f"max_validators={value} exceeds max_allowed_uids={params['max_allowed_uids']}",
        )
    if name in ("alpha_low", "alpha_high"):
        if not params["liquid_alpha_enabled"]:
            raise ChainError(
                "LiquidAlphaDisabled", "enable liquid_alpha_enabled before setting alpha values"
            )
        low = value if name == "alpha_low" else params["alpha_low"]
        high = value if name == "alpha_high" else params["alpha_high"]
        if low > high:
            code = "AlphaLowOutOfRange" if name == "alpha_low" else "AlphaHighTooLow"
            raise ChainError(code, f"alpha_low ({low}) must not exceed alpha_high ({high})")
    if name == "burn" and not params["min_burn"] <= value <= params["max_burn"]:
        raise ChainError(
            "ValueNotInBounds",
            f"burn must lie in [min_burn, max_burn] = [{params['min_burn']}, {params['max_burn']}]",
        )
    if name == "min_burn" and value > params["max_burn"]:
        raise ChainError(
            "ValueNotInBounds", f"min_burn must not exceed max_burn ({params['max_burn']})"
        )
    if name == "max_burn" and value < params["min_burn"]:
        raise ChainError(
            "ValueNotInBounds", f"max_burn must not be below min_burn ({params['min_burn']})"
        )
