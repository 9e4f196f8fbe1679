"""The SQLite store: what was written comes back exactly, across checkpoints and reverts, and
what cannot be kept is refused or moved aside."""

from __future__ import annotations

import sqlite3

import pytest
from chain_helpers import ALICE, BOB, opened, stored_form, transfer

from chain import ChainError
from chain.dev.accounts import genesis
from chain.dev.service import DevChainService
from chain.dev.signing import sign
from chain.dev.store import CHECKPOINT_EVERY, Store


async def test_a_reopened_store_rebuilds_the_same_state_across_checkpoints(tmp_path):
    store, service = opened(tmp_path / "chain.sqlite")
    for i in range(2 * CHECKPOINT_EVERY + 30):
        if i % 7 == 0:
            await transfer(service, 1_000 + i)
        await service.mine(1)
    await store.flush()
    expected = stored_form(service)
    store.close()
    rows = sqlite3.connect(tmp_path / "chain.sqlite").execute("SELECT count(*) FROM log").fetchone()
    assert rows[0] < CHECKPOINT_EVERY  # older rows were folded into a checkpoint
    store, service = opened(tmp_path / "chain.sqlite")
    assert stored_form(service) == expected
    store.close()


async def test_a_revert_past_a_checkpoint_is_what_a_reopened_store_shows(tmp_path):
    store, service = opened(tmp_path / "chain.sqlite")
    await service.mine(3)
    snapshot = await service.handle("snapshot", {})
    expected = stored_form(service)
    for _ in range(CHECKPOINT_EVERY + 5):
        await transfer(service, 5)
        await service.mine(1)
    await service.handle("revert", {"id": snapshot})
    await store.flush()
    store.close()
    store, service = opened(tmp_path / "chain.sqlite")
    assert stored_form(service) == expected
    store.close()


async def test_after_a_failed_write_the_node_refuses_changes_it_cannot_keep(tmp_path, monkeypatch):
    store, machine = Store.open(str(tmp_path / "chain.sqlite"), genesis)
    service = DevChainService(machine, store)

    def disk_full(batch):
        raise OSError("No space left on device")

    monkeypatch.setattr(store, "_write", disk_full)
    args = {"dest": ALICE.coldkey.ss58_address, "amount": 1}
    first = sign(BOB.coldkey, machine.state.genesis_hash, "transfer", args, 0).to_dict()
    with pytest.raises(ChainError, match="store write failed"):  # never acknowledged
        await service.handle("submit", {"tx": first})
    second = sign(BOB.coldkey, machine.state.genesis_hash, "transfer", args, 1).to_dict()
    with pytest.raises(ChainError) as caught:
        await service.handle("submit", {"tx": second})
    assert caught.value.code == "StoreFailed"
    # Neither shows: the first was never committed, the second never touched the state.
    assert service.machine.nonce(BOB.coldkey.ss58_address) == 0
    store.close()


def test_someone_elses_database_is_moved_aside_untouched(tmp_path):
    path = tmp_path / "chain.sqlite"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE invoices (id INTEGER)")
    other.commit()
    other.close()
    store, machine = Store.open(str(path), genesis)
    store.close()
    aside = next(
        p
        for p in tmp_path.iterdir()
        if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))
    )
    tables = sqlite3.connect(aside).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("invoices",)] and machine.state.block == 0
