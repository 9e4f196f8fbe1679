"""`SubtensorChain`: the `Chain` API on finney, test, a local subtensor, or any ws(s):// URL,
through the bittensor SDK 11.x.

Writes go through the SDK's intents (`BurnedRegister`, `ServeAxon`, `SetWeights`,
`RegisterSubnet`, `SetHyperparameter`, `AddStake`, `RemoveStake`, `Transfer`); commit-reveal is
the SDK's business (its `SetWeights` picks plaintext or a drand timelocked commit). When the
signing coldkey is the chain's sudo key (`Sudo.Key`, //Alice on a localnet), hyperparameters are
set through `Sudo.sudo`, as the sudo key may set any of them. Reads use storage items and the
`get_metagraph` runtime call; a metagraph's stake is the runtime's `total_stake` (alpha plus
TAO-weighted root stake), the stake Yuma weighs. Every SDK failure becomes a `ChainError` carrying the chain's
error name. `substrate=` injects an SDK `Substrate` (a fake, in tests).
"""

from __future__ import annotations

import asyncio

import bittensor as bt
from bittensor.intents.hyperparameters import OWNER_HYPERPARAMETERS
from bittensor.result import ErrorCode

from chain.conform import weights_to_u16
from chain.errors import (
    BAD_ORIGIN,
    CONNECTION,
    INVALID_ARGUMENT,
    NOT_SUPPORTED,
    UNKNOWN,
    ChainError,
)
from chain.subtensor_storage import (
    HYPERPARAMETER_STORAGE,
    RANGE_ERRORS,
    SUDO_SETTERS,
    hyperparameters_from_storage,
    metagraph_from_runtime,
)
from chain.types import Hyperparameters, Metagraph, WeightsReceipt, to_rao

SDK = "SubtensorModule"
# SDK error codes that carry no chain error name, and the name the chain uses for the same.
_CODE_NAMES = {
    ErrorCode.NOT_REGISTERED: "HotKeyNotRegisteredInSubNet",
    ErrorCode.SUBNET_NOT_EXISTS: "SubnetNotExists",
    ErrorCode.INSUFFICIENT_BALANCE: "NotEnoughBalanceToStake",
}


def as_chain_error(error: Exception, rate_limit_name: str = "SettingWeightsTooFast") -> ChainError:
    """The `ChainError` for an SDK exception or failed result."""
    if isinstance(error, ChainError):
        return error
    if isinstance(error, bt.ChainError):
        if error.name:
            return ChainError(error.name, error.message)
        if error.code is ErrorCode.RATE_LIMITED:
            return ChainError(rate_limit_name, error.message)
        if error.code is ErrorCode.INVALID_ARGUMENT and "requires at least" in error.message:
            return ChainError("WeightVecLengthIsLow", error.message)
        return ChainError(_CODE_NAMES.get(error.code, UNKNOWN), error.message)
    if isinstance(error, bt.RpcConnectionError):
        return ChainError(CONNECTION, str(error))
    return ChainError(INVALID_ARGUMENT, str(error))


async def _answer(awaitable, rate_limit_name: str = "SettingWeightsTooFast"):
    """Await an SDK call; any failure it raises becomes the `ChainError` for it."""
    try:
        return await awaitable
    except Exception as error:
        raise as_chain_error(error, rate_limit_name) from None


