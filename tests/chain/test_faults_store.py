"""Fault suite: the dev chain's store file, damaged on disk or failing to write.

Each case the node once got wrong: a damaged page that opened and then refused every
transaction, a damaged schema reported as a folder problem, a log row that failed on replay
with a raw traceback, a 0-byte file silently taken for a new chain, a refused transaction still
visible after a failed write. A damaged file is now moved aside with one message saying what
was found and where it went, and the node starts only on a sound state.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
from pathlib import Path

import pytest
from chain_helpers import ALICE, BOB, opened, store_genesis, stored_form, transfer
from loguru import logger

from chain import ChainError
from chain.dev.store import CHECKPOINT_EVERY, Store, StoreUnavailable
from chain.dev.store_file import TX, StoreCorrupt, classify, row_digest

pytestmark = pytest.mark.fault

# Enough to fill several pages of log rows after the first checkpoint.
TRANSFERS = CHECKPOINT_EVERY + 40
PAGE_HEADER_FREEBLOCK = 1  # offset of a b-tree page's "first freeblock" field (2 bytes)
INTERIOR_RIGHT_CHILD = 8  # offset of an interior page's right-most child pointer (4 bytes)


async def build_store(path: Path) -> str:
    """A store with transfers and blocks past a checkpoint; the chain it holds, as stored."""
    store, service = opened(path)
    for i in range(TRANSFERS):
        await transfer(service, 1_000 + i)
        if i % 2 == 0:
            await service.mine(1)
    await store.flush()
    expected = stored_form(service)
    store.close()
    return expected


def aside_files(path: Path) -> list[Path]:
    return [p for p in path.parent.iterdir() if p.name.startswith(f"{path.name}.corrupt-")]


class Warnings:
    """Collects loguru's warning lines."""

    def __enter__(self) -> list[str]:
        self.lines: list[str] = []
        self.sink = logger.add(lambda m: self.lines.append(str(m)), level="WARNING")
        return self.lines

    def __exit__(self, *exc) -> None:
        logger.remove(self.sink)


async def open_and_use(path: Path) -> tuple[str, int]:
    """Open the store, submit a transfer and mine a block; the chain before, and its block."""
    store, service = opened(path)
    before = stored_form(service)
    await transfer(service, 7)
    await service.mine(1)
    block = service.state.block
    await store.flush()
    store.close()
    return before, block


def assert_moved_aside_once(path: Path, lines: list[str], found: str) -> None:
    [aside] = [p for p in aside_files(path) if not p.name.endswith(("-wal", "-shm"))]
    [line] = [line for line in lines if "is damaged" in line]
    assert found in line and str(aside) in line and "new chain at block 0" in line
    assert "Traceback" not in line


def rightmost_log_leaf(path: Path) -> int:
    """The byte offset of the page new log rows go into."""
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'log'").fetchone()[0]
    conn.close()
    with path.open("rb") as file:
        while True:
            file.seek((page - 1) * page_size)
            header = file.read(12)
            if header[0] != 0x05:  # not an interior page: the leaf
                return (page - 1) * page_size
            page = struct.unpack(">I", header[INTERIOR_RIGHT_CHILD : INTERIOR_RIGHT_CHILD + 4])[0]


async def test_a_damaged_page_that_only_writes_touch_is_found_at_open(tmp_path):
    # Reads of this page still work; before the integrity check, the node opened the file and
    # then refused every transaction with StoreFailed.
    path = tmp_path / "chain.sqlite"
    await build_store(path)
    offset = rightmost_log_leaf(path) + PAGE_HEADER_FREEBLOCK
    with path.open("r+b") as file:
        file.seek(offset)
        file.write(b"\x0f\xf0")
    with Warnings() as lines:
        before, block = await open_and_use(path)
    assert_moved_aside_once(path, lines, "integrity check failed")
    assert json.loads(before)["block"] == 0 and block == 1


