"""The running dev chain: the state machine plus blocks over time, waiting, snapshots and
(on the node) the store.

With a store, a change is answered only once it is durable; if a write fails, the state goes
back to what was committed (what a restart would show) and every later change is refused.

`handle(method, params)` is the whole API as named JSON-RPC methods; the node serves it over
HTTP and `dev:memory` calls it directly, so both behave the same. It lives in one asyncio
loop: transactions and blocks are applied in the order they arrive, and with a store each
answer is sent only once what it changed is durable.
"""

from __future__ import annotations

import asyncio
import time

from loguru import logger as log

from chain.dev.machine import DevChain
from chain.dev.signing import Transaction
from chain.dev.state import DevState
from chain.dev.store import TX, Store
from chain.errors import INVALID_ARGUMENT, STORE_FAILED, ChainError

MAX_WAIT_SECONDS = 30.0  # longest a wait_for_block long-poll is held before it answers
MAX_MINE_PER_CALL = 100_000


class UnknownMethod(Exception):
    """No JSON-RPC method of that name."""


class DevChainService:
    def __init__(self, machine: DevChain, store: Store | None = None):
        self.machine = machine
        self.store = store
        self._block_waiters: list[asyncio.Future] = []
        self._snapshots: dict[int, tuple[DevState, int]] = {}
        self._next_snapshot = 1
        self._auto: asyncio.Task | None = None
        self.block_time: float | None = None
        if store is not None:
            store.on_failure = self._back_to_durable_state
        self._methods = {
            "info": self._info,
            "block": lambda p: self.machine.state.block,
            "wait_for_block": self._wait_for_block,
            "submit": self._submit,
            "nonce": lambda p: self.machine.nonce(_param(p, "address", str)),
            "balance": lambda p: self.machine.balance(_param(p, "address", str)),
            "stake": self._stake,
            "subnets": lambda p: self.machine.subnets(),
            "metagraph": lambda p: self.machine.metagraph(_param(p, "netuid", int)),
            "hyperparameters": lambda p: self.machine.hyperparameters(_param(p, "netuid", int)),
            "weights": lambda p: self.machine.weights(_param(p, "netuid", int)),
            "reveal_key": lambda p: self.machine.reveal_key(_param(p, "netuid", int)),
            "mine": self._mine,
            "snapshot": self._snapshot,
            "revert": self._revert,
        }

    @property
    def state(self) -> DevState:
        return self.machine.state

    async def handle(self, method: str, params: dict | None) -> object:
        handler = self._methods.get(method)
        if handler is None:
            raise UnknownMethod(method)
        result = handler(params if params is not None else {})
        return await result if asyncio.iscoroutine(result) else result

    # --- transactions and blocks ---------------------------------------------------------

    def _back_to_durable_state(self) -> None:
        """A write failed: forget every change that was not committed, so the node shows what
        a restart would (a refused transaction is never visible), then refuses changes."""
        assert self.store is not None
        try:
            self.machine.state = self.store.durable_state()
        except Exception as error:  # the committed record replayed once already; never expected
            log.error("could not rebuild the committed state after the failed write: {}", error)

    def _check_store(self) -> None:
        """Refuse changes once a write failed: memory would run ahead of what is on disk."""
        if self.store is not None and self.store.failed is not None:
            raise ChainError(
                STORE_FAILED,
                f"the node could not write its store ({self.store.failed}); restart the node",
            )

    async def _submit(self, params: dict) -> dict:
        tx = Transaction.from_dict(_param(params, "tx", dict))
        self._check_store()
        result = self.machine.submit(tx)
        if self.store is not None:
            await self.store.append(TX, tx.to_dict())
        return result

    async def mine(self, count: int = 1) -> dict:
        """Produce `count` blocks now; answers once the last one is durable."""
        self._check_store()
        reports = [self._produce() for _ in range(count)]
        if self.store is not None and reports:
            await reports[-1]["durable"]
        return {
            "block": self.state.block,
            "epochs": [
                {"block": r["block"], "netuids": r["epochs"]} for r in reports if r["epochs"]
            ],
        }

    def _produce(self) -> dict:
        report = self.machine.produce_block()
        if self.store is not None:
            report["durable"] = self.store.append_block(self.state)
        waiters, self._block_waiters = self._block_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        return report

    async def _mine(self, params: dict) -> dict:
        count = params.get("count", 1)
        if (
            isinstance(count, bool)
            or not isinstance(count, int)
            or not 1 <= count <= MAX_MINE_PER_CALL
        ):
            raise ChainError(INVALID_ARGUMENT, f"count must be in [1, {MAX_MINE_PER_CALL}]")
        return await self.mine(count)

    @property
    def mining(self) -> bool:
        return self._auto is not None and not self._auto.done()

    def start_auto_mining(self, block_time: float) -> None:
        """Produce a block every `block_time` seconds in the running loop (drift-free)."""
        self.stop_auto_mining()
        self.block_time = block_time
        self._auto = asyncio.get_running_loop().create_task(self._auto_mine(block_time))

    def stop_auto_mining(self) -> None:
        if self._auto is not None:
            self._auto.cancel()
            self._auto = None

    async def _auto_mine(self, block_time: float) -> None:
        deadline = time.monotonic()
        while True:
            deadline += block_time
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            if self.store is not None and self.store.failed is not None:
                log.error("block production stopped: the store failed ({})", self.store.failed)
                return
            try:
                self._produce()
            except Exception:  # a bug in a block step must not silently stop the chain
                log.exception("block production failed at block {}", self.state.block + 1)
                raise
            if time.monotonic() - deadline > block_time:  # fell behind: do not try to catch up
                deadline = time.monotonic()

    # --- reads ---------------------------------------------------------------------------

    def _info(self, params: dict) -> dict:
        return {**self.machine.info(), "block_time": self.block_time}

    def _stake(self, params: dict) -> int:
        coldkey = params.get("coldkey")
        if coldkey is not None and not isinstance(coldkey, str):
            raise ChainError(INVALID_ARGUMENT, "coldkey must be an address")
        return self.machine.stake(
            _param(params, "netuid", int), _param(params, "hotkey", str), coldkey
        )

    async def _wait_for_block(self, params: dict) -> int:
        target = _param(params, "block", int)
        timeout = params.get("timeout", MAX_WAIT_SECONDS)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ChainError(INVALID_ARGUMENT, "timeout must be a number of seconds")
        deadline = time.monotonic() + min(float(timeout), MAX_WAIT_SECONDS)
        while self.state.block < target:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            waiter = asyncio.get_running_loop().create_future()
            self._block_waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except asyncio.TimeoutError:
                break
        return self.state.block

    # --- snapshots -----------------------------------------------------------------------

    def _snapshot(self, params: dict) -> int:
        snapshot_id = self._next_snapshot
        self._next_snapshot += 1
        seq = self.store.next_seq - 1 if self.store is not None else 0
        self._snapshots[snapshot_id] = (self.state.copy(), seq)
        return snapshot_id

    async def _revert(self, params: dict) -> int:
        """Back to snapshot `id` (which stays usable); later snapshots are dropped."""
        snapshot_id = _param(params, "id", int)
        self._check_store()
        if snapshot_id not in self._snapshots:
            raise ChainError(INVALID_ARGUMENT, f"no snapshot {snapshot_id}; take one with snapshot")
        state, seq = self._snapshots[snapshot_id]
        for later in [s for s in self._snapshots if s > snapshot_id]:
            del self._snapshots[later]
        self.machine.state = state.copy()
        if self.store is not None:
            await self.store.revert(seq, self.state)
        return self.state.block


def _param(params: object, name: str, kind: type) -> object:
    value = params.get(name) if isinstance(params, dict) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ChainError(INVALID_ARGUMENT, f"parameter {name!r} must be a {kind.__name__}")
    return value
