"""The dev chain as a pure state machine: transactions and blocks in, state and answers out.

No sockets, no clocks, no disk: `DevChain` checks a signed transaction (signature, then nonce,
then the call's own rules), applies it or refuses it leaving the state untouched, produces
blocks when told to, and answers reads as JSON-ready dicts. The node, the in-process chain
and the store all drive this one object.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import asdict

from chain.dev import accounts, registration, subnets
from chain.dev.coinbase import produce_block
from chain.dev.commit_reveal import commit_timelocked_weights, reveal_target
from chain.dev.params import PARAMS, activity_cutoff_blocks
from chain.dev.rows import pairs
from chain.dev.signing import Transaction, verify
from chain.dev.state import DevState
from chain.dev.weights import set_weights
from chain.errors import FUTURE, INVALID_ARGUMENT, STALE, UNKNOWN_CALL, ChainError
from chain.types import NEVER_SERVED

CallFn = Callable[[DevState, str, dict], dict]

# Every call the dev chain accepts, by the name a transaction carries. The signer is the
# origin: coldkey calls are signed by the coldkey, hotkey calls (weights, axon) by the hotkey.
CALLS: dict[str, CallFn] = {
    "transfer": accounts.transfer,
    "add_stake": accounts.add_stake,
    "remove_stake": accounts.remove_stake,
    "register_network": subnets.create_subnet,
    "set_hyperparameter": subnets.set_hyperparameter,
    "burned_register": registration.burned_register,
    "serve_axon": registration.serve_axon,
    "set_weights": set_weights,
    "commit_timelocked_weights": commit_timelocked_weights,
}


class DevChain:
    """Owns one `DevState` and every way of changing or reading it."""

    def __init__(self, state: DevState):
        self.state = state

    # --- changes -------------------------------------------------------------------------

    def submit(self, tx: Transaction) -> dict:
        """Verify and apply a signed transaction; ChainError (state unchanged) if refused."""
        if tx.call not in CALLS:
            raise ChainError(UNKNOWN_CALL, f"no call {tx.call!r}; calls: {', '.join(CALLS)}")
        verify(tx, self.state.genesis_hash)
        expected = self.state.nonces.get(tx.signer, 0)
        if tx.nonce < expected:
            raise ChainError(STALE, f"nonce {tx.nonce} was already used; next is {expected}")
        if tx.nonce > expected:
            raise ChainError(FUTURE, f"nonce {tx.nonce} is ahead of the next nonce {expected}")
        return self.apply(tx)

    def apply(self, tx: Transaction) -> dict:
        """Apply an already verified transaction (also how the store replays its log)."""
        result = CALLS[tx.call](self.state, tx.signer, tx.args)
        self.state.nonces[tx.signer] = tx.nonce + 1
        return {**result, "block": self.state.block}

    def produce_block(self) -> dict:
        return produce_block(self.state)

    # --- reads ---------------------------------------------------------------------------

    def info(self) -> dict:
        return {
            "genesis_hash": self.state.genesis_hash,
            "block": self.state.block,
            "sudo": subnets.sudo_address(self.state),
            "calls": sorted(CALLS),
        }

    def nonce(self, address: str) -> int:
        return self.state.nonces.get(address, 0)

    def balance(self, address: str) -> int:
        return accounts.balance(self.state, address)

    def stake(self, netuid: int, hotkey: str, coldkey: str | None = None) -> int:
        if coldkey is None:
            return self.state.hotkey_stake(netuid, hotkey)
        return self.state.stake.get((netuid, hotkey), {}).get(coldkey, 0)

    def subnets(self) -> list[dict]:
        return [
            {"netuid": s.netuid, "owner_coldkey": s.owner_coldkey, "owner_hotkey": s.owner_hotkey}
            for s in self.state.subnets.values()
        ]

    def _subnet(self, netuid: object):
        if isinstance(netuid, bool) or not isinstance(netuid, int):
            raise ChainError(INVALID_ARGUMENT, f"netuid must be an integer, got {netuid!r}")
        return self.state.existing_subnet(netuid)

    def hyperparameters(self, netuid: int) -> dict:
        subnet = self._subnet(netuid)
        out = {name: subnet.params[name] for name in PARAMS}
        out["activity_cutoff"] = activity_cutoff_blocks(subnet.params)
        return {"netuid": netuid, **out}

    def weights(self, netuid: int) -> list[list[list[int]]]:
        """Stored weight rows by uid (revealed weights only; commits are never readable)."""
        return [[list(pair) for pair in pairs(n.weights)] for n in self._subnet(netuid).neurons]

    def reveal_key(self, netuid: int) -> dict:
        return reveal_target(self.state, self._subnet(netuid))

    def metagraph(self, netuid: int) -> dict:
        subnet = self._subnet(netuid)
        state = self.state
        neurons = subnet.neurons
        hotkeys = [n.hotkey for n in neurons]
        return {
            "netuid": netuid,
            "block": state.block,
            "hotkeys": hotkeys,
            "coldkeys": [state.hotkey_owner[h] for h in hotkeys],
            "stake": [state.hotkey_stake(netuid, h) for h in hotkeys],
            "validator_permit": [n.validator_permit for n in neurons],
            "axons": [_axon_dict(subnet.axons.get(h)) for h in hotkeys],
            "incentive_u16": [n.incentive for n in neurons],
            "dividends_u16": [n.dividends for n in neurons],
            "emission": [n.emission for n in neurons],
            "consensus_u16": [n.consensus for n in neurons],
            "validator_trust_u16": [n.validator_trust for n in neurons],
            "last_update": [n.last_update for n in neurons],
            "block_at_registration": [n.registered_at for n in neurons],
            "active": [n.active for n in neurons],
            "owner_hotkey": subnet.owner_hotkey,
            "owner_coldkey": subnet.owner_coldkey,
        }


def _axon_dict(axon) -> dict:
    if axon is None:
        return asdict(NEVER_SERVED)
    ip = ipaddress.IPv4Address(axon.ip) if axon.ip_type == 4 else ipaddress.IPv6Address(axon.ip)
    return {
        "ip": str(ip),
        "port": axon.port,
        "ip_type": axon.ip_type,
        "protocol": axon.protocol,
        "version": axon.version,
        "block": axon.block,
    }
