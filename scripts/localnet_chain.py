"""The subnet `subnet localnet` builds on a fresh dev chain: its wallets, its settings, its
neurons.

Wallets are new random keys written (unencrypted) into the run's own folder, never the
user's ~/.bittensor. //Alice (the dev chain's funded sudo key) pays everyone's starting
balance and sets the demo hyperparameters; the owner wallet creates the subnet; each neuron's
coldkey pays its own registration and each validator's coldkey stakes on its hotkey, as on
a real network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bittensor

from chain import Metagraph, dev_wallet
from chain.dev.client import DevChainClient

ALICE = dev_wallet("//Alice")
HOTKEY = "default"
OWNER = "owner"
VALIDATOR = "validator"
MINER = "miner"
CHEATER = "cheater"  # a miner serving another model's output
# Starting balances (TAO) paid by //Alice: the owner locks 100 TAO for the subnet; a
# registration burns 1 TAO by default.
OWNER_FUNDS_TAO = 1_000
NEURON_FUNDS_TAO = 10
# The first validator stakes this much; validator i stakes VALIDATOR_STAKE_TAO / (i + 1), so
# the validators differ in stake and the table shows dividends following stake.
VALIDATOR_STAKE_TAO = 1_000


def demo_hyperparameters(tempo: int, validators: int) -> dict[str, int | bool]:
    """What //Alice sets so that a demo shows emissions within a minute.

    Short tempo; no rate limits on weights, serving or registrations; no commit-reveal, so
    weights count at the next epoch; no immunity; one validator permit per validator (miners
    hold no stake and need none)."""
    return {
        "weights_rate_limit": 0,
        "commit_reveal_weights_enabled": False,
        "serving_rate_limit": 0,
        "max_regs_per_block": 64,
        "immunity_period": 0,
        "max_validators": validators,
        "tempo": tempo,  # last: setting the tempo restarts the epoch cycle at that block
    }


@dataclass(frozen=True)
class NeuronSpec:
    """One neuron of the demo: its role, its wallet in the run folder, its uid once known."""

    name: str  # validator0, miner1, ...
    role: str  # VALIDATOR, MINER or CHEATER
    wallet_name: str
    hotkey: str  # ss58
    coldkey: str  # ss58
    uid: int = -1

    @property
    def is_miner(self) -> bool:
        return self.role in (MINER, CHEATER)

    def holds_uid(self, metagraph: Metagraph) -> bool:
        """False once its uid was replaced (pruned and taken by another hotkey)."""
        return self.uid < metagraph.n and metagraph.hotkeys[self.uid] == self.hotkey


def new_wallet(path: Path, name: str) -> bittensor.Wallet:
    """A fresh coldkey and hotkey, unencrypted (a throwaway demo wallet), under `path`."""
    wallet = bittensor.Wallet(name=name, hotkey=HOTKEY, path=str(path))
    wallet.create_new_coldkey(use_password=False, overwrite=True, suppress=True)
    wallet.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    return wallet


def validator_stake(index: int) -> float:
    """TAO the index-th validator stakes (validators come first in `plan_neurons`)."""
    return VALIDATOR_STAKE_TAO / (index + 1)


def plan_neurons(miners: int, validators: int, cheaters: int) -> list[tuple[str, str]]:
    """(name, role) of every neuron: validators first, then honest miners, then cheaters."""
    names = [(f"validator{i}", VALIDATOR) for i in range(validators)]
    names += [(f"miner{i}", MINER) for i in range(miners - cheaters)]
    names += [(f"miner{i}", CHEATER) for i in range(miners - cheaters, miners)]
    return names


@dataclass(frozen=True)
class Subnet:
    netuid: int
    tempo_block: int  # the block the tempo was set at: epochs fall at tempo_block + k * tempo
    owner: NeuronSpec
    neurons: list[NeuronSpec]


async def build_subnet(
    client: DevChainClient,
    wallets_dir: Path,
    miners: int,
    validators: int,
    cheaters: int,
    tempo: int,
) -> Subnet:
    """Fund, create, configure, register and stake: the subnet ready for its neurons."""
    owner_wallet = new_wallet(wallets_dir, OWNER)
    planned = plan_neurons(miners, validators, cheaters)
    wallets = {name: new_wallet(wallets_dir, name) for name, _ in planned}
    await client.transfer(ALICE, owner_wallet.coldkeypub.ss58_address, OWNER_FUNDS_TAO)
    for index, (name, role) in enumerate(planned):
        funds = NEURON_FUNDS_TAO + (validator_stake(index) if role == VALIDATOR else 0)
        await client.transfer(ALICE, wallets[name].coldkeypub.ss58_address, funds)
    netuid = await client.create_subnet(owner_wallet)
    tempo_block = 0
    for name, value in demo_hyperparameters(tempo, validators).items():
        args = {"netuid": netuid, "name": name, "value": value}
        receipt = await client.submit(ALICE.coldkey, "set_hyperparameter", args)
        if name == "tempo":
            tempo_block = receipt["block"]
    neurons = []
    for name, role in planned:
        wallet = wallets[name]
        uid = await client.register(wallet, netuid)
        neurons.append(
            NeuronSpec(
                name,
                role,
                name,
                wallet.hotkey.ss58_address,
                wallet.coldkeypub.ss58_address,
                uid,
            )
        )
    for index, spec in enumerate(neurons):
        if spec.role == VALIDATOR:
            await client.add_stake(wallets[spec.name], netuid, spec.hotkey, validator_stake(index))
    owner = NeuronSpec(
        OWNER,
        OWNER,
        OWNER,
        owner_wallet.hotkey.ss58_address,
        owner_wallet.coldkeypub.ss58_address,
        0,
    )
    return Subnet(netuid, tempo_block, owner, neurons)
