"""`SqliteStateStore`: the shared state of `swapkit.core.state` in a SQLite file (one host).

Its own tables (``state_*``), so the file may be a ledger's or any other; WAL mode with a busy
timeout, and every verb one ``BEGIN IMMEDIATE`` transaction, so the verbs of any number of
processes are serialised by SQLite's write lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from swapkit.core.state import UPDATE_ATTEMPTS, _encode, _limit, _positive

__all__ = ["SqliteStateStore"]


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS state_claims (
        key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL)""",
    """CREATE TABLE IF NOT EXISTS state_values (
        key TEXT PRIMARY KEY, version INTEGER NOT NULL, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS state_permits (
        key TEXT NOT NULL, token TEXT NOT NULL, expires_at REAL NOT NULL,
        PRIMARY KEY (key, token))""",
    """CREATE TABLE IF NOT EXISTS state_rates (
        key TEXT NOT NULL, token TEXT NOT NULL, granted_at REAL NOT NULL,
        PRIMARY KEY (key, token))""",
    """CREATE TABLE IF NOT EXISTS state_leases (
        key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)""",
)


class SqliteStateStore:
    """State in a SQLite file, shared by the processes of one host.

    WAL mode with a busy timeout; every verb is one ``BEGIN IMMEDIATE`` transaction, so verbs
    from any number of processes are serialised by SQLite's write lock, and `update` runs its
    function once, inside the transaction.  The tables are its own (``state_*``): the file may
    be a ledger's, or any other.  A store used after ``fork()`` opens its own connection.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        namespace: str = "swapkit",
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 10.0,
    ) -> None:
        self.path = Path(path).expanduser()
        self._namespace = namespace
        self.clock = clock
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._pid = -1
        self._connection: sqlite3.Connection | None = None
        self._writes = 0
        with self._transaction() as connection:
            for statement in _SCHEMA:
                connection.execute(statement)

    def __repr__(self) -> str:
        return f"<SqliteStateStore {str(self.path)!r} namespace={self._namespace!r}>"

    @property
    def namespace(self) -> str:
        return self._namespace

    def now(self) -> float:
        return self.clock()

    def close(self) -> None:
        """Close the connection (a later verb opens a new one)."""
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        give_up = time.monotonic() + self.busy_timeout
        while True:  # two processes opening a new file race for WAL; the loser hears "locked"
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > give_up:
                    connection.close()
                    raise
                time.sleep(0.01)
        connection.execute("PRAGMA synchronous = NORMAL")
        self._connection, self._pid = connection, os.getpid()
        return connection

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _key(self, key: str) -> str:
        return f"{self._namespace}:{key}"

    def _sweep(self, connection: sqlite3.Connection, now: float) -> None:
        """Now and then, delete what expired under keys nobody asked about again."""
        self._writes += 1
        if self._writes % 1024:
            return
        connection.execute("DELETE FROM state_claims WHERE expires_at <= ?", (now,))
        connection.execute("DELETE FROM state_leases WHERE expires_at <= ?", (now,))
        connection.execute("DELETE FROM state_permits WHERE expires_at <= ?", (now,))

    def claim(self, key: str, owner: str, ttl_seconds: float | None = None) -> bool:
        if ttl_seconds is not None:
            _positive("ttl_seconds", ttl_seconds)
        name = self._key(key)
        with self._transaction() as connection:
            now = self.clock()
            connection.execute(
                "DELETE FROM state_claims WHERE key = ? AND expires_at <= ?", (name, now)
            )
            expires_at = None if ttl_seconds is None else now + ttl_seconds
            won = connection.execute(
                "INSERT OR IGNORE INTO state_claims VALUES (?, ?, ?)", (name, owner, expires_at)
            ).rowcount
            self._sweep(connection, now)
        return won == 1

    def read(self, key: str) -> tuple[Any | None, int]:
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT value, version FROM state_values WHERE key = ?", (self._key(key),))
                .fetchone()
            )
        return (None, 0) if row is None else (json.loads(row[0]), int(row[1]))

    def compare_and_set(self, key: str, version: int, value: Any) -> bool:
        encoded = _encode(value)
        name = self._key(key)
        with self._transaction() as connection:
            if version == 0:
                written = connection.execute(
                    "INSERT OR IGNORE INTO state_values VALUES (?, 1, ?)", (name, encoded)
                ).rowcount
            else:
                written = connection.execute(
                    "UPDATE state_values SET version = ?, value = ? WHERE key = ? AND version = ?",
                    (version + 1, encoded, name, version),
                ).rowcount
        return written == 1

    def update(
        self, key: str, fn: Callable[[Any | None], Any], attempts: int = UPDATE_ATTEMPTS
    ) -> tuple[Any | None, Any]:
        """In one transaction: `fn` runs once."""
        name = self._key(key)
        with self._transaction() as connection:
            row = connection.execute(
                "SELECT value, version FROM state_values WHERE key = ?", (name,)
            ).fetchone()
            old = None if row is None else json.loads(row[0])
            new = fn(old)
            encoded = _encode(new)
            if row is None or encoded != row[0]:
                connection.execute(
                    "INSERT OR REPLACE INTO state_values VALUES (?, ?, ?)",
                    (name, 1 if row is None else int(row[1]) + 1, encoded),
                )
        return old, new

    def acquire_permit(self, key: str, limit: int, lease_seconds: float) -> str | None:
        _limit(limit)
        _positive("lease_seconds", lease_seconds)
        name = self._key(key)
        with self._transaction() as connection:
            now = self.clock()
            connection.execute(
                "DELETE FROM state_permits WHERE key = ? AND expires_at <= ?", (name, now)
            )
            (held,) = connection.execute(
                "SELECT COUNT(*) FROM state_permits WHERE key = ?", (name,)
            ).fetchone()
            if held >= limit:
                return None
            token = uuid.uuid4().hex
            connection.execute(
                "INSERT INTO state_permits VALUES (?, ?, ?)", (name, token, now + lease_seconds)
            )
        return token

    def release_permit(self, key: str, token: str) -> None:
        with self._transaction() as connection:
            connection.execute(
                "DELETE FROM state_permits WHERE key = ? AND token = ?", (self._key(key), token)
            )

    def take_rate(self, key: str, limit: int, window_seconds: float) -> float:
        _limit(limit)
        _positive("window_seconds", window_seconds)
        name = self._key(key)
        with self._transaction() as connection:
            now = self.clock()
            connection.execute(
                "DELETE FROM state_rates WHERE key = ? AND granted_at <= ?",
                (name, now - window_seconds),
            )
            count, oldest = connection.execute(
                "SELECT COUNT(*), MIN(granted_at) FROM state_rates WHERE key = ?", (name,)
            ).fetchone()
            if count < limit:
                connection.execute(
                    "INSERT INTO state_rates VALUES (?, ?, ?)", (name, uuid.uuid4().hex, now)
                )
                return 0.0
        return max(0.0, float(oldest) + window_seconds - now)

    def lease(self, key: str, owner: str, seconds: float) -> bool:
        _positive("seconds", seconds)
        name = self._key(key)
        with self._transaction() as connection:
            now = self.clock()
            written = connection.execute(
                """INSERT INTO state_leases VALUES (?, ?, ?)
                   ON CONFLICT (key) DO UPDATE SET owner = excluded.owner,
                       expires_at = excluded.expires_at
                   WHERE state_leases.owner = excluded.owner OR state_leases.expires_at <= ?""",
                (name, owner, now + seconds, now),
            ).rowcount
            self._sweep(connection, now)
        return written == 1

    def release_lease(self, key: str, owner: str) -> None:
        with self._transaction() as connection:
            connection.execute(
                "DELETE FROM state_leases WHERE key = ? AND owner = ?", (self._key(key), owner)
            )
