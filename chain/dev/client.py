"""`DevChainClient`: the `Chain` API over a dev chain, in this process or on a node.

It signs every transaction with the wallet's key (coldkey for money and ownership calls,
hotkey for weights and axons), keeps each account's next nonce, and hides commit-reveal:
`set_weights` seals the weights to the reveal round's key when the subnet has commit-reveal
on, and sets them directly otherwise.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time

from chain.conform import weights_to_u16
from chain.dev.commit_reveal import seal_weights
from chain.dev.params import COMMIT_REVEAL_VERSION
from chain.dev.signing import sign
from chain.errors import FUTURE, INVALID_ARGUMENT, STALE, ChainError
from chain.types import AxonInfo, Hyperparameters, Metagraph, WeightsReceipt, to_rao

# Refusals that mean the client's view was one block out of date: re-read and retry once.
_RETRY_ON = {STALE, FUTURE, "InvalidRevealRound", "CommitRevealEnabled", "CommitRevealDisabled"}


class DevChainClient:
    """Implements `chain.Chain`, plus the dev chain's own controls (mine, snapshot, revert)."""

    def __init__(self, transport, network: str):
        self.network = network
        self._transport = transport
        self._genesis_hash: str | None = None
        self._nonces: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._commits: dict[int, bool] = {}  # netuid -> commit-reveal on, as last seen
        self._reveal_keys: dict[int, dict] = {}  # netuid -> {round, public_key}, as last seen

    async def _call(self, method: str, **params) -> object:
        return await self._transport.call(method, params)

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> DevChainClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # --- signing and submitting ----------------------------------------------------------

    async def _genesis(self) -> str:
        if self._genesis_hash is None:
            self._genesis_hash = (await self._call("info"))["genesis_hash"]
        return self._genesis_hash

    async def submit(self, keypair, call: str, args: dict) -> dict:
        """Sign `call(args)` with `keypair` at its next nonce and submit it."""
        address = keypair.ss58_address
        lock = self._locks.setdefault(address, asyncio.Lock())
        async with lock:
            for attempt in range(2):
                if address not in self._nonces:
                    self._nonces[address] = await self._call("nonce", address=address)
                tx = sign(keypair, await self._genesis(), call, args, self._nonces[address])
                try:
                    result = await self._call("submit", tx=tx.to_dict())
                except ChainError as error:
                    if error.code in (STALE, FUTURE) and attempt == 0:
                        del self._nonces[address]  # another client used this account: re-read
                        continue
                    raise
                self._nonces[address] = tx.nonce + 1
                return result
        raise AssertionError("unreachable")

    # --- reads ---------------------------------------------------------------------------

    async def block(self) -> int:
        return await self._call("block")

    async def wait_for_block(self, block: int, timeout: float | None = None) -> int:
        """Wait until the chain reaches `block` (long-polls the node; never spins)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            params = (
                {"block": int(block)} if left is None else {"block": int(block), "timeout": left}
            )
            current = await self._call("wait_for_block", **params)
            if current >= block:
                return current
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"block {block} not reached within {timeout}s (at {current})")

    async def balance(self, address: str) -> int:
        return await self._call("balance", address=address)

    async def stake(self, netuid: int, hotkey: str, coldkey: str | None = None) -> int:
        params = {"netuid": netuid, "hotkey": hotkey}
        if coldkey is not None:
            params["coldkey"] = coldkey
        return await self._call("stake", **params)

    async def subnets(self) -> list[int]:
        return [s["netuid"] for s in await self._call("subnets")]

    async def hyperparameters(self, netuid: int) -> Hyperparameters:
        return Hyperparameters(**await self._call("hyperparameters", netuid=netuid))

    async def weights(self, netuid: int) -> list[list[tuple[int, int]]]:
        """Each uid's stored weight row as (uid, u16) pairs; committed weights do not show."""
        rows = await self._call("weights", netuid=netuid)
        return [[(int(u), int(w)) for u, w in row] for row in rows]

    async def metagraph(self, netuid: int) -> Metagraph:
        data = await self._call("metagraph", netuid=netuid)
        axons = [AxonInfo(**a) for a in data.pop("axons")]
        return Metagraph.build(axons=axons, **data)

    # --- transactions --------------------------------------------------------------------

    async def transfer(self, wallet, dest: str, amount) -> None:
        await self.submit(wallet.coldkey, "transfer", {"dest": dest, "amount": to_rao(amount)})

    async def create_subnet(self, wallet) -> int:
        args = {"hotkey": wallet.hotkey.ss58_address}
        return (await self.submit(wallet.coldkey, "register_network", args))["netuid"]

    async def set_hyperparameter(self, wallet, netuid: int, name: str, value) -> None:
        args = {"netuid": int(netuid), "name": name, "value": value}
        await self.submit(wallet.coldkey, "set_hyperparameter", args)

    async def register(self, wallet, netuid: int) -> int:
        args = {"netuid": int(netuid), "hotkey": wallet.hotkey.ss58_address}
        return (await self.submit(wallet.coldkey, "burned_register", args))["uid"]

    async def add_stake(self, wallet, netuid: int, hotkey: str, amount) -> None:
        args = {"netuid": int(netuid), "hotkey": hotkey, "amount": to_rao(amount)}
        await self.submit(wallet.coldkey, "add_stake", args)

    async def remove_stake(self, wallet, netuid: int, hotkey: str, amount) -> None:
        args = {"netuid": int(netuid), "hotkey": hotkey, "amount": to_rao(amount)}
        await self.submit(wallet.coldkey, "remove_stake", args)

    async def serve_axon(
        self, wallet, netuid: int, ip: str, port: int, protocol: int = 4, version: int = 0
    ) -> None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            raise ChainError("InvalidIpAddress", f"{ip!r} is not an IPv4 or IPv6 address") from None
        if isinstance(port, bool) or not isinstance(port, int):
            raise ChainError(INVALID_ARGUMENT, f"port must be an integer, got {port!r}")
        args = {
            "netuid": int(netuid),
            "ip": int(address),
            "port": port,
            "ip_type": address.version,
            "protocol": protocol,
            "version": version,
        }
        await self.submit(wallet.hotkey, "serve_axon", args)

    async def set_weights(
        self, wallet, netuid: int, uids, weights, version_key: int = 0
    ) -> WeightsReceipt:
        """Set (or, with commit-reveal on, commit) weights; callers never see the two paths.

        Whether the subnet commits, and the current reveal key, are cached per subnet; the
        chain refuses a call made on a stale view (CommitRevealEnabled/Disabled,
        InvalidRevealRound), and then the view is read again and the call retried once."""
        uid_list, values = weights_to_u16(uids, weights)
        netuid = int(netuid)
        for attempt in range(2):
            if netuid not in self._commits:
                params = await self.hyperparameters(netuid)
                self._commits[netuid] = params.commit_reveal_weights_enabled
            try:
                if self._commits[netuid]:
                    return await self._commit(wallet.hotkey, netuid, uid_list, values, version_key)
                args = {"netuid": netuid, "uids": uid_list, "values": values}
                result = await self.submit(
                    wallet.hotkey, "set_weights", {**args, "version_key": int(version_key)}
                )
                return WeightsReceipt(block=result["block"], committed=False)
            except ChainError as error:
                if error.code not in _RETRY_ON or attempt == 1:
                    raise
                self._commits.pop(netuid, None)
                self._reveal_keys.pop(netuid, None)
        raise AssertionError("unreachable")

    async def _commit(self, hotkey, netuid, uids, values, version_key) -> WeightsReceipt:
        if netuid not in self._reveal_keys:
            self._reveal_keys[netuid] = await self._call("reveal_key", netuid=netuid)
        target = self._reveal_keys[netuid]
        sealed = seal_weights(target["public_key"], hotkey.ss58_address, uids, values, version_key)
        args = {
            "netuid": netuid,
            "commit": sealed,
            "reveal_round": target["round"],
            "commit_reveal_version": COMMIT_REVEAL_VERSION,
        }
        result = await self.submit(hotkey, "commit_timelocked_weights", args)
        return WeightsReceipt(block=result["block"], committed=True, reveal_round=target["round"])

    # --- dev chain controls --------------------------------------------------------------

    async def mine(self, blocks: int = 1) -> int:
        """Produce `blocks` blocks now; returns the new block number."""
        return (await self._call("mine", count=int(blocks)))["block"]

    async def snapshot(self) -> int:
        return await self._call("snapshot")

    async def revert(self, snapshot_id: int) -> int:
        return await self._call("revert", id=int(snapshot_id))
