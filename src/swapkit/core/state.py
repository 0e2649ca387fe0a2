"""Shared state with atomic verbs: what several processes (or hosts) must agree on.

A breaker read in one process and written back in another loses an update; a "was this webhook
delivery seen?" check followed by a write lets two workers both handle it.  So the store has no
get/put: each verb is one atomic step on the server side, and returns what the caller needs to
know about its own step.

* `StateStore.claim`: the first caller of a key wins (``SET NX`` / ``INSERT OR IGNORE``); a
  claim with a ttl expires and may then be claimed again.  Idempotency keys, webhook deliveries.
* `StateStore.read` / `StateStore.compare_and_set`: a JSON value with a version; a write
  succeeds only if the version is still the one read.  `StateStore.update` runs a pure function
  over the value until its write wins, and returns (old, new): breaker transitions, counters.
* `StateStore.acquire_permit` / `release_permit`: at most `limit` holders at once, each with a
  lease, so a holder that died frees its permit when the lease runs out.
* `StateStore.take_rate`: at most `limit` grants in any `window_seconds` (a **sliding window**:
  each grant's time is kept for one window); when none is left, how long until one is.
* `StateStore.lease` / `release_lease`: one owner at a time, renewable by that owner; a job's
  worker.

Times are wall-clock UTC epoch seconds from the store's `clock` (``time.time`` unless one is
injected), because they must mean the same in every process.  Expiry is always decided by
comparing stored absolute times with the clock's ``now``, never by the server's own timers,
which only collect garbage; so a fake clock in a test expires things exactly as it says.
Keys are strings in the store's `namespace` (``"swapkit"`` by default): two deployments that
share a server keep apart by giving different namespaces.

Backends: `MemoryStateStore` (one process), `SqliteStateStore` (one host: a file, each verb one
``BEGIN IMMEDIATE`` transaction) and `swapkit.core.redis_state.RedisStateStore` (a fleet: each
verb one Lua script).  `ResilientStateStore` puts one of them in front of a local fallback: an
outage of the shared store degrades to local state for as long as it lasts, is logged once,
and never fails the caller.  `open_state_store` builds one from a URL (``state=`` on the
clients, ``SWAPKIT_STATE``).
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from swapkit.core.errors import ConfigurationError

__all__ = [
    "MemoryStateStore",
    "ResilientStateStore",
    "StateStore",
    "open_state_store",
]

T = TypeVar("T")

#: How many times `update` tries its compare-and-set before giving up (where it is a loop).
UPDATE_ATTEMPTS = 100

_log = logging.getLogger("swapkit")


class StateStore(Protocol):
    """Shared state with atomic verbs (see the module docstring).  Keys are namespaced by the
    store; times are wall-clock epoch seconds from its clock; values are JSON."""

    @property
    def namespace(self) -> str:
        """The prefix that keeps this store's keys apart from others on the same server."""
        ...

    def now(self) -> float:
        """The store's time: wall-clock UTC epoch seconds."""
        ...

    def claim(self, key: str, owner: str, ttl_seconds: float | None = None) -> bool:
        """Take `key` for `owner` if nobody holds it (or the holder's ttl ran out): True for
        the one caller that took it, False for every other."""
        ...

    def read(self, key: str) -> tuple[Any | None, int]:
        """The value at `key` and its version; ``(None, 0)`` when there is none."""
        ...

    def compare_and_set(self, key: str, version: int, value: Any) -> bool:
        """Write `value` only if `key` is still at `version` (0: absent); its version becomes
        ``version + 1``.  False, and nothing written, when another write came first."""
        ...

    def update(
        self, key: str, fn: Callable[[Any | None], Any], attempts: int = UPDATE_ATTEMPTS
    ) -> tuple[Any | None, Any]:
        """Replace the value at `key` by ``fn(value)`` atomically; ``(old, new)``.

        `fn` must be pure: it may be called more than once, with newer values, until a write
        wins.  When it returns a value equal to the old one, nothing is written."""
        ...

    def acquire_permit(self, key: str, limit: int, lease_seconds: float) -> str | None:
        """A permit among at most `limit` live ones at `key`, held for `lease_seconds`: its
        token, or None when `limit` unexpired permits are held."""
        ...

    def release_permit(self, key: str, token: str) -> None:
        """Give the permit `token` back (nothing when it expired or was released)."""
        ...

    def take_rate(self, key: str, limit: int, window_seconds: float) -> float:
        """One of at most `limit` grants in any sliding `window_seconds`: 0.0 when granted now,
        else the seconds until one may be (nothing is taken then)."""
        ...

    def lease(self, key: str, owner: str, seconds: float) -> bool:
        """Hold `key` for `owner` for `seconds` from now: taken when free or expired, renewed
        when `owner` holds it; False when another owner's lease is live."""
        ...

    def release_lease(self, key: str, owner: str) -> None:
        """End `owner`'s lease on `key` (nothing when someone else holds it)."""
        ...


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be above 0, not {value!r}")


