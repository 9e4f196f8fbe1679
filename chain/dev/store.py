"""SQLite persistence for the dev chain: an ordered log of what happened, plus checkpoints.

The state machine is deterministic, so the chain is its checkpoint plus the log after it:
`log` holds every accepted transaction and every produced block, in order, and `checkpoints`
holds the full state every CHECKPOINT_EVERY blocks (older log rows are then deleted).
Opening a store checks the file (see `chain.dev.store_file`: SQLite's integrity check, every
row's checksum, the checkpoint, the log replay) and rebuilds the chain from it.

Durability: `append` resolves only once its row is committed (WAL, synchronous=FULL), so an
acknowledged transaction survives SIGKILL. Rows queued while a commit is in progress go into
the next commit together (group commit), and each commit is one SQLite transaction, so a
block's record and its checkpoint land together or not at all. The store keeps the durable
record (the newest committed checkpoint and the rows after it) in memory too: when a write
fails, `on_failure` is called first, and `durable_state()` is the chain as a restart would
rebuild it, without anything that was never committed.

A damaged file (any check failing) is moved aside (PATH.corrupt-TIMESTAMP), never overwritten,
with one warning saying what was found and where it went, and a new chain starts at block 0: the
node only ever serves a sound state. A file SQLite cannot open or write at all (a missing
folder, no permission, a lock) is not damaged: opening it raises `StoreUnavailable` and leaves
it where it is.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger as log

from chain.dev import store_file
from chain.dev.machine import DevChain
from chain.dev.state import DevState
from chain.dev.store_file import (
    BLOCK,
    CHECKPOINT,
    TX,
    Loaded,
    StoreCorrupt,
    StoreUnavailable,
    row_digest,
)
from chain.errors import STORE_FAILED, ChainError

__all__ = ["BLOCK", "CHECKPOINT_EVERY", "TX", "Store", "StoreCorrupt", "StoreUnavailable"]
CHECKPOINT_EVERY = 100  # blocks between checkpoints: bounds the replay at start-up


@dataclass
class _Op:
    kind: str  # "row", "checkpoint" or "revert"
    seq: int
    body: str
    done: asyncio.Future | None = None
    row_kind: str = ""  # TX or BLOCK, for rows


class Store:
    """One SQLite file. Create with `Store.open(path, make_genesis)`."""

    def __init__(self, path: str, conn: sqlite3.Connection, loaded: Loaded):
        self.path = path
        self._conn = conn
        self.next_seq = loaded.last_seq + 1
        self._queue: list[_Op] = []
        self._writer: asyncio.Task | None = None
        self.failed: BaseException | None = None
        self.on_failure: Callable[[], None] | None = None
        self.blocks_since_checkpoint = 0
        # The durable record: what a restart would rebuild the chain from.
        self._checkpoint = (loaded.checkpoint_seq, loaded.checkpoint_body)
        self._rows = list(loaded.rows)

    @staticmethod
    def open(path: str, make_genesis: Callable[[], DevState]) -> tuple[Store, DevChain]:
        """Open (or create) the store at `path` and rebuild the chain it holds; a damaged file
        is moved aside and a new chain starts. Raises `StoreUnavailable` (nothing moved)."""
        store_file.check_location(path)
        try:
            return Store._open(path, make_genesis)
        except StoreCorrupt as damage:
            aside = store_file.move_aside(path)
            log.warning(
                "dev chain store {} is damaged: {}; moved it to {} and started a new chain at "
                "block 0",
                path,
                damage,
                aside,
            )
            return Store._open(path, make_genesis)

    @staticmethod
    def _open(path: str, make_genesis: Callable[[], DevState]) -> tuple[Store, DevChain]:
        if store_file.is_empty_file(path):
            raise StoreCorrupt("the file is empty (0 bytes) and holds no chain")
        conn = None
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            loaded = store_file.load(conn, make_genesis)
        except sqlite3.Error as error:
            if conn is not None:
                conn.close()
            raise store_file.classify(path, error) from None
        except StoreCorrupt:
            conn.close()
            raise
        return Store(path, conn, loaded), loaded.machine

    def durable_state(self) -> DevState:
        """The chain as its committed record describes it (what a restart would show)."""
        return store_file.rebuild(self._checkpoint[1], self._rows)

    # --- writing -------------------------------------------------------------------------

    def append(self, kind: str, body: dict) -> asyncio.Future:
        """Queue a log row; the returned future resolves once it is durable."""
        if self.failed is not None:
            raise ChainError(STORE_FAILED, f"the store failed earlier ({self.failed}); restart")
        done = asyncio.get_running_loop().create_future()
        self._enqueue(_Op("row", self.next_seq, json.dumps(body), done, row_kind=kind))
        self.next_seq += 1
        return done

    def append_block(self, state: DevState) -> asyncio.Future:
        """Log the block `state` has just produced, and every CHECKPOINT_EVERY blocks queue a
        checkpoint of it; the returned future resolves once the block's row is durable."""
        done = self.append(BLOCK, {"block": state.block})
        self.blocks_since_checkpoint += 1
        if self.blocks_since_checkpoint >= CHECKPOINT_EVERY:
            self.checkpoint(state)
        return done

    def checkpoint(self, state: DevState) -> None:
        """Queue a checkpoint of `state` as of the last appended row."""
        self._enqueue(_Op("checkpoint", self.next_seq - 1, json.dumps(state.to_dict())))
        self.blocks_since_checkpoint = 0

    def revert(self, seq: int, state: DevState) -> asyncio.Future:
        """Drop every row after `seq` and make `state` the checkpoint at `seq`."""
        done = asyncio.get_running_loop().create_future()
        self._enqueue(_Op("revert", seq, json.dumps(state.to_dict()), done))
        self.next_seq = seq + 1
        return done

    def _enqueue(self, op: _Op) -> None:
        self._queue.append(op)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await asyncio.to_thread(self._write, batch)
            except Exception as error:  # disk full, I/O error: nothing more can be promised
                self.failed = error
                log.error("dev chain store write failed: {}", error)
                if self.on_failure is not None:
                    self.on_failure()  # before any caller hears of it
                for op in batch + self._queue:
                    if op.done is not None and not op.done.done():
                        op.done.set_exception(
                            ChainError(STORE_FAILED, f"store write failed: {error}")
                        )
                self._queue = []
                return
            self._record_durable(batch)
            for op in batch:
                if op.done is not None and not op.done.done():
                    op.done.set_result(None)

    def _write(self, batch: list[_Op]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in batch:
                if op.kind == "row":
                    conn.execute(
                        "INSERT INTO log (seq, kind, body, digest) VALUES (?, ?, ?, ?)",
                        (op.seq, op.row_kind, op.body, row_digest(op.seq, op.row_kind, op.body)),
                    )
                    continue
                if op.kind == "checkpoint":
                    conn.execute("DELETE FROM log WHERE seq <= ?", (op.seq,))
                    conn.execute("DELETE FROM checkpoints WHERE seq <= ?", (op.seq,))
                else:  # revert
                    conn.execute("DELETE FROM log WHERE seq > ?", (op.seq,))
                    conn.execute("DELETE FROM checkpoints WHERE seq >= ?", (op.seq,))
                conn.execute(
                    "INSERT INTO checkpoints (seq, body, digest) VALUES (?, ?, ?)",
                    (op.seq, op.body, row_digest(op.seq, CHECKPOINT, op.body)),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _record_durable(self, batch: list[_Op]) -> None:
        """Follow a committed batch in the in-memory durable record."""
        for op in batch:
            if op.kind == "row":
                self._rows.append((op.seq, op.row_kind, op.body))
            elif op.kind == "checkpoint":
                self._checkpoint = (op.seq, op.body)
                self._rows = [row for row in self._rows if row[0] > op.seq]
            else:  # revert: the rows after seq are gone, the reverted state is the checkpoint
                self._checkpoint = (op.seq, op.body)
                self._rows = []

    async def flush(self) -> None:
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    def close(self) -> None:
        self._conn.close()
