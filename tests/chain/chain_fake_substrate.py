"""A fake SDK `Substrate` for testing `SubtensorChain` with no network.

It answers the storage items and runtime calls `SubtensorChain` and the SDK intents it uses
read, from a dev chain state machine, and executes the composed calls the intents submit by
translating them into dev chain calls (same rules, same error names). The calls it serves are
recorded in `served`, so a test can show exactly what went through it. Limits: it cannot open
drand timelocked commits (they are stored and then dropped), and it prices alpha at 1 TAO.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import bittensor as bt

from chain import ChainError
from chain.dev.accounts import genesis
from chain.dev.machine import DevChain
from chain.dev.params import GenesisConfig
from chain.dev.rows import pairs
from chain.dev.signing import Transaction
from chain.dev.subnets import set_hyperparameter, sudo_address
from chain.subtensor import SubtensorChain
from chain.subtensor_storage import HYPERPARAMETER_STORAGE, SUDO_SETTERS

ALPHA_PRICE_RAO = 1_000_000_000  # dev staking is 1:1
MLKEM768_PUBLIC_KEY = bytes(1184)  # a valid (all-zero) encapsulation key
_STORAGE_TO_PARAM = {item: name for name, item in HYPERPARAMETER_STORAGE.items()}
_SETTER_TO_PARAM = {setter: (name, param) for name, (setter, param) in SUDO_SETTERS.items()}


def _block_hash(block: int) -> str:
    return "0x" + hashlib.sha256(f"block {block}".encode()).hexdigest()


class FakeSubstrate:
    token_symbols: dict[int, str]

    def __init__(self, seed: bytes):
        self.machine = DevChain(genesis(GenesisConfig(), seed))
        self.token_symbols = {}
        self.served: set[str] = set()
        self._nonces: dict[str, int] = {}
        self._signed: dict[tuple[str, int], tuple[object, str]] = {}  # (signer, nonce) -> inner
        self._receipts: dict[str, tuple[int, bt.ExtrinsicResult]] = {}
        self._events: dict[int, list] = {}
        self._waiters: list[asyncio.Future] = []

    @property
    def head(self) -> int:
        return self.machine.state.block

    def balance(self, rao: int, netuid: int = 0) -> bt.Balance:
        return bt.Balance.from_rao(int(rao), netuid)

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.machine.produce_block()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.done() or waiter.set_result(None)

    # --- blocks --------------------------------------------------------------------------

    async def block_hash(self, block: int | None = None) -> str:
        return _block_hash(self.head if block is None else block)

    async def block_number(self) -> int:
        self.served.add("block_number")
        return self.head

    async def finalized_block_number(self) -> int:
        return self.head

    async def block_time(self) -> float:
        return 0.001

    async def blocks(self, *, finalized: bool = False) -> AsyncIterator[dict]:
        self.served.add("blocks (subscription)")
        last = self.head
        while True:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
            for number in range(last + 1, self.head + 1):
                yield {"header": {"number": number, "parentHash": _block_hash(number - 1)}}
            last = self.head

    async def events(self, block_hash: str | None = None) -> list:
        block = next((b for b in self._events if _block_hash(b) == block_hash), None)
        return list(self._events.get(block, []))

    # --- reads ---------------------------------------------------------------------------

    async def query(self, module: str, name: str, params=None, block_hash=None):
        self.served.add(f"storage {module}.{name}")
        return self._storage(module, name, list(params or []))

    async def query_map(self, module: str, name: str, params=None, block_hash=None):
        self.served.add(f"storage map {module}.{name}")
        state = self.machine.state
        if (module, name) == ("SubtensorModule", "Weights"):
            subnet = state.subnets.get(int(params[0]))
            neurons = subnet.neurons if subnet else []
            return [(uid, pairs(n.weights)) for uid, n in enumerate(neurons) if n.weights]
        return []

    async def query_batch(self, module, name, param_sets, block_hash=None):
        return [await self.query(module, name, p) for p in param_sets]

    async def runtime_call(self, api: str, method: str, params, block_hash=None):
        self.served.add(f"runtime {api}.{method}")
        if (api, method) == ("SubnetInfoRuntimeApi", "get_metagraph"):
            return self._metagraph(int(params[0]))
        if (api, method) == ("SwapRuntimeApi", "current_alpha_price"):
            return ALPHA_PRICE_RAO
        if api == "StakeInfoRuntimeApi":
            hotkey, coldkey, netuid = params
            return {"stake": self.machine.stake(int(netuid), hotkey, coldkey)}
        raise bt.ChainError(f"the fake substrate has no runtime call {api}.{method}")

    async def constant(self, module: str, name: str):
        self.served.add(f"constant {module}.{name}")
        return {"ExistentialDeposit": 500}.get(name, 0)

    def _storage(self, module: str, name: str, params: list):
        state = self.machine.state
        if module == "System" and name == "Account":
            return {"data": {"free": self.machine.balance(params[0])}}
        if module == "Sudo" and name == "Key":
            return sudo_address(state)
        if module != "SubtensorModule":
            return None
        if name == "Uids":
            subnet = state.subnets.get(int(params[0]))
            return None if subnet is None else subnet.uids.get(params[1])
        if name == "TotalHotkeyAlpha":
            return state.hotkey_stake(int(params[1]), params[0])
        subnet = state.subnets.get(int(params[0])) if params else None
        if name == "NetworksAdded":
            return subnet is not None
        if subnet is None:
            return None
        if name in _STORAGE_TO_PARAM:
            if name == "AlphaValues":
                return (subnet.params["alpha_low"], subnet.params["alpha_high"])
            return subnet.params[_STORAGE_TO_PARAM[name]]
        per_uid = {
            "LastUpdate": [n.last_update for n in subnet.neurons],
            "ValidatorPermit": [n.validator_permit for n in subnet.neurons],
            "ValidatorTrust": [n.validator_trust for n in subnet.neurons],
        }
        scalars = {
            "SubnetworkN": subnet.n,
            "SubnetEpochConsensus": "Yuma",
            "LastEpochBlock": subnet.last_epoch_block,
            "PendingEpochAt": subnet.pending_epoch_at,
            "SubnetEpochIndex": subnet.epoch_index,
            "BlocksSinceLastStep": subnet.blocks_since_last_step,
            "CollateralLockShare": 0,
            "SubnetOwner": subnet.owner_coldkey,
            "SubnetOwnerHotkey": subnet.owner_hotkey,
            "SubnetLocked": subnet.locked,
        }
        return {**per_uid, **scalars}.get(name)

    def _metagraph(self, netuid: int) -> dict | None:
        if netuid not in self.machine.state.subnets:
            return None
        dev = self.machine.metagraph(netuid)
        subnet = self.machine.state.subnets[netuid]
        axons = []
        for hotkey in dev["hotkeys"]:
            axon = subnet.axons.get(hotkey)
            axons.append(None if axon is None else dict(axon.__dict__))
        return {
            "netuid": netuid,
            "block": dev["block"],
            "tempo": subnet.params["tempo"],
            "last_step": subnet.last_epoch_block,
            "blocks_since_last_step": subnet.blocks_since_last_step,
            "owner_hotkey": dev["owner_hotkey"],
            "owner_coldkey": dev["owner_coldkey"],
            "network_registered_at": subnet.registered_at,
            "hotkeys": dev["hotkeys"],
            "coldkeys": dev["coldkeys"],
            "axons": axons,
            "active": dev["active"],
            "validator_permit": dev["validator_permit"],
            "last_update": dev["last_update"],
            "block_at_registration": dev["block_at_registration"],
            "incentives": dev["incentive_u16"],
            "dividends": dev["dividends_u16"],
            "consensus": dev["consensus_u16"],
            "emission": dev["emission"],
            "alpha_stake": dev["stake"],
            "tao_stake": [0] * len(dev["stake"]),
            "total_stake": dev["stake"],
        }

    # --- writes --------------------------------------------------------------------------

    async def compose(self, call):
        self.served.add(f"compose {call[0]}.{call[1]}")
        return call

    async def estimate_fee(self, call, keypair) -> bt.Balance:
        return bt.Balance.from_rao(0)

    async def account_next_index(self, address: str) -> int:
        return self._nonces.get(address, 0)

    async def mev_next_key(self) -> bytes:
        self.served.add("mev_next_key")
        return MLKEM768_PUBLIC_KEY

    async def sign_extrinsic(self, call, keypair, *, nonce: int, period: int):
        self.served.add("sign_extrinsic")
        digest = (
            "0x" + hashlib.sha256(f"{keypair.ss58_address}:{nonce}:{call}".encode()).hexdigest()
        )
        self._signed[(keypair.ss58_address, nonce)] = (call, digest)
        return digest.encode(), digest

    async def find_extrinsic(self, extrinsic_hash: str, block_hash: str):
        receipt = self._receipts.get(extrinsic_hash)
        return receipt[1] if receipt and _block_hash(receipt[0]) == block_hash else None

    async def submit(self, call, keypair, *, nonce=None, period=None, **_waits):
        self.served.add(f"submit {call[0]}.{call[1]}")
        signer = keypair.ss58_address
        nonce = self._nonces.get(signer, 0) if nonce is None else nonce
        if nonce != self._nonces.get(signer, 0):
            return bt.ExtrinsicResult(success=False, message="Transaction is outdated (stale)")
        self._nonces[signer] = nonce + 1
        result = self._dispatch(call, signer, index=0)
        if (call[0], call[1]) == ("MevShield", "submit_encrypted") and result.success:
            inner, digest = self._signed.pop((signer, nonce + 1))
            self._nonces[signer] = nonce + 2
            self._receipts[digest] = (self.head, self._dispatch(inner, signer, index=1))
        return result

    def _dispatch(self, call, signer: str, index: int) -> bt.ExtrinsicResult:
        where = {"block_hash": _block_hash(self.head), "extrinsic_id": f"{self.head}-{index}"}
        try:
            data, events = self._apply(call, signer)
        except ChainError as error:
            failure = bt.ChainError(error.message, error.code)
            return bt.ExtrinsicResult(success=False, message=error.message, error=failure, **where)
        self._events.setdefault(self.head, []).extend(events)
        return bt.ExtrinsicResult(success=True, message="ok", events=events, data=data, **where)

    def _dev(self, signer: str, call: str, **args) -> dict:
        tx = Transaction(call, args, signer, self.machine.nonce(signer), "")
        return self.machine.apply(tx)

    def _apply(self, call, signer: str) -> tuple[dict, list]:
        module, function, p = call
        key = (module, function)
        if key == ("MevShield", "submit_encrypted"):
            return {}, []
        if key in {("Balances", "transfer_keep_alive"), ("Balances", "transfer_allow_death")}:
            self._dev(signer, "transfer", dest=p["dest"], amount=int(p["value"]))
        elif key == ("SubtensorModule", "register_network"):
            netuid = self._dev(signer, "register_network", hotkey=p["hotkey"])["netuid"]
            event = {"event_id": "NetworkAdded", "attributes": {"netuid": netuid}}
            return {}, [{"event": {"module_id": "SubtensorModule", **event}}]
        elif key == ("SubtensorModule", "burned_register"):
            self._dev(signer, "burned_register", netuid=p["netuid"], hotkey=p["hotkey"])
        elif key == ("SubtensorModule", "serve_axon"):
            fields = ("netuid", "ip", "port", "ip_type", "protocol", "version")
            self._dev(signer, "serve_axon", **{f: p[f] for f in fields})
        elif key == ("SubtensorModule", "set_mechanism_weights"):
            self._dev(
                signer,
                "set_weights",
                netuid=p["netuid"],
                uids=list(p["dests"]),
                values=list(p["weights"]),
                version_key=p["version_key"],
            )
        elif key == ("SubtensorModule", "commit_timelocked_mechanism_weights"):
            target = self.machine.reveal_key(int(p["netuid"]))["round"]  # no drand here
            self._dev(
                signer,
                "commit_timelocked_weights",
                netuid=p["netuid"],
                commit=bytes(p["commit"]).hex(),
                reveal_round=target,
                commit_reveal_version=p["commit_reveal_version"],
            )
        elif key in {("SubtensorModule", "add_stake"), ("SubtensorModule", "add_stake_limit")}:
            self._dev(
                signer,
                "add_stake",
                netuid=p["netuid"],
                hotkey=p["hotkey"],
                amount=int(p["amount_staked"]),
            )
        elif key in {
            ("SubtensorModule", "remove_stake"),
            ("SubtensorModule", "remove_stake_limit"),
        }:
            self._dev(
                signer,
                "remove_stake",
                netuid=p["netuid"],
                hotkey=p["hotkey"],
                amount=int(p["amount_unstaked"]),
            )
        elif module == "AdminUtils":
            self._admin(function, p, signer, as_sudo=False)
        elif key == ("Sudo", "sudo"):
            if signer != sudo_address(self.machine.state):
                raise ChainError("RequireSudo", "only the sudo key may use Sudo.sudo")
            self._admin(p["call"][1], p["call"][2], signer, as_sudo=True)
        else:
            raise NotImplementedError(f"the fake substrate cannot execute {module}.{function}")
        return {}, []

    def _admin(self, setter: str, p: dict, signer: str, as_sudo: bool) -> None:
        params = self.machine.state.subnets[int(p["netuid"])].params
        if setter == "sudo_set_alpha_values":  # one call sets both; the intent changes one
            changes = [(n, p[n]) for n in ("alpha_low", "alpha_high") if p[n] != params[n]]
        else:
            name, param = _SETTER_TO_PARAM[setter]
            changes = [(name, p[param])]
        for name, value in changes:
            set_hyperparameter(
                self.machine.state,
                signer,
                {"netuid": p["netuid"], "name": name, "value": value},
                as_sudo=as_sudo,
            )


def fake_subtensor_chain(seed: bytes) -> tuple[SubtensorChain, FakeSubstrate]:
    fake = FakeSubstrate(seed)
    return SubtensorChain("local", substrate=fake), fake