class SubtensorChain:
    """Implements `chain.Chain` over `bt.Subtensor(network, substrate=...)`."""

    def __init__(self, network: str, substrate=None):
        self.network = network
        self._subtensor = bt.Subtensor(network, substrate=substrate)
        self._client: bt.Client | None = None
        self._lock = asyncio.Lock()

    async def _sdk(self) -> bt.Client:
        async with self._lock:
            if self._client is None:
                self._client = await _answer(self._subtensor)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _query(self, item: str, params: list | None = None, module: str = SDK):
        client = await self._sdk()
        return await _answer(client.query((module, item), params))

    async def _execute(self, intent, wallet, rate_limit_name: str = "SettingWeightsTooFast"):
        client = await self._sdk()
        result = await _answer(client.execute(intent, wallet), rate_limit_name)
        if not result.success:
            failure = result.error or bt.ChainError(result.message or "the extrinsic failed")
            raise as_chain_error(failure, rate_limit_name)
        return result

    async def _require_subnet(self, netuid: int) -> None:
        if not await self._query("NetworksAdded", [int(netuid)]):
            raise ChainError("SubnetNotExists", f"subnet {netuid} does not exist")

    # --- reads ---------------------------------------------------------------------------

    async def block(self) -> int:
        return await (await self._sdk()).block()

    async def wait_for_block(self, block: int, timeout: float | None = None) -> int:
        client = await self._sdk()
        try:
            header = await client.wait_for_block(int(block), timeout=timeout)
        except TimeoutError:
            raise TimeoutError(f"block {block} not reached within {timeout}s") from None
        return header.number

    async def balance(self, address: str) -> int:
        account = await self._query("Account", [address], module="System") or {}
        return int((account.get("data") or {}).get("free") or 0)

    async def stake(self, netuid: int, hotkey: str, coldkey: str | None = None) -> int:
        if coldkey is None:
            return int(await self._query("TotalHotkeyAlpha", [hotkey, int(netuid)]) or 0)
        client = await self._sdk()
        method = ("StakeInfoRuntimeApi", "get_stake_info_for_hotkey_coldkey_netuid")
        info = await _answer(client.runtime(method, [hotkey, coldkey, int(netuid)]))
        return int((info or {}).get("stake") or 0)

    async def hyperparameters(self, netuid: int) -> Hyperparameters:
        await self._require_subnet(netuid)
        names = list(HYPERPARAMETER_STORAGE)
        values = await asyncio.gather(
            *(self._query(HYPERPARAMETER_STORAGE[name], [int(netuid)]) for name in names)
        )
        return hyperparameters_from_storage(int(netuid), dict(zip(names, values, strict=True)))

    async def metagraph(self, netuid: int) -> Metagraph:
        client = await self._sdk()
        method = ("SubnetInfoRuntimeApi", "get_metagraph")
        graph, trust = await _answer(
            asyncio.gather(
                client.runtime(method, [int(netuid)]),
                client.query((SDK, "ValidatorTrust"), [int(netuid)]),
            )
        )
        if not isinstance(graph, dict):
            raise ChainError("SubnetNotExists", f"subnet {netuid} does not exist")
        return metagraph_from_runtime(int(netuid), graph, trust or [])

    async def weights(self, netuid: int) -> list[list[tuple[int, int]]]:
        client = await self._sdk()
        n = int(await self._query("SubnetworkN", [int(netuid)]) or 0)
        rows = await _answer(client.query_map((SDK, "Weights"), [int(netuid)]))
        out: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        for uid, row in rows:
            if int(uid) < n:
                out[int(uid)] = [(int(dest), int(value)) for dest, value in row or []]
        return out

    # --- transactions --------------------------------------------------------------------

    async def transfer(self, wallet, dest: str, amount) -> None:
        amount_tao = bt.Balance.from_rao(to_rao(amount))
        await self._execute(bt.Transfer(dest_ss58=dest, amount_tao=amount_tao), wallet)

    async def create_subnet(self, wallet) -> int:
        result = await self._execute(bt.RegisterSubnet(), wallet)
        return int(result.data["netuid"])

    async def register(self, wallet, netuid: int) -> int:
        await self._execute(bt.BurnedRegister(netuid=int(netuid)), wallet)
        uid = await self._query("Uids", [int(netuid), wallet.hotkey.ss58_address])
        return int(uid)

    async def serve_axon(
        self, wallet, netuid: int, ip: str, port: int, protocol: int = 4, version: int = 0
    ) -> None:
        try:
            intent = bt.ServeAxon(
                netuid=int(netuid), ip=ip, port=port, protocol=protocol, version=version
            )
            await self._execute(intent, wallet)
        except ChainError as error:
            if "does not appear to be an IPv4 or IPv6 address" in error.message:
                raise ChainError("InvalidIpAddress", error.message) from None
            raise

    async def add_stake(self, wallet, netuid: int, hotkey: str, amount) -> None:
        tao = bt.Balance.from_rao(to_rao(amount))
        await self._execute(
            bt.AddStake(hotkey_ss58=hotkey, netuid=int(netuid), amount_tao=tao), wallet
        )

    async def remove_stake(self, wallet, netuid: int, hotkey: str, amount) -> None:
        alpha = bt.Balance.from_rao(to_rao(amount), int(netuid))
        intent = bt.RemoveStake(hotkey_ss58=hotkey, netuid=int(netuid), amount_alpha=alpha)
        await self._execute(intent, wallet)

    async def set_hyperparameter(self, wallet, netuid: int, name: str, value) -> None:
        sudo_key = await self._query("Key", module="Sudo")
        if sudo_key is not None and str(sudo_key) == wallet.coldkey.ss58_address:
            await self._sudo_set(wallet, int(netuid), name, value)
            return
        if name not in OWNER_HYPERPARAMETERS:
            raise ChainError(
                BAD_ORIGIN if name in SUDO_SETTERS else INVALID_ARGUMENT,
                f"{name} is not owner-settable: only the sudo key may set it",
            )
        try:
            intent = bt.SetHyperparameter(netuid=int(netuid), name=name, value=value)
        except ValueError as error:  # the SDK checks the owner range before signing
            raise ChainError(RANGE_ERRORS.get(name, "ValueNotInBounds"), str(error)) from None
        await self._execute(intent, wallet)

    async def _sudo_set(self, wallet, netuid: int, name: str, value) -> None:
        if name not in SUDO_SETTERS:
            raise ChainError(NOT_SUPPORTED, f"the runtime has no setter for {name}")
        setter, param = SUDO_SETTERS[name]
        if name in ("alpha_low", "alpha_high"):
            low, high = await self._query("AlphaValues", [netuid])
            params = {"netuid": netuid, "alpha_low": low, "alpha_high": high, name: int(value)}
        else:
            params = {"netuid": netuid, param: value}
        client = await self._sdk()
        inner = await _answer(client.compose(bt.calls.Call("AdminUtils", setter, params)))
        result = await _answer(client.submit_call(bt.calls.Sudo.sudo(call=inner), wallet))
        if not result.success:
            raise as_chain_error(result.error or bt.ChainError(result.message))

    async def set_weights(
        self, wallet, netuid: int, uids, weights, version_key: int = 0
    ) -> WeightsReceipt:
        uid_list, values = weights_to_u16(uids, weights)
        if len(set(uid_list)) != len(uid_list):  # the SDK refuses these before the chain can
            raise ChainError("DuplicateUids", "each uid may appear once in a weight vector")
        await self._require_subnet(netuid)
        committing = bool(await self._query("CommitRevealWeightsEnabled", [int(netuid)]))
        intent = bt.SetWeights(
            netuid=int(netuid),
            uids=uid_list,
            weights=[float(v) for v in values],
            version_key=int(version_key),
        )
        too_fast = "CommittingWeightsTooFast" if committing else "SettingWeightsTooFast"
        result = await self._execute(intent, wallet, rate_limit_name=too_fast)
        block = int((result.extrinsic_id or "0-0").partition("-")[0])
        reveal_round = result.data.get("reveal_round")
        return WeightsReceipt(
            block=block, committed=reveal_round is not None, reveal_round=reveal_round
        )
