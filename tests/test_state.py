"""The state store's verbs, the same on every backend (memory, SQLite, Redis), on a fake clock;
the degrading wrapper; store URLs.  Several processes at once: tests/test_state_redis.py."""

from __future__ import annotations

import logging
import multiprocessing
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from swapkit.core.errors import ConfigurationError
from swapkit.core.sqlite_state import SqliteStateStore
from swapkit.core.state import (
    MemoryStateStore,
    ResilientStateStore,
    StateStore,
    cas_update,
    open_state_store,
)

from .clock import FakeClock

#: Redis on loopback, and the Unix socket of multiprocessing's fork server (`run_in_processes`).
LOOPBACK = pytest.mark.block_network(
    allowed_hosts=[r"127\.0\.0\.1", "localhost", r".*/pymp-[^/]+/listener-[^/]+$"]
)
BACKENDS = ["memory", "sqlite", pytest.param("redis", marks=LOOPBACK)]
#: A wall-clock start for fake clocks (state times are epoch seconds).
EPOCH = 1_700_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=EPOCH)


def redis_store(url: str, **kwargs: Any) -> Any:
    """A `RedisStateStore` in a namespace of its own (delete it with `forget`)."""
    from swapkit.core.redis_state import RedisStateStore

    return RedisStateStore(url, namespace=f"swapkit-test-{uuid.uuid4().hex}", **kwargs)


def forget(store: Any) -> None:
    """Delete a Redis store's keys and close it."""
    keys = list(store.client.scan_iter(match=f"{store.namespace}:*", count=1000))
    if keys:
        store.client.delete(*keys)
    store.close()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Any]:
    """Each backend on the fake clock."""
    if request.param == "memory":
        yield MemoryStateStore(clock=clock)
    elif request.param == "sqlite":
        sqlite_store = SqliteStateStore(tmp_path / "state.db", clock=clock)
        yield sqlite_store
        sqlite_store.close()
    else:
        shared = redis_store(request.getfixturevalue("redis_url"), clock=clock)
        yield shared
        forget(shared)


# -- claim --------------------------------------------------------------------------------------


def test_the_first_claim_wins(store: StateStore) -> None:
    assert store.claim("delivery:1", "a") is True
    assert store.claim("delivery:1", "b") is False
    assert store.claim("delivery:1", "a") is False  # the winner too: it won once
    assert store.claim("delivery:2", "b") is True


def test_a_claim_with_a_ttl_expires_on_the_stores_clock(
    store: StateStore, clock: FakeClock
) -> None:
    assert store.claim("key", "a", ttl_seconds=10)
    clock.advance(9.5)
    assert not store.claim("key", "b", ttl_seconds=10)
    clock.advance(0.5)  # expired at exactly ten seconds
    assert store.claim("key", "b", ttl_seconds=10)
    clock.advance(5)
    assert not store.claim("key", "c")


def test_a_claim_without_a_ttl_never_expires(store: StateStore, clock: FakeClock) -> None:
    assert store.claim("key", "a")
    clock.advance(10**7)
    assert not store.claim("key", "b", ttl_seconds=1)


