"""Reading a dev chain store file back, and refusing one that is not sound.

What `Store.open` checks, in order, before the node serves anything:

1. The location (`check_location`): the path is not a folder, its folder exists and may be
   written to (SQLite writes `-wal` and `-shm` files beside it), and the file, if present, may
   be read and written. A failure is `StoreUnavailable`: the file is left where it is.
2. The file (`load`): not empty (a 0-byte file holds no chain), SQLite's integrity check
   passes, its tables are exactly the store's and its format is this version's, the newest
   checkpoint matches its checksum and loads, and the log after it is complete (no missing
   row), matches its checksums and replays. A failure is `StoreCorrupt`, naming what was found.

Every row carries the sha256 of its sequence number, kind and body, so a damaged byte that
SQLite's own check cannot see (inside a row's text) is found too. SQLite errors are sorted by
their code: one that says the file cannot be opened, written or locked now is
`StoreUnavailable`; any other (a malformed page, a file that is not a database) is damage.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from chain.dev.machine import DevChain
from chain.dev.signing import Transaction
from chain.dev.state import DevState

# PRAGMA user_version of a store whose rows carry checksums; a file of any other format is
# not one this version can vouch for.
STORE_FORMAT = 1
OUR_TABLES = {"log", "checkpoints"}
CREATE_TABLES = (
    "CREATE TABLE log (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL, "
    "digest TEXT NOT NULL)",
    "CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, digest TEXT NOT NULL)",
)
TX, BLOCK, CHECKPOINT = "tx", "block", "checkpoint"
# SQLite's integrity check lists every problem it finds; the message names the first few.
INTEGRITY_PROBLEMS_SHOWN = 3
FIX_LOCATION = "give --db a file in a folder that exists and that you may write to"
# What to do about a SQLite error that says the file cannot be used now (not that it is
# damaged), by the error's code prefix.
UNAVAILABLE_ADVICE = {
    "SQLITE_CANTOPEN": FIX_LOCATION,
    "SQLITE_PERM": FIX_LOCATION,
    "SQLITE_READONLY": FIX_LOCATION,
    "SQLITE_AUTH": FIX_LOCATION,
    "SQLITE_BUSY": "another process holds it (a second `subnet devchain --db` on the same "
    "file?): stop that process or give --db another file",
    "SQLITE_LOCKED": "another process holds it: stop that process or give --db another file",
    "SQLITE_FULL": "the disk is full: free some space and start the node again",
    "SQLITE_IOERR": "the disk failed reading or writing it: check the disk, or give --db a "
    "file on another one",
    "SQLITE_NOMEM": "SQLite ran out of memory",
}
# Python before 3.11 gives no error code; these are SQLite's own texts for the codes above.
_CODE_OF_MESSAGE = {
    "unable to open database file": "SQLITE_CANTOPEN",
    "access permission denied": "SQLITE_PERM",
    "attempt to write a readonly database": "SQLITE_READONLY",
    "database is locked": "SQLITE_BUSY",
    "database table is locked": "SQLITE_LOCKED",
    "database or disk is full": "SQLITE_FULL",
    "disk I/O error": "SQLITE_IOERR",
    "out of memory": "SQLITE_NOMEM",
}


class StoreCorrupt(Exception):
    """The file exists but is not a sound dev chain store this version can read."""


class StoreUnavailable(OSError):
    """The file cannot be used now (its folder, its permissions, a lock, the disk)."""


def row_digest(seq: int, kind: str, body: str) -> str:
    """The checksum a row carries: sha256 of its sequence number, kind and body."""
    return hashlib.sha256(f"{seq}\n{kind}\n{body}".encode()).hexdigest()


def check_location(path: str) -> None:
    """Raise `StoreUnavailable` unless a store can live at `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise StoreUnavailable(
            f"--db {path} is a folder: give a file path, for example "
            f"{os.path.join(path, 'chain.sqlite')}"
        )
    if not os.path.isdir(folder):
        raise StoreUnavailable(
            f"cannot use {path}: the folder {folder} does not exist; create it or {FIX_LOCATION}"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreUnavailable(
            f"cannot use {path}: no permission to write in {folder}; {FIX_LOCATION}"
        )
    if os.path.exists(path) and not os.path.isfile(path):
        raise StoreUnavailable(f"--db {path} exists but is not a regular file; {FIX_LOCATION}")
    if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        raise StoreUnavailable(
            f"cannot use {path}: no permission to read and write it; {FIX_LOCATION}"
        )


def classify(path: str, error: sqlite3.Error) -> StoreUnavailable | StoreCorrupt:
    """A SQLite error while reading the store: the file cannot be used now, or it is damaged."""
    code = getattr(error, "sqlite_errorname", None) or _CODE_OF_MESSAGE.get(str(error), "")
    for prefix, advice in UNAVAILABLE_ADVICE.items():
        if code.startswith(prefix):
            return StoreUnavailable(f"cannot use {path} as the dev chain store ({error}): {advice}")
    return StoreCorrupt(f"SQLite cannot read it ({error})")


def move_aside(path: str, now: float | None = None) -> str:
    """Rename `path` (and its -wal and -shm files) to PATH.corrupt-TIMESTAMP, never over an
    existing file; the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() if now is None else now))
    aside, counter = f"{path}.corrupt-{stamp}", 1
    while any(os.path.exists(aside + suffix) for suffix in ("", "-wal", "-shm")):
        aside, counter = f"{path}.corrupt-{stamp}-{counter}", counter + 1
    try:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.replace(path + suffix, aside + suffix)
    except OSError as error:
        raise StoreUnavailable(
            f"{path} is damaged and cannot be moved aside ({error.strerror}); move or delete it "
            "yourself, or give --db another file"
        ) from None
    return aside


@dataclass
class Loaded:
    """A sound store's contents: the chain it holds, and the durable record it was built from
    (the newest checkpoint and the log rows after it)."""

    machine: DevChain
    checkpoint_seq: int
    checkpoint_body: str
    rows: list[tuple[int, str, str]]  # (seq, kind, body)

    @property
    def last_seq(self) -> int:
        return self.rows[-1][0] if self.rows else self.checkpoint_seq


def is_empty_file(path: str) -> bool:
    """A 0-byte file with nothing in a -wal beside it: it holds no chain."""

    def size(name: str) -> int:
        return os.path.getsize(name) if os.path.exists(name) else 0

    return os.path.exists(path) and size(path) == 0 and size(path + "-wal") == 0


def load(conn: sqlite3.Connection, make_genesis: Callable[[], DevState]) -> Loaded:
    """Check the open database and rebuild its chain (a new store if it has no tables).

    Raises `StoreCorrupt` naming what is wrong, or `sqlite3.Error` (see `classify`)."""
    report = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if report != ["ok"]:
        # One problem a line (sometimes all in one row), under a "*** in database" heading.
        problems = [p for row in report for p in row.splitlines() if not p.startswith("***")]
        shown = "; ".join(problems[:INTEGRITY_PROBLEMS_SHOWN])
        more = len(problems) - INTEGRITY_PROBLEMS_SHOWN
        raise StoreCorrupt(
            f"SQLite's integrity check failed: {shown}" + (f" (+{more} more)" if more > 0 else "")
        )
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    if not names:
        return _create(conn, make_genesis)
    if names != OUR_TABLES:  # someone else's database: never write into it
        raise StoreCorrupt(f"not a dev chain store (tables {sorted(names)})")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != STORE_FORMAT:
        raise StoreCorrupt(
            f"store format {version}, and this version of subnetkit reads format {STORE_FORMAT}"
        )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    newest = conn.execute(
        "SELECT seq, body, digest FROM checkpoints ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    if newest is None:
        raise StoreCorrupt("it has no checkpoint")
    seq, body, digest = newest
    if digest != row_digest(seq, CHECKPOINT, body):
        raise StoreCorrupt(f"the checkpoint at row {seq} does not match its checksum")
    try:
        machine = DevChain(DevState.from_dict(json.loads(body)))
    except Exception as error:  # a checksummed body that does not load: another format
        raise StoreCorrupt(f"the checkpoint at row {seq} does not load ({error!r})") from None
    loaded = Loaded(machine, seq, body, [])
    log_rows = conn.execute(
        "SELECT seq, kind, body, digest FROM log WHERE seq > ? ORDER BY seq", (seq,)
    )
    for row_seq, kind, row_body, row_sum in log_rows:
        expected = loaded.last_seq + 1
        if row_seq != expected:
            raise StoreCorrupt(f"log row {expected} is missing (the next row is {row_seq})")
        if row_sum != row_digest(row_seq, kind, row_body):
            raise StoreCorrupt(f"log row {row_seq} does not match its checksum")
        try:
            replay(machine, kind, row_body)
        except Exception as error:  # whatever the row does, the chain it leads to is unsound
            raise StoreCorrupt(f"log row {row_seq} ({kind}) fails on replay ({error})") from None
        loaded.rows.append((row_seq, kind, row_body))
    return loaded


def _create(conn: sqlite3.Connection, make_genesis: Callable[[], DevState]) -> Loaded:
    """A new store: tables, format and genesis checkpoint in one transaction, so a store is
    either complete or has no tables at all."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    machine = DevChain(make_genesis())
    body = json.dumps(machine.state.to_dict())
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in CREATE_TABLES:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version={STORE_FORMAT}")
        conn.execute(
            "INSERT INTO checkpoints (seq, body, digest) VALUES (0, ?, ?)",
            (body, row_digest(0, CHECKPOINT, body)),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return Loaded(machine, 0, body, [])


def replay(machine: DevChain, kind: str, body: str) -> None:
    """Apply one log row; a block row must produce the block it names."""
    if kind == TX:
        machine.apply(Transaction.from_dict(json.loads(body)))
    elif kind == BLOCK:
        machine.produce_block()
        recorded = json.loads(body)["block"]
        if machine.state.block != recorded:
            raise ValueError(
                f"the row records block {recorded}, the replay made block {machine.state.block}"
            )
    else:
        raise ValueError(f"unknown log row kind {kind!r}")


def rebuild(checkpoint_body: str, rows: list[tuple[int, str, str]]) -> DevState:
    """The state a checkpoint and the log rows after it describe."""
    machine = DevChain(DevState.from_dict(json.loads(checkpoint_body)))
    for _, kind, body in rows:
        replay(machine, kind, body)
    return machine.state
