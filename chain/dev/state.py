"""The dev chain's whole state, as plain data: what subtensor keeps in storage, per subnet.

Everything the rules read or write lives here and nowhere else, so a state can be copied
(snapshot/revert), written to disk (`to_dict`) and read back (`from_dict`) exactly.
Amounts are RAO ints, scores u16 ints, blocks ints.
"""

from __future__ import annotations

import copy
from array import array
from dataclasses import dataclass, field

from chain.dev.params import GenesisConfig, default_params
from chain.dev.rows import empty_row, pairs, row_from_pairs
from chain.errors import ChainError

STATE_FORMAT = 1


@dataclass
class Axon:
    """`AxonInfo` as the chain stores it: ip as an integer, ip_type 4 or 6."""

    block: int
    version: int
    ip: int
    port: int
    ip_type: int
    protocol: int


@dataclass
class Neuron:
    """One uid: who holds it and what the last epoch wrote for it."""

    hotkey: str
    registered_at: int
    last_update: int
    weights: array = field(default_factory=empty_row)  # stored row, caller's order (rows.py)
    bonds: array = field(default_factory=empty_row)
    validator_permit: bool = False
    active: bool = True
    consensus: int = 0
    incentive: int = 0
    dividends: int = 0
    validator_trust: int = 0
    stake_weight: int = 0
    emission: int = 0  # RAO paid to this uid by the last epoch

    def clear_scores(self) -> None:
        """`clear_neuron`: a replaced uid starts with no scores, weights or bonds."""
        self.weights = empty_row()
        self.bonds = empty_row()
        self.validator_permit = False
        self.active = True
        self.consensus = self.incentive = self.dividends = 0
        self.validator_trust = self.stake_weight = self.emission = 0


@dataclass
class Commit:
    """A timelocked weight commit: unreadable until the reveal epoch opens its key."""

    hotkey: str
    commit_block: int
    ciphertext: str  # hex of an ed25519 sealed box for the reveal round's key
    reveal_round: int


@dataclass
class Subnet:
    netuid: int
    owner_coldkey: str
    owner_hotkey: str
    registered_at: int
    locked: int
    params: dict = field(default_factory=default_params)
    neurons: list[Neuron] = field(default_factory=list)
    axons: dict[str, Axon] = field(default_factory=dict)  # by hotkey, as the chain keys them
    # Tempo scheduling (SPEC §7).
    last_epoch_block: int = 0
    epoch_index: int = 0
    pending_epoch_at: int = 0
    blocks_since_last_step: int = 0
    last_mechanism_step_block: int = 0
    # Emission accrued per block, paid at the epoch (SPEC §6).
    pending_server: int = 0
    pending_validator: int = 0
    pending_owner_cut: int = 0
    alpha_issuance: int = 0
    registrations_this_block: int = 0
    # Timelocked commits keyed by the epoch they were made in (TimelockedWeightCommits).
    commits: dict[int, list[Commit]] = field(default_factory=dict)
    uids: dict[str, int] = field(default_factory=dict)  # hotkey -> uid, kept in step

    def uid_of(self, hotkey: str) -> int | None:
        return self.uids.get(hotkey)

    @property
    def n(self) -> int:
        return len(self.neurons)


@dataclass
class DevState:
    """The chain: block height, accounts, stake, subnets, and the genesis settings."""

    block: int
    genesis_hash: str
    reveal_seed: str  # hex; the root of every commit-reveal round key (never readable)
    config: GenesisConfig
    balances: dict[str, int] = field(default_factory=dict)
    nonces: dict[str, int] = field(default_factory=dict)
    hotkey_owner: dict[str, str] = field(default_factory=dict)
    # (netuid, hotkey) -> {coldkey: alpha RAO}
    stake: dict[tuple[int, str], dict[str, int]] = field(default_factory=dict)
    subnets: dict[int, Subnet] = field(default_factory=dict)
    total_issuance: int = 0

    def copy(self) -> DevState:
        return copy.deepcopy(self)

    def existing_subnet(self, netuid: int, code: str = "SubnetNotExists") -> Subnet:
        """The subnet, or refused with `code` (calls name a missing subnet differently)."""
        subnet = self.subnets.get(netuid)
        if subnet is None:
            raise ChainError(code, f"subnet {netuid} does not exist")
        return subnet

    def hotkey_stake(self, netuid: int, hotkey: str) -> int:
        return sum(self.stake.get((netuid, hotkey), {}).values())

    def to_dict(self) -> dict:
        return {
            "format": STATE_FORMAT,
            "block": self.block,
            "genesis_hash": self.genesis_hash,
            "reveal_seed": self.reveal_seed,
            "config": self.config.to_dict(),
            "balances": self.balances,
            "nonces": self.nonces,
            "hotkey_owner": self.hotkey_owner,
            "stake": [[netuid, hk, by_cold] for (netuid, hk), by_cold in self.stake.items()],
            "subnets": [_subnet_to_dict(s) for s in self.subnets.values()],
            "total_issuance": self.total_issuance,
        }

    @staticmethod
    def from_dict(data: dict) -> DevState:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown dev chain state format {data.get('format')!r}")
        subnets = [_subnet_from_dict(s) for s in data["subnets"]]
        return DevState(
            block=int(data["block"]),
            genesis_hash=data["genesis_hash"],
            reveal_seed=data["reveal_seed"],
            config=GenesisConfig.from_dict(data["config"]),
            balances={k: int(v) for k, v in data["balances"].items()},
            nonces={k: int(v) for k, v in data["nonces"].items()},
            hotkey_owner=dict(data["hotkey_owner"]),
            stake={(int(n), hk): dict(by_cold) for n, hk, by_cold in data["stake"]},
            subnets={s.netuid: s for s in subnets},
            total_issuance=int(data["total_issuance"]),
        )


_SUBNET_SCALARS = (
    "netuid",
    "owner_coldkey",
    "owner_hotkey",
    "registered_at",
    "locked",
    "last_epoch_block",
    "epoch_index",
    "pending_epoch_at",
    "blocks_since_last_step",
    "last_mechanism_step_block",
    "pending_server",
    "pending_validator",
    "pending_owner_cut",
    "alpha_issuance",
    "registrations_this_block",
)


def _subnet_to_dict(subnet: Subnet) -> dict:
    out = {name: getattr(subnet, name) for name in _SUBNET_SCALARS}
    out["params"] = dict(subnet.params)
    out["neurons"] = [
        {
            **n.__dict__,
            "weights": [list(p) for p in pairs(n.weights)],
            "bonds": [list(p) for p in pairs(n.bonds)],
        }
        for n in subnet.neurons
    ]
    out["axons"] = {hk: a.__dict__ for hk, a in subnet.axons.items()}
    out["commits"] = [[epoch, [c.__dict__ for c in cs]] for epoch, cs in subnet.commits.items()]
    return out


def _subnet_from_dict(data: dict) -> Subnet:
    subnet = Subnet(**{name: data[name] for name in _SUBNET_SCALARS})
    subnet.params = dict(data["params"])
    subnet.neurons = [
        Neuron(
            **{
                **n,
                "weights": row_from_pairs(n["weights"]),
                "bonds": row_from_pairs(n["bonds"]),
            }
        )
        for n in data["neurons"]
    ]
    subnet.axons = {hk: Axon(**a) for hk, a in data["axons"].items()}
    subnet.commits = {int(e): [Commit(**c) for c in cs] for e, cs in data["commits"]}
    subnet.uids = {n.hotkey: uid for uid, n in enumerate(subnet.neurons)}
    return subnet