async def test_a_damaged_schema_is_reported_as_damage_not_as_a_folder_problem(tmp_path):
    path = tmp_path / "chain.sqlite"
    await build_store(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = replace(sql, 'seq INTEGER', 'sek INTEGER')")
    conn.commit()
    conn.close()
    with Warnings() as lines:
        before, _ = await open_and_use(path)
    assert_moved_aside_once(path, lines, "no such column")
    assert not any("folder" in line for line in lines)
    assert json.loads(before)["block"] == 0


async def test_a_log_row_that_fails_on_replay_is_named_in_one_message(tmp_path):
    path = tmp_path / "chain.sqlite"
    await build_store(path)
    conn = sqlite3.connect(path)
    seq = conn.execute("SELECT max(seq) FROM log").fetchone()[0] + 1
    # A checksummed row (as the node would write it) that the chain refuses on replay.
    body = json.dumps({"call": "transfer", "signer": ALICE.coldkey.ss58_address})
    conn.execute("INSERT INTO log VALUES (?, ?, ?, ?)", (seq, TX, body, row_digest(seq, TX, body)))
    conn.commit()
    conn.close()
    with Warnings() as lines:
        before, _ = await open_and_use(path)
    assert_moved_aside_once(path, lines, f"log row {seq} (tx) fails on replay")
    assert json.loads(before)["block"] == 0


async def test_a_row_edited_into_other_valid_json_fails_its_checksum(tmp_path):
    path = tmp_path / "chain.sqlite"
    await build_store(path)
    conn = sqlite3.connect(path)
    seq, body = conn.execute("SELECT seq, body FROM log WHERE kind = 'tx' LIMIT 1").fetchone()
    edited = body.replace('"amount": 1', '"amount": 9')
    assert edited != body
    conn.execute("UPDATE log SET body = ? WHERE seq = ?", (edited, seq))
    conn.commit()
    conn.close()
    with Warnings() as lines:
        await open_and_use(path)
    assert_moved_aside_once(path, lines, f"log row {seq} does not match its checksum")


async def test_a_missing_log_row_is_found(tmp_path):
    path = tmp_path / "chain.sqlite"
    await build_store(path)
    conn = sqlite3.connect(path)
    seq = conn.execute("SELECT min(seq) + 1 FROM log").fetchone()[0]
    conn.execute("DELETE FROM log WHERE seq = ?", (seq,))
    conn.commit()
    conn.close()
    with Warnings() as lines:
        await open_and_use(path)
    assert_moved_aside_once(path, lines, f"log row {seq} is missing")


async def test_a_zero_byte_file_is_moved_aside_not_taken_for_a_new_chain(tmp_path):
    path = tmp_path / "chain.sqlite"
    path.write_bytes(b"")
    with Warnings() as lines:
        await open_and_use(path)
    assert_moved_aside_once(path, lines, "empty (0 bytes)")


async def test_a_store_of_another_format_is_moved_aside_with_its_format(tmp_path):
    path = tmp_path / "chain.sqlite"
    await build_store(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 0")
    conn.commit()
    conn.close()
    with Warnings() as lines:
        await open_and_use(path)
    assert_moved_aside_once(path, lines, "store format 0")


async def test_a_sound_store_opens_without_a_warning_and_keeps_its_chain(tmp_path):
    path = tmp_path / "chain.sqlite"
    expected = await build_store(path)
    with Warnings() as lines:
        before, _ = await open_and_use(path)
    assert before == expected and lines == [] and aside_files(path) == []


def test_a_folder_given_as_the_store_is_a_clear_error_and_nothing_moves(tmp_path):
    with pytest.raises(StoreUnavailable, match="is a folder: give a file path"):
        Store.open(str(tmp_path), store_genesis)
    assert list(tmp_path.iterdir()) == []


def test_a_store_in_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreUnavailable, match=r"folder .*missing.* does not exist"):
        Store.open(str(tmp_path / "missing" / "chain.sqlite"), store_genesis)


def sqlite_error_while_locked(path: Path) -> sqlite3.Error:
    """The error SQLite gives a reader while another connection holds an exclusive lock."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    reader = sqlite3.connect(path, timeout=0)
    try:
        reader.execute("SELECT * FROM t")
    except sqlite3.Error as error:
        return error
    finally:
        reader.close()
        holder.execute("ROLLBACK")
        holder.close()
    raise AssertionError("the read was not refused")


def test_a_lock_held_by_another_process_is_unavailable_not_damage(tmp_path):
    path = tmp_path / "locked.sqlite"
    refused = classify(str(path), sqlite_error_while_locked(path))
    assert isinstance(refused, StoreUnavailable) and "another process holds it" in str(refused)


def test_a_file_that_is_not_a_database_is_damage(tmp_path):
    path = tmp_path / "chain.sqlite"
    path.write_bytes(b"not a database at all" * 300)
    with pytest.raises(sqlite3.DatabaseError) as caught:
        sqlite3.connect(path).execute("SELECT * FROM sqlite_master")
    assert isinstance(classify(str(path), caught.value), StoreCorrupt)


async def test_after_a_failed_write_the_chain_is_what_a_restart_would_show(tmp_path, monkeypatch):
    path = tmp_path / "chain.sqlite"
    store, service = opened(path)
    await transfer(service, 5)
    await service.mine(2)
    committed = stored_form(service)

    def disk_full(batch):
        raise OSError("No space left on device")

    monkeypatch.setattr(store, "_write", disk_full)
    with pytest.raises(ChainError, match="store write failed"):
        await transfer(service, 6)
    assert stored_form(service) == committed  # the refused transfer is not visible
    with pytest.raises(ChainError, match="StoreFailed"):
        await service.mine(1)
    assert stored_form(service) == committed
    store.close()
    monkeypatch.undo()
    _, restarted = opened(path)
    assert stored_form(restarted) == committed
    restarted.store.close()


async def test_a_failed_block_write_takes_the_block_back(tmp_path, monkeypatch):
    store, service = opened(tmp_path / "chain.sqlite")
    await service.mine(1)

    def io_error(batch):
        raise OSError("Input/output error")

    monkeypatch.setattr(store, "_write", io_error)
    with pytest.raises(ChainError, match="store write failed"):
        await service.mine(3)
    assert service.state.block == 1
    assert service.machine.balance(BOB.coldkey.ss58_address) > 0
    store.close()


def test_moving_aside_never_overwrites_an_earlier_damaged_file(tmp_path):
    path = tmp_path / "chain.sqlite"
    for text in (b"first damaged file", b"second damaged file"):
        path.write_bytes(text)
        store, _ = Store.open(str(path), store_genesis)
        store.close()
        os.remove(path)
    kept = sorted(
        p.read_bytes() for p in aside_files(path) if not p.name.endswith(("-wal", "-shm"))
    )
    assert kept == [b"first damaged file", b"second damaged file"]
