"""The `Chain` protocol the neurons code against, and `connect(network)` that returns one.

Networks:
- "finney", "test", "local" (a subtensor node at ws://127.0.0.1:9944), or any ws:// / wss://
  URL: the real chain through the bittensor SDK (`SubtensorChain`).
- "dev" (a `subnet devchain` node at 127.0.0.1:9946) or "dev://HOST:PORT": the dev chain node.
- "dev:memory": a fresh dev chain inside this process, no node and no sockets (for tests).
  "dev:memory:NAME" is one in-process chain per NAME, shared by every `connect` in the process,
  so miners, validators and an owner in one process see the same chain.

Options for the in-process chain: `block_time` (seconds; blocks are then produced in the
running asyncio loop from the first call on; default None = only `mine(n)` makes blocks),
`config` (a `GenesisConfig`), `seed` (bytes that fix the chain's secrets, for reproducible
tests). `SubtensorChain` takes `substrate=` (an SDK `Substrate`, for tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from chain.errors import INVALID_ARGUMENT, ChainError
from chain.types import Hyperparameters, Metagraph, WeightsReceipt

DEV_NODE_DEFAULT = "127.0.0.1:9946"
SUBTENSOR_NETWORKS = ("finney", "test", "local")


@runtime_checkable
class Chain(Protocol):
    """What a neuron or an owner tool needs from a chain. Every refusal is a `ChainError`."""

    network: str

    async def block(self) -> int: ...

    async def wait_for_block(self, block: int, timeout: float | None = None) -> int: ...

    async def metagraph(self, netuid: int) -> Metagraph: ...

    async def hyperparameters(self, netuid: int) -> Hyperparameters: ...

    async def weights(self, netuid: int) -> list[list[tuple[int, int]]]: ...

    async def balance(self, address: str) -> int: ...

    async def stake(self, netuid: int, hotkey: str, coldkey: str | None = None) -> int: ...

    async def register(self, wallet, netuid: int) -> int: ...

    async def serve_axon(
        self, wallet, netuid: int, ip: str, port: int, protocol: int = 4, version: int = 0
    ) -> None: ...

    async def set_weights(
        self,
        wallet,
        netuid: int,
        uids: Sequence[int],
        weights: Sequence[float],
        version_key: int = 0,
    ) -> WeightsReceipt: ...

    async def create_subnet(self, wallet) -> int: ...

    async def set_hyperparameter(self, wallet, netuid: int, name: str, value) -> None: ...

    async def add_stake(self, wallet, netuid: int, hotkey: str, amount) -> None: ...

    async def remove_stake(self, wallet, netuid: int, hotkey: str, amount) -> None: ...

    async def transfer(self, wallet, dest: str, amount) -> None: ...

    async def close(self) -> None: ...


_shared_memory_chains: dict[str, object] = {}


def _is_memory(network: str) -> bool:
    return network == "dev:memory" or network.startswith("dev:memory:")


def _dev_node(network: str) -> tuple[str, str] | None:
    """(host, port) of a dev chain node network name, or None when it is not one."""
    if network != "dev" and not network.startswith("dev://"):
        return None
    hostport = DEV_NODE_DEFAULT if network == "dev" else network.removeprefix("dev://")
    host, _, port = hostport.rpartition(":")
    return host, port


def network_problem(network: str) -> str | None:
    """What is wrong with a network name, or None for one `connect` accepts."""
    node = _dev_node(network)
    if node is not None:
        host, port = node
        return None if host and port.isdigit() else f"{network!r}: write dev://HOST:PORT"
    if _is_memory(network) or network in SUBTENSOR_NETWORKS:
        return None
    if network.startswith(("ws://", "wss://")):
        return None
    return (
        f"unknown network {network!r}: use finney, test, local, ws(s)://URL, dev, "
        "dev://HOST:PORT, dev:memory or dev:memory:NAME"
    )


def endpoint_of(network: str) -> str:
    """Where a network name points: a URL, or "this process" for an in-process chain."""
    if _is_memory(network):
        return "this process"
    node = _dev_node(network)
    if node is not None:
        return f"http://{node[0]}:{node[1]}"
    if network in SUBTENSOR_NETWORKS:
        from bittensor.settings import NETWORKS

        return NETWORKS[network]
    return network


def connect(network: str, **options) -> Chain:
    """A `Chain` for `network` (see the module docstring for names and options)."""
    problem = network_problem(network)
    if problem is not None:
        raise ChainError(INVALID_ARGUMENT, problem)
    if _is_memory(network):
        return _memory_chain(network, **options)
    node = _dev_node(network)
    if node is not None:
        from chain.dev.client import DevChainClient
        from chain.dev.transport import HttpTransport

        host, port = node
        return DevChainClient(HttpTransport(f"http://{host}:{int(port)}/"), network)
    from chain.subtensor import SubtensorChain

    return SubtensorChain(network, **options)


def _memory_chain(network: str, block_time: float | None = None, config=None, seed=None):
    from chain.dev.accounts import genesis
    from chain.dev.client import DevChainClient
    from chain.dev.machine import DevChain
    from chain.dev.service import DevChainService
    from chain.dev.transport import LocalTransport

    shared = network != "dev:memory"
    service = _shared_memory_chains.get(network) if shared else None
    if service is None:
        service = DevChainService(DevChain(genesis(config, seed)))
        if shared:
            _shared_memory_chains[network] = service
    return DevChainClient(LocalTransport(service, block_time), network)
