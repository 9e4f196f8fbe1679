"""The gateway's durable records, in one SQLite file: API keys, usage per key, speed per miner.

    store = GatewayStore.open(folder)            # creates folder/gateway.sqlite
    key, secret = store.create_key("alice", requests_per_minute=60, tokens_per_minute=0)
    store.authenticate(secret)                   # -> the ApiKey, or None (unknown or revoked)
    store.record_usage(key.id, prompt_tokens=12, completion_tokens=30, error=False)

A key's secret is shown once, when it is created, and only its SHA-256 is stored: a copy of the
file does not give away a usable key. The file is in WAL mode, so `subnet gateway keys ...`
may add or revoke keys while the gateway serves; the gateway reads a key's row on every
request, so a revoked key stops working at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "gateway.sqlite"
KEY_PREFIX = "sk-subnet-"
SECRET_BYTES = 32
ID_BYTES = 4
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    secret_sha256 TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    revoked REAL,
    requests_per_minute INTEGER NOT NULL,
    tokens_per_minute INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS usage (
    key_id TEXT PRIMARY KEY REFERENCES keys(id),
    requests INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS miners (
    hotkey TEXT PRIMARY KEY,
    uid INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    generation_seconds REAL NOT NULL DEFAULT 0
);
"""


class StoreError(ValueError):
    """A key command that cannot be done; the message says what to change. Nothing changed."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    created: float
    revoked: float | None
    requests_per_minute: int  # 0: no limit
    tokens_per_minute: int  # 0: no limit

    @property
    def active(self) -> bool:
        return self.revoked is None


@dataclass(frozen=True)
class KeyUsage:
    key: ApiKey
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class MinerUsage:
    hotkey: str
    uid: int
    requests: int
    completion_tokens: int
    generation_seconds: float  # from the first token to the last, summed over requests

    @property
    def tokens_per_second(self) -> float:
        if self.generation_seconds <= 0:
            return 0.0
        return self.completion_tokens / self.generation_seconds


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        row["id"],
        row["name"],
        row["created"],
        row["revoked"],
        row["requests_per_minute"],
        row["tokens_per_minute"],
    )


class GatewayStore:
    """One connection to the gateway's SQLite file; use it from one thread."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.db = connection
        self.path = path

    @classmethod
    def open(cls, folder: Path | str) -> GatewayStore:
        """Open (creating it and its folder if needed) the store in `folder`."""
        folder = Path(folder).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(folder / FILE_NAME, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the gateway's store in {folder} ({exc}): pass a folder you can "
                "write to with --gateway.path"
            ) from None
        return cls(db, folder / FILE_NAME)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- keys ---------------------------------------------------------------------------

    def create_key(
        self, name: str, *, requests_per_minute: int, tokens_per_minute: int
    ) -> tuple[ApiKey, str]:
        """A new key named `name`; returns it and its secret (shown once, never stored)."""
        if not NAME_PATTERN.match(name):
            raise StoreError(
                f"key name {name!r}: use 1 to 64 letters, digits, '_', '-', '.' or '@'"
            )
        for what, value in (
            ("--rpm", requests_per_minute),
            ("--tpm", tokens_per_minute),
        ):
            if value < 0:
                raise StoreError(f"{what} must be 0 (no limit) or more, got {value}")
        secret = KEY_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        key = ApiKey(
            "key_" + secrets.token_hex(ID_BYTES),
            name,
            time.time(),
            None,
            requests_per_minute,
            tokens_per_minute,
        )
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO keys VALUES (?, ?, ?, ?, NULL, ?, ?)",
                    (
                        key.id,
                        key.name,
                        secret_hash(secret),
                        key.created,
                        key.requests_per_minute,
                        key.tokens_per_minute,
                    ),
                )
                db.execute("INSERT INTO usage (key_id) VALUES (?)", (key.id,))
        except sqlite3.IntegrityError:
            raise StoreError(
                f"a key named {name!r} exists already: pick another name, or revoke it first "
                "(names stay taken after revocation, so usage stays attributable)"
            ) from None
        return key, secret

    def keys(self) -> list[ApiKey]:
        rows = self.db.execute("SELECT * FROM keys ORDER BY created").fetchall()
        return [_key(row) for row in rows]

    def find(self, name_or_id: str) -> ApiKey | None:
        row = self.db.execute(
            "SELECT * FROM keys WHERE id = ? OR name = ?", (name_or_id, name_or_id)
        ).fetchone()
        return _key(row) if row is not None else None

    def revoke(self, name_or_id: str) -> ApiKey:
        """Revoke a key by name or id; StoreError when there is none or it is revoked already."""
        key = self.find(name_or_id)
        if key is None:
            raise StoreError(
                f"no key named or with id {name_or_id!r}: `subnet gateway keys list` shows them"
            )
        if not key.active:
            raise StoreError(f"key {key.name} ({key.id}) is revoked already")
        with self._transaction() as db:
            db.execute("UPDATE keys SET revoked = ? WHERE id = ?", (time.time(), key.id))
        return self.find(key.id)  # type: ignore[return-value]

    def authenticate(self, secret: str) -> ApiKey | None:
        """The key whose secret this is, whether active or revoked; None for an unknown one."""
        row = self.db.execute(
            "SELECT * FROM keys WHERE secret_sha256 = ?", (secret_hash(secret),)
        ).fetchone()
        return _key(row) if row is not None else None

    # -- usage --------------------------------------------------------------------------

    def record_usage(
        self, key_id: str, *, prompt_tokens: int = 0, completion_tokens: int = 0, error: bool
    ) -> None:
        self.db.execute(
            "UPDATE usage SET requests = requests + 1, errors = errors + ?, "
            "prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ? "
            "WHERE key_id = ?",
            (int(error), prompt_tokens, completion_tokens, key_id),
        )

    def usage(self) -> list[KeyUsage]:
        rows = self.db.execute(
            "SELECT keys.*, usage.requests, usage.errors, usage.prompt_tokens, "
            "usage.completion_tokens FROM keys JOIN usage ON usage.key_id = keys.id "
            "ORDER BY keys.created"
        ).fetchall()
        return [
            KeyUsage(
                _key(row),
                row["requests"],
                row["errors"],
                row["prompt_tokens"],
                row["completion_tokens"],
            )
            for row in rows
        ]

    def record_miner(
        self, hotkey: str, uid: int, completion_tokens: int, generation_seconds: float
    ) -> None:
        """One answer a miner served: its tokens and the seconds from first to last token."""
        self.db.execute(
            "INSERT INTO miners VALUES (?, ?, 1, ?, ?) ON CONFLICT(hotkey) DO UPDATE SET "
            "uid = excluded.uid, requests = requests + 1, "
            "completion_tokens = completion_tokens + excluded.completion_tokens, "
            "generation_seconds = generation_seconds + excluded.generation_seconds",
            (hotkey, uid, completion_tokens, max(0.0, generation_seconds)),
        )

    def miners(self) -> list[MinerUsage]:
        rows = self.db.execute("SELECT * FROM miners ORDER BY uid").fetchall()
        return [
            MinerUsage(
                row["hotkey"],
                row["uid"],
                row["requests"],
                row["completion_tokens"],
                row["generation_seconds"],
            )
            for row in rows
        ]
