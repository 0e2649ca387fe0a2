"""The ledger: a durable record of every swap and job, and the store behind job handles.

A swap is a paid, long-running job, and a process can die at any point of it.  The ledger keeps
what is needed never to pay twice and never to lose a paid job: the job's state, its
idempotency key, the provider and vendor job id once the vendor accepted it, every attempt
(charged or not, what it cost, how it ended), the result's metadata, and the absolute deadline.
It keeps **facts, not faces**: digests of the input images (keyed with a per-install secret,
so that a digest cannot confirm that a given photo was swapped), never the images, and never
an API key or a webhook secret.

Two stores share one small interface, `JobStore`:

* `MemoryJobStore`: the default, in this process only (idempotency keys still hold within it);
* `SqliteLedger`: one SQLite file in WAL mode with a busy timeout, so several processes on a
  host share it; every write is one short transaction; migrations are ordered functions applied
  in transactions (the schema version is SQLite's ``user_version``).  It is also a
  `BreakerStore`, so the circuit breakers of every process on the host agree.

The verbs are atomic where two processes may race: `JobStore.claim` inserts a job unless its
idempotency key is taken (and then returns the job that holds it), `JobStore.take_over` moves a
job to a new owner only if the old one is the one the caller saw.  Times are wall-clock epoch
seconds.  Job states:

``queued`` (recorded, nothing sent) → ``submitting`` (the paid request is about to be sent) →
``running`` (the vendor accepted; its job id is known) → ``succeeded`` or ``failed``; and
``unknown`` (a submit that may have been accepted, whose answer was lost).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from swapkit.core.breaker import BreakerState
from swapkit.core.errors import LedgerUnavailable

T = TypeVar("T")

__all__ = [
    "CacheEntry",
    "JobRecord",
    "JobState",
    "JobStore",
    "LedgerBreakers",
    "MemoryJobStore",
    "SqliteLedger",
    "owner_alive",
    "owner_id",
]

JobState = Literal["queued", "submitting", "running", "succeeded", "failed", "unknown"]
#: States a job does not leave.
FINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "unknown"})


def owner_id() -> str:
    """This process, as ``host:pid`` (worked out once, and again in a forked child)."""
    if not _owner:
        _owner.append(f"{socket.gethostname()}:{os.getpid()}")
    return _owner[0]


_owner: list[str] = []
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_owner.clear)


def owner_alive(owner: str | None) -> bool:
    """Whether the process `owner` names may still be running (unknowable on another host:
    then it is taken to be, until the job's deadline)."""
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, and belongs to someone else
        return True
    return True


@dataclasses.dataclass
class JobRecord:
    """One swap or job, as the ledger keeps it (JSON-friendly values only)."""

    id: str
    state: JobState
    request_key: str
    created_at: float
    updated_at: float
    deadline_at: float
    idempotency_key: str | None = None
    owner: str | None = None
    provider: str | None = None
    vendor_job_id: str | None = None
    model: str | None = None
    #: The neutral request: input digests and the fields that shape the output (no images).
    request: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Every attempt: provider, model, vendor job id, charged, cost, timings, error.
    attempts: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    spent_usd: float | None = 0.0
    #: The result's metadata (media type, size, vendor URL and its expiry, timings, cost).
    result: dict[str, Any] | None = None
    #: The error the job ended with: class name, message, provider, code, status.
    error: dict[str, Any] | None = None

    @property
    def final(self) -> bool:
        """Whether the job has ended (succeeded, failed or unknown)."""
        return self.state in FINAL_STATES

    def copy(self, **changes: Any) -> JobRecord:
        """A shallow copy with `changes` (field names), like `dataclasses.replace` but without
        running ``__init__`` again: a swap copies its record a dozen times."""
        copied = object.__new__(JobRecord)
        if not changes:
            copied.__dict__ = self.__dict__.copy()
            return copied
        if not _RECORD_FIELDS.issuperset(changes):
            unknown = ", ".join(sorted(changes.keys() - _RECORD_FIELDS))
            raise TypeError(f"JobRecord has no field {unknown}")
        copied.__dict__ = {**self.__dict__, **changes}
        return copied


_RECORD_FIELDS = frozenset(field.name for field in dataclasses.fields(JobRecord))


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """A stored result for the request key it was made for."""

    request_key: str
    path: str
    media_type: str
    created_at: float
    metadata: dict[str, Any]


class JobStore(Protocol):
    """Where job records live (see the module docstring for the verbs' guarantees)."""

    def secret(self) -> bytes:
        """The per-install secret that keys request digests."""
        ...

    def claim(self, record: JobRecord) -> JobRecord:
        """Store `record`, or return the job that already holds its idempotency key."""
        ...

    def save(self, record: JobRecord) -> None:
        """Write `record` (by id)."""
        ...

    def get(self, job_id: str) -> JobRecord | None:
        """The job with `job_id`, if any."""
        ...

    def take_over(self, job_id: str, seen_owner: str | None, owner: str) -> bool:
        """Make `owner` the job's owner if its owner is still `seen_owner`; whether it did."""
        ...

    def lease(self, job_id: str, owner: str, seconds: float) -> bool:
        """Hold the job for `owner` for `seconds`: take the lease when it is free or expired,
        renew it when `owner` holds it; whether `owner` holds it now."""
        ...

    def release_lease(self, job_id: str, owner: str) -> None:
        """Give the lease up, if `owner` holds it."""
        ...

    def lease_holder(self, job_id: str) -> str | None:
        """Who holds the job's lease now (None when it is free or expired)."""
        ...

    def list(self, state: str | None = None, limit: int = 50) -> list[JobRecord]:
        """The most recently updated jobs, optionally in one state."""
        ...

    def purge(self, older_than: float) -> int:
        """Forget finished jobs last updated before `older_than` (epoch); how many."""
        ...

    def claim_delivery(self, delivery_id: str, job_id: str) -> bool:
        """Record a webhook delivery once; False when it was received before."""
        ...

    def cache_get(self, request_key: str) -> CacheEntry | None:
        """The cached result for `request_key`, if any."""
        ...

    def cache_put(self, entry: CacheEntry) -> None:
        """Remember a cached result."""
        ...

    @property
    def folder(self) -> Path | None:
        """Where cached result files go (None: nowhere durable)."""
        ...


_COLUMNS = (
    "id",
    "state",
    "request_key",
    "created_at",
    "updated_at",
    "deadline_at",
    "idempotency_key",
    "owner",
    "provider",
    "vendor_job_id",
    "model",
    "request",
    "attempts",
    "spent_usd",
    "result",
    "error",
)
_JSON = {"request", "attempts", "result", "error"}


def _row(record: JobRecord) -> tuple[Any, ...]:
    values = dataclasses.asdict(record)
    return tuple(json.dumps(values[name]) if name in _JSON else values[name] for name in _COLUMNS)


def _record(row: Sequence[Any]) -> JobRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    for name in _JSON:
        values[name] = json.loads(values[name]) if values[name] is not None else None
    values["attempts"] = values["attempts"] or []
    values["request"] = values["request"] or {}
    return JobRecord(**values)


class MemoryJobStore:
    """Job records in this process (the default without a ledger).

    It keeps at most `max_jobs` records: past that, the finished jobs saved longest ago are
    forgotten (as are webhook deliveries past `max_jobs`), so a long-running process does not
    grow without bound.  Records are kept in the order they were last saved, so forgetting
    costs nothing per save however many jobs there are.
    """

    def __init__(self, max_jobs: int = 10_000) -> None:
        self.max_jobs = max_jobs
        self._jobs: dict[str, JobRecord] = {}
        self._cache: dict[str, CacheEntry] = {}
        self._deliveries: dict[str, None] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path | None:
        return None

    def secret(self) -> bytes:
        return self._secret

    def claim(self, record: JobRecord) -> JobRecord:
        with self._lock:
            if record.idempotency_key is not None:
                for existing in self._jobs.values():
                    if existing.idempotency_key == record.idempotency_key:
                        return existing.copy()
            self._keep(record)
            return record.copy()

    def save(self, record: JobRecord) -> None:
        with self._lock:
            self._keep(record)

    def _keep(self, record: JobRecord) -> None:
        """Store a copy of `record` as the most recently saved; forget the oldest finished
        jobs past `max_jobs` (a job still running is never forgotten)."""
        self._jobs.pop(record.id, None)
        self._jobs[record.id] = record.copy()
        excess = len(self._jobs) - self.max_jobs
        if excess <= 0:
            return
        finished = []
        for job in self._jobs.values():  # oldest first: usually `excess` steps in all
            if job.final:
                finished.append(job.id)
                if len(finished) == excess:
                    break
        for job_id in finished:
            del self._jobs[job_id]

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            found = self._jobs.get(job_id)
            return found.copy() if found else None

    def take_over(self, job_id: str, seen_owner: str | None, owner: str) -> bool:
        with self._lock:
            found = self._jobs.get(job_id)
            if found is None or found.owner != seen_owner:
                return False
            found.owner = owner
            return True

    def lease(self, job_id: str, owner: str, seconds: float) -> bool:
        with self._lock:
            now = time.time()
            holder, until = self._leases.get(job_id, (None, 0.0))
            if holder not in (None, owner) and until > now:
                return False
            self._leases[job_id] = (owner, now + seconds)
            return True

    def release_lease(self, job_id: str, owner: str) -> None:
        with self._lock:
            if self._leases.get(job_id, (None, 0.0))[0] == owner:
                del self._leases[job_id]

    def lease_holder(self, job_id: str) -> str | None:
        with self._lock:
            holder, until = self._leases.get(job_id, (None, 0.0))
            return holder if until > time.time() else None

    def list(self, state: str | None = None, limit: int = 50) -> list[JobRecord]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if state is None or j.state == state]
        jobs.sort(key=lambda job: job.updated_at, reverse=True)
        return [job.copy() for job in jobs[:limit]]

    def purge(self, older_than: float) -> int:
        with self._lock:
            old = [k for k, j in self._jobs.items() if j.final and j.updated_at < older_than]
            for key in old:
                del self._jobs[key]
            return len(old)

    def claim_delivery(self, delivery_id: str, job_id: str) -> bool:
        with self._lock:
            if delivery_id in self._deliveries:
                return False
            self._deliveries[delivery_id] = None
            if len(self._deliveries) > self.max_jobs:
                del self._deliveries[next(iter(self._deliveries))]
            return True

    def cache_get(self, request_key: str) -> CacheEntry | None:
        with self._lock:
            return self._cache.get(request_key)

    def cache_put(self, entry: CacheEntry) -> None:
        with self._lock:
            self._cache[entry.request_key] = entry