@pytest.mark.parametrize("ttl", [0, -1.0])
def test_a_claim_ttl_must_be_positive(store: StateStore, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        store.claim("key", "a", ttl_seconds=ttl)


# -- read, compare_and_set, update ---------------------------------------------------------------


def test_compare_and_set_writes_only_at_the_version_read(store: StateStore) -> None:
    assert store.read("value") == (None, 0)
    assert store.compare_and_set("value", 0, {"n": 1})
    assert not store.compare_and_set("value", 0, {"n": 9})  # it exists now
    assert store.read("value") == ({"n": 1}, 1)
    assert store.compare_and_set("value", 1, {"n": 2})
    assert not store.compare_and_set("value", 1, {"n": 9})  # a stale version
    assert not store.compare_and_set("value", 7, {"n": 9})
    assert store.read("value") == ({"n": 2}, 2)


def test_values_are_json(store: StateStore) -> None:
    value = {"text": "café ☕", "list": [1, 2.5, None, True], "nested": {"a": []}}
    assert store.compare_and_set("value", 0, value)
    assert store.read("value") == (value, 1)
    with pytest.raises(TypeError):
        store.compare_and_set("value", 1, {1, 2})
    with pytest.raises(ValueError, match="JSON"):
        store.compare_and_set("value", 1, float("nan"))
    assert store.read("value") == (value, 1)


def test_update_returns_the_old_and_the_new_value(store: StateStore) -> None:
    assert store.update("counter", lambda n: (n or 0) + 1) == (None, 1)
    assert store.update("counter", lambda n: n + 1) == (1, 2)
    assert store.read("counter") == (2, 2)


def test_an_update_that_changes_nothing_writes_nothing(store: StateStore) -> None:
    store.update("value", lambda _: {"a": 1})
    assert store.update("value", lambda value: dict(value)) == ({"a": 1}, {"a": 1})
    assert store.read("value") == ({"a": 1}, 1)


def test_an_error_in_the_update_function_reaches_the_caller_and_writes_nothing(
    store: StateStore,
) -> None:
    store.update("value", lambda _: 1)

    def broken(value: Any) -> Any:
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        store.update("value", broken)
    assert store.read("value") == (1, 1)


def test_update_gives_up_when_every_compare_and_set_loses() -> None:
    class AlwaysLate(MemoryStateStore):
        def compare_and_set(self, key: str, version: int, value: Any) -> bool:
            return False

    with pytest.raises(TimeoutError, match="every one of 3"):
        cas_update(AlwaysLate(), "key", lambda value: 1, attempts=3)


# -- permits ------------------------------------------------------------------------------------


def test_permits_are_limited_and_given_back(store: StateStore) -> None:
    first = store.acquire_permit("vendor", limit=2, lease_seconds=30)
    second = store.acquire_permit("vendor", limit=2, lease_seconds=30)
    assert first
    assert second
    assert first != second
    assert store.acquire_permit("vendor", limit=2, lease_seconds=30) is None
    store.release_permit("vendor", first)
    store.release_permit("vendor", first)  # twice: nothing
    store.release_permit("vendor", "never-issued")
    assert store.acquire_permit("vendor", limit=2, lease_seconds=30) is not None
    assert store.acquire_permit("vendor", limit=2, lease_seconds=30) is None
    assert store.acquire_permit("other", limit=1, lease_seconds=30) is not None


def test_an_expired_permit_does_not_count(store: StateStore, clock: FakeClock) -> None:
    assert store.acquire_permit("vendor", limit=1, lease_seconds=10)
    clock.advance(9.9)
    assert store.acquire_permit("vendor", limit=1, lease_seconds=10) is None
    clock.advance(0.1)
    assert store.acquire_permit("vendor", limit=1, lease_seconds=10)


@pytest.mark.parametrize(("limit", "lease"), [(0, 1.0), (True, 1.0), (1, 0.0)])
def test_permit_arguments_are_checked(store: StateStore, limit: int, lease: float) -> None:
    with pytest.raises(ValueError, match=r"limit|lease_seconds"):
        store.acquire_permit("vendor", limit=limit, lease_seconds=lease)


# -- rate ---------------------------------------------------------------------------------------


def test_take_rate_is_a_sliding_window(store: StateStore, clock: FakeClock) -> None:
    assert store.take_rate("vendor", limit=2, window_seconds=10) == 0.0
    clock.advance(1)
    assert store.take_rate("vendor", limit=2, window_seconds=10) == 0.0
    clock.advance(1)
    assert store.take_rate("vendor", limit=2, window_seconds=10) == pytest.approx(8.0)
    clock.advance(8)  # the first grant leaves the window
    assert store.take_rate("vendor", limit=2, window_seconds=10) == 0.0
    assert store.take_rate("vendor", limit=2, window_seconds=10) == pytest.approx(1.0)
    assert store.take_rate("other", limit=1, window_seconds=10) == 0.0


def test_rate_arguments_are_checked(store: StateStore) -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        store.take_rate("vendor", limit=1, window_seconds=0)
    with pytest.raises(ValueError, match="limit"):
        store.take_rate("vendor", limit=0, window_seconds=1)


# -- leases -------------------------------------------------------------------------------------


def test_a_lease_has_one_owner_who_may_renew_it(store: StateStore, clock: FakeClock) -> None:
    assert store.lease("job", "worker-a", 30)
    assert not store.lease("job", "worker-b", 30)
    clock.advance(20)
    assert store.lease("job", "worker-a", 30)  # renewed: now until +50
    clock.advance(20)
    assert not store.lease("job", "worker-b", 30)
    clock.advance(10)  # expired
    assert store.lease("job", "worker-b", 30)
    assert not store.lease("job", "worker-a", 30)


def test_only_the_holder_releases_a_lease(store: StateStore) -> None:
    assert store.lease("job", "worker-a", 30)
    store.release_lease("job", "worker-b")
    assert not store.lease("job", "worker-b", 30)
    store.release_lease("job", "worker-a")
    assert store.lease("job", "worker-b", 30)
    store.release_lease("never-leased", "worker-a")


def test_keys_of_one_verb_do_not_meet_another_verbs(store: StateStore) -> None:
    assert store.claim("same", "a")
    assert store.lease("same", "a", 10)
    assert store.compare_and_set("same", 0, 1)
    assert store.acquire_permit("same", 1, 10)
    assert store.take_rate("same", 1, 10) == 0.0


def test_namespaces_keep_stores_apart(tmp_path: Path, clock: FakeClock) -> None:
    one = SqliteStateStore(tmp_path / "state.db", namespace="one", clock=clock)
    two = SqliteStateStore(tmp_path / "state.db", namespace="two", clock=clock)
    assert one.claim("key", "a")
    assert two.claim("key", "a")
    assert one.namespace == "one"
    one.close()
    two.close()


def test_a_sqlite_store_shares_a_ledger_file(tmp_path: Path) -> None:
    from swapkit.core.ledger import SqliteLedger

    ledger = SqliteLedger(tmp_path / "ledger.db")
    store = SqliteStateStore(tmp_path / "ledger.db")
    assert store.claim("key", "a")
    assert ledger.get_breaker("anything").status == "closed"
    reopened = SqliteLedger(tmp_path / "ledger.db")  # migrations still see their own tables
    assert reopened.list(None, 1) == []
    store.close()


# -- degrading ----------------------------------------------------------------------------------


class Flaky:
    """A store that fails like a server that went away while `down` is set."""

    def __init__(self) -> None:
        self.inner = MemoryStateStore(namespace="flaky")
        self.clock = self.inner.clock
        self.down = False
        self.calls = 0

    @property
    def namespace(self) -> str:
        return self.inner.namespace

    def __repr__(self) -> str:
        return "<Flaky>"

    def __getattr__(self, name: str) -> Callable[..., Any]:
        verb = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.down:
                raise ConnectionRefusedError("[Errno 111] Connection refused")
            return verb(*args, **kwargs)

        return call


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "swapkit" and record.levelno == logging.WARNING
    ]


