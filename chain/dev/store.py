"""SQLite persistence for the dev chain: an ordered log of what happened, plus checkpoints.

The state machine is deterministic, so the chain is its checkpoint plus the log after it:
`log` holds every accepted transaction and every produced block, in order, and `checkpoints`
holds the full state every CHECKPOINT_EVERY blocks (older log rows are then deleted).
Opening a store loads the newest checkpoint and replays the log after it.

Durability: `append` resolves only once its row is committed (WAL, synchronous=FULL), so an
acknowledged transaction survives SIGKILL. Rows queued while a commit is in progress go into
the next commit together (group commit), and each commit is one SQLite transaction, so a
block's record and its checkpoint land together or not at all. A file that is not a readable
dev chain store is moved aside (PATH.corrupt-TIMESTAMP), never overwritten. A file SQLite
cannot open or write at all (a missing folder, no permission, locked) is not corrupt: opening
it raises `StoreUnavailable` and leaves it where it is.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from dataclasses import dataclass

from loguru import logger as log

from chain.dev.machine import DevChain
from chain.dev.signing import Transaction
from chain.dev.state import DevState
from chain.errors import STORE_FAILED, ChainError

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
"""
OUR_TABLES = {"log", "checkpoints"}
CHECKPOINT_EVERY = 100  # blocks between checkpoints: bounds the replay at start-up
TX, BLOCK = "tx", "block"


class StoreCorrupt(Exception):
    """The file exists but is not a dev chain store this version can read."""


class StoreUnavailable(OSError):
    """SQLite cannot open or write the file (its folder, its permissions, a lock)."""


def _unavailable(path: str, error: sqlite3.OperationalError) -> StoreUnavailable:
    return StoreUnavailable(
        f"cannot use {path} as the dev chain store ({error}): give --db a file in a folder "
        "that exists and that you may write to"
    )


@dataclass
class _Op:
    kind: str  # "row", "checkpoint" or "revert"
    seq: int
    body: str
    done: asyncio.Future | None = None
    row_kind: str = ""  # TX or BLOCK, for rows


class Store:
    """One SQLite file. Create with `Store.open(path, make_genesis)`."""

    def __init__(self, path: str, conn: sqlite3.Connection, next_seq: int):
        self.path = path
        self._conn = conn
        self.next_seq = next_seq
        self._queue: list[_Op] = []
        self._writer: asyncio.Task | None = None
        self.failed: BaseException | None = None
        self.blocks_since_checkpoint = 0

    @staticmethod
    def open(path: str, make_genesis) -> tuple[Store, DevChain]:
        """Open (or create) the store at `path` and rebuild the chain it holds."""
        try:
            return Store._open(path, make_genesis)
        except StoreCorrupt as error:
            aside = f"{path}.corrupt-{int(time.time())}"
            log.warning("dev chain store {} is unreadable ({}); moved to {}", path, error, aside)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.replace(path + suffix, aside + suffix)
            return Store._open(path, make_genesis)

    @staticmethod
    def _open(path: str, make_genesis) -> tuple[Store, DevChain]:
        conn = None
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            foreign = tables - OUR_TABLES
            if foreign:  # someone else's database: never write into it
                raise StoreCorrupt(f"not a dev chain store (tables {sorted(foreign)})")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(SCHEMA)
            checkpoint = conn.execute(
                "SELECT seq, body FROM checkpoints ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        except sqlite3.OperationalError as error:
            if conn is not None:
                conn.close()
            raise _unavailable(path, error) from None
        except (sqlite3.DatabaseError, StoreCorrupt) as error:
            if conn is not None:
                conn.close()
            raise StoreCorrupt(str(error)) from None
        if checkpoint is None:
            machine = DevChain(make_genesis())
            body = json.dumps(machine.state.to_dict())
            conn.execute("INSERT INTO checkpoints (seq, body) VALUES (0, ?)", (body,))
            return Store(path, conn, 1), machine
        try:
            machine = DevChain(DevState.from_dict(json.loads(checkpoint[1])))
            rows = conn.execute(
                "SELECT seq, kind, body FROM log WHERE seq > ? ORDER BY seq", (checkpoint[0],)
            ).fetchall()
            last = checkpoint[0]
            for seq, kind, body in rows:
                _replay(machine, kind, body)
                last = seq
        except sqlite3.OperationalError as error:
            conn.close()
            raise _unavailable(path, error) from None
        except (ValueError, KeyError, TypeError, sqlite3.DatabaseError) as error:
            conn.close()
            raise StoreCorrupt(f"cannot replay the log: {error}") from None
        return Store(path, conn, last + 1), machine

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
                for op in batch + self._queue:
                    if op.done is not None and not op.done.done():
                        op.done.set_exception(
                            ChainError(STORE_FAILED, f"store write failed: {error}")
                        )
                self._queue = []
                return
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
                        "INSERT INTO log (seq, kind, body) VALUES (?, ?, ?)",
                        (op.seq, op.row_kind, op.body),
                    )
                elif op.kind == "checkpoint":
                    conn.execute(
                        "INSERT OR REPLACE INTO checkpoints VALUES (?, ?)", (op.seq, op.body)
                    )
                    conn.execute("DELETE FROM log WHERE seq <= ?", (op.seq,))
                    conn.execute("DELETE FROM checkpoints WHERE seq < ?", (op.seq,))
                else:
                    conn.execute("DELETE FROM log WHERE seq > ?", (op.seq,))
                    conn.execute("DELETE FROM checkpoints WHERE seq >= ?", (op.seq,))
                    conn.execute("INSERT INTO checkpoints VALUES (?, ?)", (op.seq, op.body))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def flush(self) -> None:
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    def close(self) -> None:
        self._conn.close()


def _replay(machine: DevChain, kind: str, body: str) -> None:
    if kind == TX:
        machine.apply(Transaction.from_dict(json.loads(body)))
    elif kind == BLOCK:
        machine.produce_block()
    else:
        raise ValueError(f"unknown log row kind {kind!r}")
