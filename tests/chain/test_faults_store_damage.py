"""Fault suite, randomised: damage the dev chain's store file at many offsets and start on it.

Every start must do one of three things: refuse with a clear `StoreUnavailable`, move the file
aside and start a new chain, or serve exactly the chain the file held, which then passes
SQLite's integrity check and accepts transactions and blocks. The offsets and the damage come
from a seeded generator, so a failure names a case that can be replayed.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from chain_helpers import opened, stored_form, transfer
from loguru import logger

from chain.dev.store import CHECKPOINT_EVERY, StoreUnavailable

pytestmark = pytest.mark.fault

SEED = 20_260_512
CASES = 48
RUN_BYTES = 16
DAMAGE_KINDS = ("flip one bit", "overwrite a run", "zero a page", "truncate")


@dataclass(frozen=True)
class Damage:
    kind: str
    offset: int

    def apply(self, path: Path, rng: random.Random, page_size: int) -> None:
        data = bytearray(path.read_bytes())
        if self.kind == "flip one bit":
            data[self.offset] ^= 1 << rng.randrange(8)
        elif self.kind == "overwrite a run":
            end = min(len(data), self.offset + RUN_BYTES)
            data[self.offset : end] = bytes(rng.randrange(256) for _ in range(end - self.offset))
        elif self.kind == "zero a page":
            start = self.offset - self.offset % page_size
            data[start : start + page_size] = bytes(page_size)
        else:
            del data[self.offset :]
        path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def sound_store(tmp_path_factory) -> tuple[Path, str, int]:
    """A store past its first checkpoint, closed cleanly: its path, chain and page size."""
    path = tmp_path_factory.mktemp("sound") / "chain.sqlite"

    async def build() -> str:
        store, service = opened(path)
        for i in range(CHECKPOINT_EVERY + 30):
            await transfer(service, 1_000 + i)
            if i % 2 == 0:
                await service.mine(1)
        await store.flush()
        form = stored_form(service)
        store.close()
        return form

    form = asyncio.run(build())
    page_size = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    return path, form, page_size


def damage_cases() -> list[tuple[int, str]]:
    rng = random.Random(SEED)
    return [(case, rng.choice(DAMAGE_KINDS)) for case in range(CASES)]


def integrity(path: Path) -> list:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize(("case", "kind"), damage_cases())
async def test_a_damaged_store_is_refused_moved_aside_or_served_sound(
    sound_store, tmp_path, case, kind
):
    source, sound_form, page_size = sound_store
    path = tmp_path / "chain.sqlite"
    shutil.copy(source, path)
    rng = random.Random(SEED * 1_000 + case)
    damage = Damage(kind, rng.randrange(path.stat().st_size))
    damage.apply(path, rng, page_size)

    sink = logger.add(lambda _: None, level="WARNING")  # the warning is tested elsewhere
    try:
        store, service = opened(path)
    except StoreUnavailable as refused:
        assert "--db" in str(refused), f"{damage}: unclear refusal {refused}"
        return
    finally:
        logger.remove(sink)
    moved = any(p.name.startswith("chain.sqlite.corrupt-") for p in tmp_path.iterdir())
    if not moved:
        assert stored_form(service) == sound_form, f"{damage}: served a different chain"
    await transfer(service, 7)
    await service.mine(1)
    after = stored_form(service)
    await store.flush()
    store.close()
    assert integrity(path) == [("ok",)], f"{damage}: the store it kept is not sound"
    reopened, again = opened(path)
    assert stored_form(again) == after, f"{damage}: a restart shows another chain"
    reopened.close()