def _limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a whole number of at least 1, not {limit!r}")


def _encode(value: Any) -> str:
    """A value as stored: canonical JSON, so equal values compare equal as text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def cas_update(
    store: StateStore, key: str, fn: Callable[[Any | None], Any], attempts: int
) -> tuple[Any | None, Any]:
    """`StateStore.update` as a loop of `read` and `compare_and_set`, for stores without a
    transaction that can run Python; waits a short random while between lost rounds."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts!r}")
    for round_ in range(attempts):
        old, version = store.read(key)
        new = fn(old)
        if version and _encode(new) == _encode(old):
            return old, new
        if store.compare_and_set(key, version, new):
            return old, new
        time.sleep(random.uniform(0, min(0.05, 0.001 * (round_ + 1))))
    # An OSError, so that a ResilientStateStore treats a hopelessly contended store like an
    # unavailable one: the caller goes on with local state rather than failing.
    raise TimeoutError(f"state key {key!r}: every one of {attempts} compare-and-set tries lost")


class MemoryStateStore:
    """State in this process, behind one lock (the default, and the fallback of
    `ResilientStateStore`)."""

    def __init__(self, *, namespace: str = "swapkit", clock: Callable[[], float] = time.time):
        self._namespace = namespace
        self.clock = clock
        self._lock = threading.Lock()
        self._claims: dict[str, tuple[str, float | None]] = {}
        self._values: dict[str, tuple[str, int]] = {}
        self._permits: dict[str, dict[str, float]] = {}
        self._rates: dict[str, list[float]] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._writes = 0

    def __repr__(self) -> str:
        return f"<MemoryStateStore namespace={self._namespace!r}>"

    @property
    def namespace(self) -> str:
        return self._namespace

    def now(self) -> float:
        return self.clock()

    def _key(self, key: str) -> str:
        return f"{self._namespace}:{key}"

    def _sweep(self, now: float) -> None:
        """Drop expired claims and leases now and then, so that keys nobody asks about again
        (idempotency keys, deliveries) do not pile up."""
        self._writes += 1
        if self._writes % 1024:
            return
        for name, (_, expires_at) in list(self._claims.items()):
            if expires_at is not None and expires_at <= now:
                del self._claims[name]
        for name, (_, until) in list(self._leases.items()):
            if until <= now:
                del self._leases[name]

    def claim(self, key: str, owner: str, ttl_seconds: float | None = None) -> bool:
        if ttl_seconds is not None:
            _positive("ttl_seconds", ttl_seconds)
        name = self._key(key)
        with self._lock:
            now = self.clock()
            held = self._claims.get(name)
            if held is not None and (held[1] is None or held[1] > now):
                return False
            self._claims[name] = (owner, None if ttl_seconds is None else now + ttl_seconds)
            self._sweep(now)
            return True

    def read(self, key: str) -> tuple[Any | None, int]:
        with self._lock:
            stored = self._values.get(self._key(key))
        return (None, 0) if stored is None else (json.loads(stored[0]), stored[1])

    def compare_and_set(self, key: str, version: int, value: Any) -> bool:
        encoded = _encode(value)
        name = self._key(key)
        with self._lock:
            current = self._values.get(name, ("", 0))[1]
            if current != version:
                return False
            self._values[name] = (encoded, version + 1)
            return True

    def update(
        self, key: str, fn: Callable[[Any | None], Any], attempts: int = UPDATE_ATTEMPTS
    ) -> tuple[Any | None, Any]:
        """Under the store's lock: `fn` runs once."""
        name = self._key(key)
        with self._lock:
            stored = self._values.get(name)
            old = None if stored is None else json.loads(stored[0])
            new = fn(old)
            encoded = _encode(new)
            if stored is None or encoded != stored[0]:
                self._values[name] = (encoded, 1 if stored is None else stored[1] + 1)
            return old, new

    def acquire_permit(self, key: str, limit: int, lease_seconds: float) -> str | None:
        _limit(limit)
        _positive("lease_seconds", lease_seconds)
        name = self._key(key)
        with self._lock:
            now = self.clock()
            held = {t: until for t, until in self._permits.get(name, {}).items() if until > now}
            if len(held) >= limit:
                self._permits[name] = held
                return None
            token = uuid.uuid4().hex
            held[token] = now + lease_seconds
            self._permits[name] = held
            return token

    def release_permit(self, key: str, token: str) -> None:
        with self._lock:
            self._permits.get(self._key(key), {}).pop(token, None)

    def take_rate(self, key: str, limit: int, window_seconds: float) -> float:
        _limit(limit)
        _positive("window_seconds", window_seconds)
        name = self._key(key)
        with self._lock:
            now = self.clock()
            grants = [at for at in self._rates.get(name, []) if at > now - window_seconds]
            self._rates[name] = grants
            if len(grants) < limit:
                grants.append(now)
                return 0.0
            return max(0.0, min(grants) + window_seconds - now)

    def lease(self, key: str, owner: str, seconds: float) -> bool:
        _positive("seconds", seconds)
        name = self._key(key)
        with self._lock:
            now = self.clock()
            held = self._leases.get(name)
            if held is not None and held[0] != owner and held[1] > now:
                return False
            self._leases[name] = (owner, now + seconds)
            self._sweep(now)
            return True

    def release_lease(self, key: str, owner: str) -> None:
        name = self._key(key)
        with self._lock:
            held = self._leases.get(name)
            if held is not None and held[0] == owner:
                del self._leases[name]


