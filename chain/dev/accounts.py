"""Genesis, balances and stake.

Staking on the dev chain is 1:1 TAO to alpha: `add_stake` turns n RAO of TAO into n RAO of
the subnet's alpha on the hotkey, `remove_stake` turns it back. There is no AMM pool, no
slippage and no fee, unlike subtensor's dynamic TAO; amounts and error names are otherwise
the chain's. Every function checks everything before it changes anything.
"""

from __future__ import annotations

import hashlib
import json
import secrets

from bittensor.keyfiles import Keypair

from chain.dev import args as A
from chain.dev.params import DEV_ACCOUNT_URIS, MIN_STAKE_RAO, GenesisConfig
from chain.dev.state import DevState
from chain.errors import ChainError
from chain.types import tao_text

SEED_BYTES = 32


def dev_address(uri: str) -> str:
    return Keypair.create_from_uri(uri).ss58_address


def genesis(config: GenesisConfig | None = None, seed: bytes | None = None) -> DevState:
    """A new chain at block 0 with //Alice..//Ferdie funded. `seed` fixes every secret."""
    config = config or GenesisConfig()
    seed = secrets.token_bytes(SEED_BYTES) if seed is None else seed
    identity = json.dumps(config.to_dict(), sort_keys=True).encode() + seed
    state = DevState(
        block=0,
        genesis_hash=hashlib.sha256(b"genesis:" + identity).hexdigest(),
        reveal_seed=hashlib.sha256(b"reveal:" + seed).hexdigest(),
        config=config,
    )
    for uri in DEV_ACCOUNT_URIS:
        state.balances[dev_address(uri)] = config.dev_account_balance
        state.total_issuance += config.dev_account_balance
    return state


def balance(state: DevState, coldkey: str) -> int:
    return state.balances.get(coldkey, 0)


def debit(state: DevState, account: str, amount: int) -> None:
    """Take `amount` from the account (checked by the caller); an emptied account is dropped."""
    left = state.balances.get(account, 0) - amount
    if left:
        state.balances[account] = left
    else:
        state.balances.pop(account, None)


def _credit(state: DevState, account: str, amount: int) -> None:
    if amount:
        state.balances[account] = state.balances.get(account, 0) + amount


def transfer(state: DevState, coldkey: str, args: dict) -> dict:
    dest = A.address(args, "dest")
    amount = A.integer(args, "amount")
    if balance(state, coldkey) < amount:
        raise ChainError(
            "InsufficientBalance",
            f"{coldkey} holds {tao_text(balance(state, coldkey))}, cannot send {tao_text(amount)}",
        )
    debit(state, coldkey, amount)
    _credit(state, dest, amount)
    return {"amount": amount}


def _check_stake_target(state: DevState, netuid: int, hotkey: str, amount: int) -> None:
    state.existing_subnet(netuid)
    if amount < MIN_STAKE_RAO:
        raise ChainError(
            "AmountTooLow",
            f"stake moves must be at least {tao_text(MIN_STAKE_RAO)}, got {tao_text(amount)}",
        )
    if hotkey not in state.hotkey_owner:
        raise ChainError(
            "HotKeyAccountNotExists",
            f"hotkey {hotkey} has no account: register it on a subnet first",
        )


def add_stake(state: DevState, coldkey: str, args: dict) -> dict:
    netuid = A.integer(args, "netuid", high=A.U16_MAX)
    hotkey = A.address(args, "hotkey")
    amount = A.integer(args, "amount")
    _check_stake_target(state, netuid, hotkey, amount)
    if balance(state, coldkey) < amount:
        raise ChainError(
            "NotEnoughBalanceToStake",
            f"{coldkey} holds {tao_text(balance(state, coldkey))}, cannot stake {tao_text(amount)}",
        )
    debit(state, coldkey, amount)
    add_alpha(state, netuid, hotkey, coldkey, amount)
    return {"alpha": amount}


def remove_stake(state: DevState, coldkey: str, args: dict) -> dict:
    netuid = A.integer(args, "netuid", high=A.U16_MAX)
    hotkey = A.address(args, "hotkey")
    amount = A.integer(args, "amount")
    _check_stake_target(state, netuid, hotkey, amount)
    held = state.stake.get((netuid, hotkey), {}).get(coldkey, 0)
    if held < amount:
        raise ChainError(
            "NotEnoughStakeToWithdraw",
            f"{coldkey} has {tao_text(held)} staked on {hotkey} in subnet {netuid}, asked for "
            f"{tao_text(amount)}",
        )
    add_alpha(state, netuid, hotkey, coldkey, -amount)
    _credit(state, coldkey, amount)
    return {"tao": amount}


def add_alpha(state: DevState, netuid: int, hotkey: str, coldkey: str, amount: int) -> None:
    """Change (netuid, hotkey, coldkey)'s alpha by `amount` (may be negative)."""
    by_cold = state.stake.setdefault((netuid, hotkey), {})
    left = by_cold.get(coldkey, 0) + amount
    if left:
        by_cold[coldkey] = left
    else:
        by_cold.pop(coldkey, None)
    if not by_cold:
        del state.stake[(netuid, hotkey)]
