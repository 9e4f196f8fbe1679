"""Helpers shared by the chain contract tests: wallets and a subnet ready for a test."""

from __future__ import annotations

import chain

ALICE = chain.dev_wallet("//Alice")  # the sudo key, and the owner of every test subnet
BOB = chain.dev_wallet("//Bob")
POOR = chain.dev_wallet("//Nobody")  # a coldkey with no balance


def neuron(i: int, coldkey: str = "//Bob") -> chain.DevWallet:
    return chain.dev_wallet(coldkey, f"{coldkey}//neuron{i}")


# A subnet where a test can register several neurons in one block and set weights at once.
EASY = {
    "max_regs_per_block": 64,
    "weights_rate_limit": 0,
    "commit_reveal_weights_enabled": False,
    "immunity_period": 0,
}


async def make_subnet(c, **params) -> int:
    netuid = await c.create_subnet(ALICE)
    for name, value in {**EASY, **params}.items():
        await c.set_hyperparameter(ALICE, netuid, name, value)
    return netuid


async def register_all(c, netuid: int, wallets) -> list[int]:
    return [await c.register(w, netuid) for w in wallets]


async def state_of(c, netuid: int, *addresses: str) -> tuple:
    """Everything a refused call must leave as it was."""
    metagraph = await c.metagraph(netuid)
    balances = [await c.balance(a) for a in addresses]
    return (
        metagraph.hotkeys,
        metagraph.coldkeys,
        metagraph.stake.tolist(),
        metagraph.last_update.tolist(),
        metagraph.axons,
        balances,
        await c.hyperparameters(netuid),
    )