class _CallerError(Exception):
    """An exception of the caller's own `update` function, carried through the store so that
    it is not mistaken for the store failing."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class ResilientStateStore:
    """A shared store in front of a local one: a store that fails degrades, it never fails
    the caller.

    Each verb goes to `primary`; when it fails to answer (its ``outage_errors``, and any
    `OSError` or `sqlite3.Error`), that verb is answered by `fallback` (a `MemoryStateStore` on
    the primary's clock and namespace unless one is given), a WARNING is logged on the
    ``swapkit`` logger once per outage, and `degraded` is True until a call to the primary
    succeeds again.  While degraded, the primary is tried again at most every
    `recheck_seconds`, so that an unreachable server does not cost a connect timeout on every
    verb.  State written during an outage stays local: a breaker opened then is open in this
    process only, and a claim won then may be won again elsewhere.
    """

    def __init__(
        self,
        primary: StateStore,
        fallback: StateStore | None = None,
        *,
        recheck_seconds: float = 1.0,
    ) -> None:
        self.primary = primary
        local_clock = getattr(primary, "clock", time.time)  # its own clock: no I/O
        self.fallback = fallback or MemoryStateStore(namespace=primary.namespace, clock=local_clock)
        self.recheck_seconds = recheck_seconds
        self._errors: tuple[type[BaseException], ...] = (
            OSError,
            sqlite3.Error,
            *getattr(primary, "outage_errors", ()),
        )
        self._lock = threading.Lock()
        self._degraded = False
        self._recheck_at = 0.0

    def __repr__(self) -> str:
        state = "degraded" if self._degraded else "ok"
        return f"<ResilientStateStore {self.primary!r} ({state})>"

    @property
    def degraded(self) -> bool:
        """True while the primary store is failing and verbs are answered locally."""
        return self._degraded

    def close(self) -> None:
        """Close the primary store's connections (and the fallback's, if it has any)."""
        for store in (self.primary, self.fallback):
            close = getattr(store, "close", None)
            if callable(close):
                close()

    @property
    def namespace(self) -> str:
        return self.primary.namespace

    def _call(self, verb: str, run: Callable[[StateStore], T]) -> T:
        if not self._degraded or time.monotonic() >= self._recheck_at:
            try:
                result = run(self.primary)
            except self._errors as exc:
                self._failed(verb, exc)
            else:
                if self._degraded:
                    self._recovered()
                return result
        return run(self.fallback)

    def _failed(self, verb: str, error: BaseException) -> None:
        with self._lock:
            self._recheck_at = time.monotonic() + self.recheck_seconds
            if self._degraded:
                return
            self._degraded = True
        _log.warning(
            "swapkit: the state store %r failed (%s: %s); using local state until it is back",
            self.primary,
            type(error).__name__,
            error,
            extra={"event": "state", "verb": verb, "outcome": type(error).__name__},
        )

    def _recovered(self) -> None:
        with self._lock:
            if not self._degraded:
                return
            self._degraded = False
        _log.info(
            "swapkit: the state store %r is back",
            self.primary,
            extra={"event": "state", "verb": "", "outcome": "ok"},
        )

    def now(self) -> float:
        return self._call("now", lambda store: store.now())

    def claim(self, key: str, owner: str, ttl_seconds: float | None = None) -> bool:
        return self._call("claim", lambda store: store.claim(key, owner, ttl_seconds))

    def read(self, key: str) -> tuple[Any | None, int]:
        return self._call("read", lambda store: store.read(key))

    def compare_and_set(self, key: str, version: int, value: Any) -> bool:
        return self._call("compare_and_set", lambda s: s.compare_and_set(key, version, value))

    def update(
        self, key: str, fn: Callable[[Any | None], Any], attempts: int = UPDATE_ATTEMPTS
    ) -> tuple[Any | None, Any]:
        """The primary's `update` (the fallback's if it fails); an exception of `fn` itself
        reaches the caller unchanged."""

        def guarded(value: Any | None) -> Any:
            try:
                return fn(value)
            except Exception as exc:
                raise _CallerError(exc) from exc

        try:
            return self._call("update", lambda store: store.update(key, guarded, attempts))
        except _CallerError as wrapped:
            raise wrapped.error from None

    def acquire_permit(self, key: str, limit: int, lease_seconds: float) -> str | None:
        return self._call(
            "acquire_permit", lambda store: store.acquire_permit(key, limit, lease_seconds)
        )

    def release_permit(self, key: str, token: str) -> None:
        self._call("release_permit", lambda store: store.release_permit(key, token))

    def take_rate(self, key: str, limit: int, window_seconds: float) -> float:
        return self._call("take_rate", lambda store: store.take_rate(key, limit, window_seconds))

    def lease(self, key: str, owner: str, seconds: float) -> bool:
        return self._call("lease", lambda store: store.lease(key, owner, seconds))

    def release_lease(self, key: str, owner: str) -> None:
        self._call("release_lease", lambda store: store.release_lease(key, owner))


def open_state_store(url: str, *, source: str = "state=") -> StateStore:
    """A store from a URL: ``redis://…`` / ``rediss://…`` / ``unix://…`` (Redis), ``sqlite:///path``
    (a SQLite file; ``sqlite:////abs/path`` for an absolute path) or ``memory://``.

    Redis and SQLite stores come wrapped in a `ResilientStateStore`, so that an outage
    degrades to local state.  `source` names where the URL came from, for the error message.
    """
    if url.startswith(("redis://", "rediss://", "unix://")):
        from swapkit.core.redis_state import RedisStateStore

        return ResilientStateStore(RedisStateStore(url))
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        from swapkit.core.sqlite_state import SqliteStateStore

        return ResilientStateStore(SqliteStateStore(url[len("sqlite:///") :]))
    if url == "memory://":
        return MemoryStateStore()
    shown = url.split("@")[-1][:200]  # never echo a password from a URL
    raise ConfigurationError(
        f"{source} must be a redis://, rediss://, unix://, sqlite:///PATH or memory:// URL, "
        f"not {shown!r}"
    )