def _v1(connection: sqlite3.Connection) -> None:
    connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    connection.execute(
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            request_key TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            deadline_at REAL NOT NULL,
            idempotency_key TEXT UNIQUE,
            owner TEXT,
            provider TEXT,
            vendor_job_id TEXT,
            model TEXT,
            request TEXT,
            attempts TEXT,
            spent_usd REAL,
            result TEXT,
            error TEXT
        )"""
    )
    connection.execute("CREATE INDEX jobs_state ON jobs (state, updated_at)")
    connection.execute(
        """CREATE TABLE cache (
            request_key TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            media_type TEXT NOT NULL,
            created_at REAL NOT NULL,
            metadata TEXT NOT NULL
        )"""
    )
    connection.execute("CREATE TABLE breakers (provider TEXT PRIMARY KEY, state TEXT NOT NULL)")


def _v2(connection: sqlite3.Connection) -> None:
    connection.execute(
        """CREATE TABLE deliveries (
            id TEXT PRIMARY KEY,
            job_id TEXT NOT NULL,
            received_at REAL NOT NULL
        )"""
    )


def _v3(connection: sqlite3.Connection) -> None:
    connection.execute(
        """CREATE TABLE leases (
            job_id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            until REAL NOT NULL
        )"""
    )


#: The schema, as ordered steps: step N brings a file at version N - 1 to version N.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2, _v3)


def _sqlite_errors(method: Callable[..., T]) -> Callable[..., T]:
    """SQLite's errors (a full disk, a file locked past the busy timeout, a closed ledger) as
    `LedgerUnavailable`, never a bare exception."""

    @functools.wraps(method)
    def call(self: SqliteLedger, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise LedgerUnavailable(
                f"the ledger {str(self.path)!r} could not be read or written "
                f"({type(exc).__name__}: {str(exc)[:200]}); check the disk and the file's "
                "permissions (a closed client's ledger is closed too)"
            ) from None

    return call


class SqliteLedger:
    """The ledger in one SQLite file, shared safely by the processes of one host."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 10.0) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._connection = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._wal(busy_timeout)
        self._connection.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    def _wal(self, patience: float) -> None:
        """Switch the file to WAL.  Two processes opening a new file at once race for it, and
        SQLite answers the loser "locked" at once, without its busy handler: try again."""
        give_up = time.monotonic() + patience
        while True:
            try:
                self._connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > give_up:
                    raise
                time.sleep(0.01)

    def __repr__(self) -> str:
        return f"<SqliteLedger {str(self.path)!r}>"

    @property
    def folder(self) -> Path | None:
        return self.path.parent / f"{self.path.stem}-cache"

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def _migrate(self) -> None:
        with self._transaction() as connection:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                step(connection)
                connection.execute(f"PRAGMA user_version = {number}")
            found = connection.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
            if found is None:
                connection.execute(
                    "INSERT INTO meta VALUES ('secret', ?)", (secrets.token_hex(32),)
                )

    def close(self) -> None:
        """Close the file (the ledger is unusable afterwards)."""
        with self._lock:
            self._connection.close()

    # -- jobs ---------------------------------------------------------------------------------

    @_sqlite_errors
    def secret(self) -> bytes:
        with self._lock:
            row = self._connection.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        return bytes.fromhex(row[0])

    @_sqlite_errors
    def claim(self, record: JobRecord) -> JobRecord:
        marks = ", ".join("?" for _ in _COLUMNS)
        with self._transaction() as connection:
            inserted = connection.execute(
                f"INSERT OR IGNORE INTO jobs ({', '.join(_COLUMNS)}) VALUES ({marks})",
                _row(record),
            ).rowcount
            if inserted:
                return record.copy()
            row = connection.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE idempotency_key = ?",
                (record.idempotency_key,),
            ).fetchone()
        return _record(row)

    @_sqlite_errors
    def save(self, record: JobRecord) -> None:
        marks = ", ".join("?" for _ in _COLUMNS)
        with self._transaction() as connection:
            connection.execute(
                f"INSERT OR REPLACE INTO jobs ({', '.join(_COLUMNS)}) VALUES ({marks})",
                _row(record),
            )

    @_sqlite_errors
    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._connection.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return _record(row) if row else None

    @_sqlite_errors
    def take_over(self, job_id: str, seen_owner: str | None, owner: str) -> bool:
        with self._transaction() as connection:
            changed = connection.execute(
                "UPDATE jobs SET owner = ?, updated_at = ? WHERE id = ? AND owner IS ?",
                (owner, time.time(), job_id, seen_owner),
            ).rowcount
        return bool(changed)

    @_sqlite_errors
    def lease(self, job_id: str, owner: str, seconds: float) -> bool:
        now = time.time()
        with self._transaction() as connection:
            taken = connection.execute(
                """INSERT INTO leases VALUES (?, ?, ?)
                ON CONFLICT (job_id) DO UPDATE SET owner = excluded.owner, until = excluded.until
                WHERE leases.owner = excluded.owner OR leases.until <= ?""",
                (job_id, owner, now + seconds, now),
            ).rowcount
        return bool(taken)

    @_sqlite_errors
    def release_lease(self, job_id: str, owner: str) -> None:
        with self._transaction() as connection:
            connection.execute("DELETE FROM leases WHERE job_id = ? AND owner = ?", (job_id, owner))

    @_sqlite_errors
    def lease_holder(self, job_id: str) -> str | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT owner FROM leases WHERE job_id = ? AND until > ?", (job_id, time.time())
            ).fetchone()
        return str(row[0]) if row else None

    @_sqlite_errors
    def list(self, state: str | None = None, limit: int = 50) -> list[JobRecord]:
        query = f"SELECT {', '.join(_COLUMNS)} FROM jobs"
        arguments: tuple[Any, ...] = ()
        if state is not None:
            query += " WHERE state = ?"
            arguments = (state,)
        query += " ORDER BY updated_at DESC LIMIT ?"
        with self._lock:
            rows = self._connection.execute(query, (*arguments, limit)).fetchall()
        return [_record(row) for row in rows]

    @_sqlite_errors
    def purge(self, older_than: float) -> int:
        finals = tuple(sorted(FINAL_STATES))
        with self._transaction() as connection:
            return connection.execute(
                "DELETE FROM jobs WHERE updated_at < ? AND state IN (?, ?, ?)",
                (older_than, *finals),
            ).rowcount

    @_sqlite_errors
    def claim_delivery(self, delivery_id: str, job_id: str) -> bool:
        with self._transaction() as connection:
            inserted = connection.execute(
                "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?)",
                (delivery_id, job_id, time.time()),
            ).rowcount
        return bool(inserted)

    # -- the result cache -----------------------------------------------------------------------

    @_sqlite_errors
    def cache_get(self, request_key: str) -> CacheEntry | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT request_key, path, media_type, created_at, metadata FROM cache "
                "WHERE request_key = ?",
                (request_key,),
            ).fetchone()
        if row is None:
            return None
        return CacheEntry(row[0], row[1], row[2], row[3], json.loads(row[4]))

    @_sqlite_errors
    def cache_put(self, entry: CacheEntry) -> None:
        with self._transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO cache VALUES (?, ?, ?, ?, ?)",
                (
                    entry.request_key,
                    entry.path,
                    entry.media_type,
                    entry.created_at,
                    json.dumps(entry.metadata),
                ),
            )

    # -- circuit breakers (a BreakerStore) -----------------------------------------------------

    @property
    def breakers(self) -> LedgerBreakers:
        """The ledger as a `BreakerStore`, for `CircuitBreaker(store=...)`."""
        return LedgerBreakers(self)

    @_sqlite_errors
    def get_breaker(self, provider: str) -> BreakerState:
        with self._lock:
            row = self._connection.execute(
                "SELECT state FROM breakers WHERE provider = ?", (provider,)
            ).fetchone()
        return BreakerState(**json.loads(row[0])) if row else BreakerState()

    @_sqlite_errors
    def update_breaker(
        self, provider: str, fn: Callable[[BreakerState], BreakerState]
    ) -> tuple[BreakerState, BreakerState]:
        """Replace the provider's breaker state by ``fn(state)`` in one transaction."""
        with self._transaction() as connection:
            row = connection.execute(
                "SELECT state FROM breakers WHERE provider = ?", (provider,)
            ).fetchone()
            old = BreakerState(**json.loads(row[0])) if row else BreakerState()
            new = fn(old)
            if new != old:
                connection.execute(
                    "INSERT OR REPLACE INTO breakers VALUES (?, ?)",
                    (provider, json.dumps(dataclasses.asdict(new))),
                )
        return old, new


class LedgerBreakers:
    """A `BreakerStore` kept in a `SqliteLedger`, so every process on the host shares it.

    Each change is one ``BEGIN IMMEDIATE`` transaction.  Give the breaker a wall clock
    (``time.time``): its times are compared across processes."""

    def __init__(self, ledger: SqliteLedger) -> None:
        self._ledger = ledger

    def get(self, provider: str) -> BreakerState:
        return self._ledger.get_breaker(provider)

    def update(
        self, provider: str, fn: Callable[[BreakerState], BreakerState]
    ) -> tuple[BreakerState, BreakerState]:
        return self._ledger.update_breaker(provider, fn)
