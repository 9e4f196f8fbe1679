"""Burned registration, pruning, and serving an axon (subtensor's registration.rs, uids.rs,
serving.rs).

When a subnet is full, registration replaces the neuron with the lowest emission among those
that are not immune (registered less than `immunity_period` blocks ago), ties going to the
older registration and then the lower uid; immune neurons are replaced only when every
candidate is immune, and the owner's hotkey is never replaced (SPEC §4.13).
"""

from __future__ import annotations

import ipaddress

from chain.dev import args as A
from chain.dev.accounts import balance, debit
from chain.dev.rows import pairs, row_from_pairs
from chain.dev.state import Axon, DevState, Neuron, Subnet
from chain.errors import ChainError
from chain.types import tao_text

ROOT_NETUID = 0
IPV4_MAX = 2**32 - 1
IPV4_LOOPBACK = int(ipaddress.IPv4Address("127.0.0.1"))
IPV6_LOOPBACK = 1
U128_MAX = 2**128 - 1
U32_MAX = 2**32 - 1
U8_MAX = 255


def append_neuron(subnet: Subnet, hotkey: str, block: int) -> int:
    """A new uid at the end; LastUpdate starts at the registration block (uids.rs)."""
    uid = subnet.n
    subnet.neurons.append(Neuron(hotkey=hotkey, registered_at=block, last_update=block))
    subnet.uids[hotkey] = uid
    return uid


def replace_neuron(subnet: Subnet, uid: int, hotkey: str, block: int) -> None:
    """The uid goes to a new hotkey with fresh state; others' weights on it are zeroed."""
    neuron = subnet.neurons[uid]
    del subnet.uids[neuron.hotkey]
    subnet.axons.pop(neuron.hotkey, None)
    neuron.clear_scores()
    neuron.hotkey = hotkey
    neuron.registered_at = block
    neuron.last_update = block
    subnet.uids[hotkey] = uid
    for other in subnet.neurons:
        if uid in other.weights[0::2]:
            other.weights = row_from_pairs(
                (d, 0 if d == uid else w) for d, w in pairs(other.weights)
            )


def is_immune(subnet: Subnet, uid: int, block: int) -> bool:
    registered = subnet.neurons[uid].registered_at
    return block - registered < int(subnet.params["immunity_period"])


def neuron_to_prune(subnet: Subnet, block: int) -> int | None:
    """Lowest emission, then older registration, then lower uid; non-immune first."""
    best: dict[bool, tuple[int, int, int]] = {}
    for uid, neuron in enumerate(subnet.neurons):
        if neuron.hotkey == subnet.owner_hotkey:
            continue
        key = (neuron.emission, neuron.registered_at, uid)
        immune = is_immune(subnet, uid, block)
        if immune not in best or key < best[immune]:
            best[immune] = key
    choice = best.get(False) or best.get(True)
    return None if choice is None else choice[2]


def burned_register(state: DevState, coldkey: str, args: dict) -> dict:
    """`burned_register` signed by the coldkey, in `do_burned_registration`'s order."""
    netuid = A.integer(args, "netuid", high=A.U16_MAX)
    hotkey = A.address(args, "hotkey")
    if netuid == ROOT_NETUID:
        raise ChainError(
            "RegistrationNotPermittedOnRootSubnet", "netuid 0 is the root network; pick a subnet"
        )
    subnet = state.existing_subnet(netuid)
    params = subnet.params
    if not params["registration_allowed"]:
        raise ChainError("SubNetRegistrationDisabled", f"subnet {netuid} has registration off")
    if subnet.registrations_this_block >= int(params["max_regs_per_block"]):
        raise ChainError(
            "TooManyRegistrationsThisBlock",
            f"subnet {netuid} allows {params['max_regs_per_block']} registration(s) per block; "
            "retry in the next block",
        )
    if hotkey in subnet.uids:
        raise ChainError(
            "HotKeyAlreadyRegisteredInSubNet",
            f"hotkey {hotkey} already holds uid {subnet.uids[hotkey]} on subnet {netuid}",
        )
    cost = int(params["burn"])
    if balance(state, coldkey) < cost:
        raise ChainError(
            "NotEnoughBalanceToStake",
            f"registration burns {tao_text(cost)}; {coldkey} holds "
            f"{tao_text(balance(state, coldkey))}",
        )
    owner = state.hotkey_owner.get(hotkey, coldkey)
    if owner != coldkey:
        raise ChainError("NonAssociatedColdKey", f"hotkey {hotkey} belongs to coldkey {owner}")
    max_uids = int(params["max_allowed_uids"])
    prune = None
    if subnet.n >= max_uids:
        prune = neuron_to_prune(subnet, state.block)
        if prune is None:
            raise ChainError(
                "NoNeuronIdAvailable", f"subnet {netuid} is full and nothing is prunable"
            )
    debit(state, coldkey, cost)
    state.total_issuance -= cost  # the burn leaves circulation
    state.hotkey_owner[hotkey] = coldkey
    if prune is None:
        uid = append_neuron(subnet, hotkey, state.block)
    else:
        uid = prune
        replace_neuron(subnet, uid, hotkey, state.block)
    subnet.registrations_this_block += 1
    return {"uid": uid, "replaced": prune is not None}


def valid_ip(ip_type: int, ip: int, allow_loopback: bool) -> bool:
    """`is_valid_ip_address` with zero allowed (axons may serve 0.0.0.0 for testing)."""
    if ip_type == 4:
        return ip <= IPV4_MAX - 1 and (allow_loopback or ip != IPV4_LOOPBACK)
    return ip != U128_MAX and (allow_loopback or ip != IPV6_LOOPBACK)


def serve_axon(state: DevState, hotkey: str, args: dict) -> dict:
    """`serve_axon` signed by the hotkey: registered, valid address, rate limit, port != 0."""
    netuid = A.integer(args, "netuid", high=A.U16_MAX)
    ip = A.integer(args, "ip", high=U128_MAX)
    port = A.integer(args, "port", high=A.U16_MAX)
    ip_type = A.integer(args, "ip_type", high=U8_MAX)
    protocol = A.optional_integer(args, "protocol", 4, high=U8_MAX)
    version = A.optional_integer(args, "version", 0, high=U32_MAX)
    subnet = state.existing_subnet(netuid)
    if hotkey not in subnet.uids:
        raise ChainError(
            "HotKeyNotRegisteredInNetwork",
            f"hotkey {hotkey} is not registered on subnet {netuid}; register before serving",
        )
    if ip_type not in (4, 6):
        raise ChainError("InvalidIpType", f"ip_type must be 4 or 6, got {ip_type}")
    if not valid_ip(ip_type, ip, state.config.allow_loopback_axons):
        raise ChainError("InvalidIpAddress", f"{ip} is not a servable IPv{ip_type} address")
    previous = subnet.axons.get(hotkey)
    limit = int(subnet.params["serving_rate_limit"])
    if previous is not None and limit and previous.block and state.block - previous.block < limit:
        raise ChainError(
            "ServingRateLimitExceeded",
            f"axon served at block {previous.block}; serving_rate_limit is {limit} blocks, "
            f"retry at block {previous.block + limit}",
        )
    if port == 0:
        raise ChainError("InvalidPort", "port 0 cannot be served")
    subnet.axons[hotkey] = Axon(state.block, version, ip, port, ip_type, protocol)
    return {"uid": subnet.uids[hotkey]}
