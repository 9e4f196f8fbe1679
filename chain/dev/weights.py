"""`set_weights`: subtensor's checks in subtensor's order (weights.rs `internal_set_weights`).

1 WeightVecNotEqualSize, 2 MechanismDoesNotExist, 3 UidsLengthExceedUidsInSubNet,
4 HotKeyNotRegisteredInSubNet, 5 NotEnoughStakeToSetWeights (owner exempt),
6 IncorrectWeightVersionKey, 7 SettingWeightsTooFast (only with commit-reveal off),
8 NeuronNoValidatorPermit (self-weight and owner exempt), 9 DuplicateUids,
10 UidVecContainInvalidOne, 11 WeightVecLengthIsLow, 12 MaxWeightExceeded (after max-upscale).
Stored rows keep the caller's order and explicit zeros (SPEC §3).
"""

from __future__ import annotations

import numpy as np

from chain.dev import args as A
from chain.dev.rows import make_row
from chain.dev.state import DevState, Subnet
from chain.errors import ChainError
from chain.types import U16_MAX, tao_text
from incentive.weights import max_upscale_u16, max_weight_exceeded


def is_self_weight(uid: int, uids: list[int], values: list[int]) -> bool:
    return len(values) == 1 and bool(uids) and uids[0] == uid


def registered_uid(subnet: Subnet, hotkey: str) -> int:
    """The hotkey's uid on the subnet, or HotKeyNotRegisteredInSubNet."""
    uid = subnet.uid_of(hotkey)
    if uid is None:
        raise ChainError(
            "HotKeyNotRegisteredInSubNet",
            f"{hotkey} is not a hotkey registered on subnet {subnet.netuid}; weights are signed "
            "by a registered hotkey",
        )
    return uid


def check_rate_limit(subnet: Subnet, uid: int, block: int, code: str, did: str) -> None:
    """`check_rate_limit`: refused with `code` until `weights_rate_limit` blocks have passed
    since the uid's LastUpdate; a row never set (LastUpdate 0) passes. `did` names what the
    uid did at LastUpdate, for the message."""
    last = subnet.neurons[uid].last_update
    limit = int(subnet.params["weights_rate_limit"])
    if last == 0 or block - last >= limit:
        return
    raise ChainError(
        code,
        f"uid {uid} {did} at block {last}; the rate limit is {limit} blocks, retry at block "
        f"{last + limit}",
    )


def owner_uid(subnet: Subnet) -> int | None:
    return subnet.uids.get(subnet.owner_hotkey)


def apply_weights(
    state: DevState, hotkey: str, netuid: int, uids: list[int], values: list[int], version_key: int
) -> dict:
    """Validate and store one weight row as the hotkey's; refuses with the chain's error."""
    if len(uids) != len(values):
        raise ChainError(
            "WeightVecNotEqualSize", f"{len(uids)} uids but {len(values)} weights: pair them up"
        )
    subnet = state.existing_subnet(netuid, "MechanismDoesNotExist")
    if len(uids) > subnet.n:
        raise ChainError(
            "UidsLengthExceedUidsInSubNet",
            f"{len(uids)} weights for a subnet of {subnet.n} uids",
        )
    uid = registered_uid(subnet, hotkey)
    params = subnet.params
    threshold = state.config.stake_threshold
    if uid != owner_uid(subnet) and state.hotkey_stake(netuid, hotkey) < threshold:
        raise ChainError(
            "NotEnoughStakeToSetWeights",
            f"setting weights needs {tao_text(threshold)} of stake; {hotkey} has "
            f"{tao_text(state.hotkey_stake(netuid, hotkey))}",
        )
    required = int(params["weights_version"])
    if required and version_key < required:
        raise ChainError(
            "IncorrectWeightVersionKey",
            f"subnet {netuid} requires version_key >= {required}, got {version_key}",
        )
    commit_reveal = bool(params["commit_reveal_weights_enabled"])
    if not commit_reveal:
        check_rate_limit(subnet, uid, state.block, "SettingWeightsTooFast", "set weights")
    self_weight = is_self_weight(uid, uids, values)
    permitted = subnet.neurons[uid].validator_permit or uid == owner_uid(subnet)
    if not self_weight and not permitted:
        raise ChainError(
            "NeuronNoValidatorPermit",
            f"uid {uid} has no validator permit on subnet {netuid}; only a self-weight is allowed",
        )
    if len(set(uids)) != len(uids):
        raise ChainError("DuplicateUids", "each uid may appear once in a weight vector")
    n = subnet.n
    invalid = [u for u in uids if u >= n]
    if invalid:
        raise ChainError(
            "UidVecContainInvalidOne",
            f"uid {invalid[0]} does not exist on subnet {netuid} (uids are 0..{subnet.n - 1})",
        )
    min_allowed = min(subnet.n, int(params["min_allowed_weights"]))
    if not self_weight and len(values) < min_allowed:
        raise ChainError(
            "WeightVecLengthIsLow",
            f"subnet {netuid} requires at least {min_allowed} weights, got {len(values)}",
        )
    upscaled = max_upscale_u16(np.asarray(values, dtype=np.int64))
    limit = int(params["max_weights_limit"])
    if not self_weight and limit != U16_MAX and max_weight_exceeded(upscaled, limit):
        raise ChainError(
            "MaxWeightExceeded",
            f"one weight exceeds max_weights_limit {limit}/{U16_MAX} of the total; spread the "
            "weights",
        )
    neuron = subnet.neurons[uid]
    neuron.weights = make_row(uids, upscaled.tolist())
    if not commit_reveal:
        neuron.last_update = state.block
    return {"uid": uid}


def set_weights(state: DevState, hotkey: str, args: dict) -> dict:
    """The direct extrinsic: refused with CommitRevealEnabled when the subnet commits instead."""
    netuid = A.integer(args, "netuid", high=A.U16_MAX)
    uids = A.u16_list(args, "uids")
    values = A.u16_list(args, "values")
    version_key = A.optional_integer(args, "version_key", 0)
    subnet = state.subnets.get(netuid)
    if subnet is not None and subnet.params["commit_reveal_weights_enabled"]:
        raise ChainError(
            "CommitRevealEnabled",
            f"subnet {netuid} uses commit-reveal: commit the weights (set_weights does it for you)",
        )
    return apply_weights(state, hotkey, netuid, uids, values, version_key)
