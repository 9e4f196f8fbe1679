"""The chain as neurons see it: the Chain API, the embedded dev chain, and the real networks.

import chain
c = chain.connect("dev:memory")          # or "dev", "test", "finney", "ws://..."
netuid = await c.create_subnet(chain.dev_wallet("//Alice"))
"""

from chain.api import Chain, connect, endpoint_of, network_problem
from chain.errors import ChainError
from chain.types import (
    RAO_PER_TAO,
    AxonInfo,
    Hyperparameters,
    Metagraph,
    WeightsReceipt,
    rao_to_tao,
    to_rao,
)
from chain.wallets import DevWallet, dev_wallet

__all__ = [
    "RAO_PER_TAO",
    "AxonInfo",
    "Chain",
    "ChainError",
    "DevWallet",
    "Hyperparameters",
    "Metagraph",
    "WeightsReceipt",
    "connect",
    "dev_wallet",
    "endpoint_of",
    "network_problem",
    "rao_to_tao",
    "to_rao",
]