def test_a_store_outage_degrades_to_local_state_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    primary = Flaky()
    store = ResilientStateStore(primary, recheck_seconds=0)
    assert store.claim("shared", "a")
    assert not store.degraded
    primary.down = True
    caplog.set_level(logging.INFO, logger="swapkit")
    assert store.claim("local", "a")  # answered by the fallback
    assert not store.claim("local", "b")
    assert store.update("n", lambda n: (n or 0) + 1) == (None, 1)
    assert store.acquire_permit("p", 1, 10) is not None
    assert store.take_rate("r", 1, 10) == 0.0
    assert store.lease("l", "a", 10)
    assert store.degraded
    [warning] = warnings_of(caplog)
    assert "<Flaky> failed (ConnectionRefusedError" in warning
    assert "using local state" in warning

    primary.down = False
    assert store.claim("back", "a")
    assert not store.degraded
    assert any("is back" in record.getMessage() for record in caplog.records)
    primary.down = True
    store.claim("again", "a")
    assert len(warnings_of(caplog)) == 2  # a second outage is a second warning


def test_a_degraded_store_rechecks_the_primary_only_now_and_then() -> None:
    primary = Flaky()
    primary.down = True
    store = ResilientStateStore(primary, recheck_seconds=3600)
    for number in range(20):
        store.claim(f"key-{number}", "a")
    assert primary.calls == 1
    assert store.degraded


def test_an_error_of_the_update_function_is_not_an_outage() -> None:
    store = ResilientStateStore(Flaky())

    def broken(value: Any) -> Any:
        raise ConnectionResetError("the caller's own")

    with pytest.raises(ConnectionResetError, match="the caller's own"):
        store.update("key", broken)
    assert not store.degraded


def test_a_locked_sqlite_file_degrades_instead_of_failing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    store = ResilientStateStore(SqliteStateStore(path, busy_timeout=0.05))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert store.claim("key", "a")
        assert store.degraded
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "OperationalError: database is locked" in warnings_of(caplog)[0]


# -- URLs ---------------------------------------------------------------------------------------


def test_state_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert isinstance(open_state_store("memory://"), MemoryStateStore)
    relative = open_state_store("sqlite:///var/state.db")
    assert isinstance(relative, ResilientStateStore)
    assert isinstance(relative.primary, SqliteStateStore)
    assert (tmp_path / "var" / "state.db").is_file()
    absolute = open_state_store(f"sqlite:///{tmp_path / 'abs.db'}")
    assert isinstance(absolute, ResilientStateStore)
    assert absolute.primary.path == tmp_path / "abs.db"
    redis = open_state_store("redis://127.0.0.1:1/0")  # redis-py connects on first use only
    assert isinstance(redis, ResilientStateStore)
    assert type(redis.primary).__name__ == "RedisStateStore"


@pytest.mark.parametrize("url", ["postgres://user:hunter2@db/x", "sqlite:///", "", "redis"])
def test_a_bad_state_url_names_its_source_and_hides_passwords(url: str) -> None:
    with pytest.raises(ConfigurationError, match="SWAPKIT_STATE must be a redis://") as caught:
        open_state_store(url, source="SWAPKIT_STATE")
    assert "hunter2" not in str(caught.value)


# -- several processes (used by tests/test_state_redis.py and tests/test_breaker_shared.py) ----


def _child(
    index: int, target: Callable[..., Any], args: tuple[Any, ...], barrier: Any, results: Any
) -> None:
    try:
        barrier.wait(timeout=60)  # every process is up before any starts
        results.put((index, target(*args), None))
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put((index, None, repr(exc)))


#: Where the children's functions live: a fork server imports them once, then forks from it.
CHILD_MODULES = ["tests.test_state", "tests.test_state_redis", "tests.test_breaker_shared"]


def run_in_processes(target: Callable[..., Any], calls: list[tuple[Any, ...]]) -> list[Any]:
    """``target(*args)`` for each of `calls`, each in its own process, released at once; their
    results in order.  `target` and the arguments must pickle.

    The processes come from a fork server (spawned once, single-threaded, with the test
    modules imported), so that each costs a fork rather than a new interpreter, and nothing
    forks the multi-threaded test process itself.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(CHILD_MODULES)
    else:  # pragma: no cover - Windows
        context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(calls))
    results = context.Queue()
    processes = [
        context.Process(target=_child, args=(index, target, args, barrier, results))
        for index, args in enumerate(calls)
    ]
    for process in processes:
        process.start()
    try:
        answers = [results.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    errors = [error for _, _, error in answers if error is not None]
    assert not errors, errors
    return [result for _, result, _ in sorted(answers, key=lambda answer: answer[0])]


class At:
    """A clock that always says `seconds` (it pickles, unlike a FakeClock's lock)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self) -> float:
        return self.seconds
