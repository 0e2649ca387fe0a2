"""Circuit breakers shared between processes: on Redis, on a SQLite state file, in the ledger.

Each change of a breaker is one atomic transition applied by its store, so a breaker opened in
one process is open in the next, concurrent failures are all counted, and of several processes
asking at once after the cooldown exactly one sends the half-open probe.  The processes' clocks
are fixed times (`At`), so nothing waits for a cooldown.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swapkit.core.breaker import BreakerState, CircuitBreaker, MemoryBreakerStore, StateBreakers
from swapkit.core.errors import ConfigurationError
from swapkit.core.ledger import LedgerBreakers, SqliteLedger
from swapkit.core.sqlite_state import SqliteStateStore
from swapkit.core.state import MemoryStateStore, ResilientStateStore

from .test_state import EPOCH, LOOPBACK, At, forget, run_in_processes

pytestmark = LOOPBACK
PROCESSES = 8
COOLDOWN = 30.0


def breaker_in(spec: tuple[str, ...], now: float, threshold: int = 3) -> CircuitBreaker:
    """A breaker on the shared store `spec` describes, at the fixed time `now`."""
    store: Any
    if spec[0] == "ledger":
        store = SqliteLedger(spec[1]).breakers
    elif spec[0] == "sqlite":
        store = StateBreakers(SqliteStateStore(spec[1]))
    else:
        from swapkit.core.redis_state import RedisStateStore

        store = StateBreakers(RedisStateStore(spec[1], namespace=spec[2]))
    return CircuitBreaker(
        failure_threshold=threshold, cooldown_seconds=COOLDOWN, clock=At(now), store=store
    )


@pytest.fixture(params=["redis", "sqlite", "ledger"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, ...]]:
    """A breaker store that processes open by its description."""
    if request.param != "redis":
        yield (request.param, str(tmp_path / "shared.db"))
        return
    from swapkit.core.redis_state import RedisStateStore

    url = request.getfixturevalue("redis_url")
    namespace = f"swapkit-test-{uuid.uuid4().hex}"
    yield ("redis", url, namespace)
    forget(RedisStateStore(url, namespace=namespace))


# -- in child processes -------------------------------------------------------------------------


def fail(spec: tuple[str, ...], now: float, times: int, threshold: int = 3) -> str:
    breaker = breaker_in(spec, now, threshold)
    for _ in range(times):
        breaker.record_failure("vendor")
    return breaker.store.get("vendor").status


def admit(spec: tuple[str, ...], now: float) -> tuple[str | None, bool]:
    admission = breaker_in(spec, now).admit("vendor")
    return admission.reason, admission.probe


def succeed(spec: tuple[str, ...], now: float) -> str:
    breaker = breaker_in(spec, now)
    breaker.record_success("vendor")
    return breaker.store.get("vendor").status


# -- the tests ----------------------------------------------------------------------------------


def test_a_breaker_opened_in_one_process_is_open_in_another(shared: tuple[str, ...]) -> None:
    assert run_in_processes(fail, [(shared, EPOCH, 3)]) == ["open"]
    [(reason, probe)] = run_in_processes(admit, [(shared, EPOCH + 10)])
    assert reason == "circuit open for another 20.0 s"
    assert not probe


def test_exactly_one_process_sends_the_half_open_probe(shared: tuple[str, ...]) -> None:
    run_in_processes(fail, [(shared, EPOCH, 3)])
    answers = run_in_processes(admit, [(shared, EPOCH + COOLDOWN + 1)] * PROCESSES)
    assert [probe for _, probe in answers].count(True) == 1
    assert sorted(reason or "probe" for reason, _ in answers) == [
        *["circuit half-open: a probe call is in flight"] * (PROCESSES - 1),
        "probe",
    ]
    assert run_in_processes(succeed, [(shared, EPOCH + COOLDOWN + 2)]) == ["closed"]
    assert breaker_in(shared, EPOCH + COOLDOWN + 3).admit("vendor").reason is None


def test_failures_recorded_at_once_by_several_processes_are_all_counted(
    shared: tuple[str, ...],
) -> None:
    run_in_processes(fail, [(shared, EPOCH, 1, 100)] * PROCESSES)
    assert breaker_in(shared, EPOCH).store.get("vendor").failures == PROCESSES


# -- one process --------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "state", "ledger"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        return MemoryBreakerStore()
    if request.param == "state":
        return StateBreakers(MemoryStateStore())
    return SqliteLedger(tmp_path / "ledger.db").breakers


def test_update_applies_a_transition_and_returns_both_states(store: Any) -> None:
    assert store.get("vendor") == BreakerState()
    old, new = store.update("vendor", lambda state: BreakerState(failures=state.failures + 1))
    assert (old, new) == (BreakerState(), BreakerState(failures=1))
    assert store.get("vendor") == BreakerState(failures=1)
    assert store.get("other") == BreakerState()


def test_a_breaker_state_is_json_in_the_state_store() -> None:
    state = MemoryStateStore()
    breaker = CircuitBreaker(failure_threshold=1, clock=At(EPOCH), store=StateBreakers(state))
    breaker.record_failure("vendor")
    value, version = state.read("breaker:vendor")
    assert value == {
        "status": "open",
        "failures": 1,
        "open_until": EPOCH + 30.0,
        "probing": False,
        "probe_until": 0.0,
    }
    assert version == 1
    breaker.admit("vendor")  # still open: nothing written
    assert state.read("breaker:vendor")[1] == 1


def test_a_stored_state_with_unknown_fields_or_garbage_is_read_safely() -> None:
    state = MemoryStateStore()
    state.compare_and_set("breaker:a", 0, {"status": "open", "open_until": 5.0, "new": 1})
    state.compare_and_set("breaker:b", 0, ["not", "a", "state"])
    breakers = StateBreakers(state)
    assert breakers.get("a") == BreakerState(status="open", open_until=5.0)
    assert breakers.get("b") == BreakerState()


def test_only_the_breaker_that_made_a_change_reports_it() -> None:
    state = MemoryStateStore()
    heard: list[tuple[str, str, str]] = []
    one, two = (
        CircuitBreaker(
            failure_threshold=1,
            clock=At(EPOCH),
            store=StateBreakers(state),
            on_change=lambda name, old, new, who=who: heard.append((who, old.status, new.status)),
        )
        for who in ("one", "two")
    )
    one.record_failure("vendor")
    assert two.admit("vendor").reason is not None
    assert heard == [("one", "closed", "open")]


def test_a_breaker_on_a_degraded_store_says_so() -> None:
    class Down(MemoryStateStore):
        def update(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionRefusedError("down")

    breaker = CircuitBreaker(
        clock=At(EPOCH), store=StateBreakers(ResilientStateStore(Down(), recheck_seconds=60))
    )
    assert not breaker.store_degraded
    assert breaker.admit("vendor").reason is None
    assert breaker.store_degraded
    assert not CircuitBreaker(clock=time.time).store_degraded


# -- the clients' breakers ----------------------------------------------------------------------


def test_a_client_with_a_ledger_times_its_breakers_by_the_wall_clock(tmp_path: Path) -> None:
    from swapkit import SwapClient

    with SwapClient(["deepswapai"], ledger=tmp_path / "ledger.db", config=False) as client:
        assert client.breaker is not None
        assert isinstance(client.breaker.store, LedgerBreakers)
        assert client.breaker.clock is time.time


def test_a_client_with_a_state_store_keeps_its_breakers_there(tmp_path: Path) -> None:
    from swapkit import AsyncSwapClient, SwapClient

    state = MemoryStateStore(clock=At(EPOCH))
    for client_class in (SwapClient, AsyncSwapClient):
        ledger = tmp_path / "ledger.db"
        client = client_class(["deepswapai"], state=state, ledger=ledger, config=False)
        assert client.state is state
        assert client.breaker is not None
        assert isinstance(client.breaker.store, StateBreakers)
        assert client.breaker.store.state is state
        assert client.breaker.clock() == EPOCH


def test_the_state_store_url_comes_from_the_environment_or_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from swapkit import SwapClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWAPKIT_STATE", "sqlite:///env.db")
    with SwapClient(["deepswapai"]) as client:
        assert isinstance(client.state, ResilientStateStore)
        assert client.state.primary.path == Path("env.db")
    monkeypatch.delenv("SWAPKIT_STATE")
    (tmp_path / "swapkit.toml").write_text('state = "memory://"\n')
    with SwapClient(["deepswapai"]) as client:
        assert isinstance(client.state, MemoryStateStore)
    with SwapClient(["deepswapai"], config=False) as client:
        assert client.state is None
    monkeypatch.setenv("SWAPKIT_STATE", "mysql://somewhere")
    with pytest.raises(ConfigurationError, match=r"SWAPKIT_STATE .* must be a redis://"):
        SwapClient(["deepswapai"])
    with pytest.raises(ConfigurationError, match=r"^state= must be"):
        SwapClient(["deepswapai"], state="ftp://x")


@pytest.fixture
def swapkit_sandbox_config(clock: Any) -> dict[str, Any]:
    return {"clock": clock.monotonic, "job_seconds": 3.0}


def test_clients_sharing_redis_share_their_breakers(
    redis_url: str, swapkit_sandbox_server: Any, clock: Any, plugin_manager: Any
) -> None:
    """Two clients, each with its own connection (as two workers would have): the breaker
    the first one opens makes the second pass the vendor over."""
    from swapkit import SwapClient
    from swapkit.core.redis_state import RedisStateStore
    from swapkit.sandbox import Fault

    from .conftest import make_image

    server = swapkit_sandbox_server
    server.sandbox.faults.add(Fault(provider="prospolabs", status=500))
    providers = {
        "prospolabs": {"api_key": "prsp-sandbox", "base_url": server.base_url("prospolabs")},
        "deepswapai": {"api_key": "ds-sandbox", "base_url": server.base_url("deepswapai")},
    }
    namespace = f"swapkit-test-{uuid.uuid4().hex}"
    face, scene = make_image((48, 40), (220, 180, 150)), make_image((64, 56), (30, 90, 160))
    options = {"clock": clock, "plugin_manager": plugin_manager, "config": False}
    first = RedisStateStore(redis_url, namespace=namespace)
    second = RedisStateStore(redis_url, namespace=namespace)
    try:
        with SwapClient(providers, state=first, **options) as client:
            for _ in range(5):  # the default threshold
                assert client.swap(source=face, target=scene).provider == "deepswapai"
        with SwapClient(providers, state=second, **options) as client:
            result = client.swap(source=face, target=scene)
        assert result.provider == "deepswapai"
        assert result.attempts[0].reason.startswith("skipped: circuit open")
    finally:
        second.close()
        forget(first)


def test_a_probe_that_outlived_its_reservation_releases_nothing() -> None:
    now = [EPOCH]
    breaker = CircuitBreaker(
        failure_threshold=1,
        cooldown_seconds=COOLDOWN,
        probe_timeout_seconds=60,
        clock=lambda: now[0],
    )
    breaker.record_failure("vendor")
    now[0] += COOLDOWN
    slow = breaker.admit("vendor")
    assert slow.probe
    now[0] += 61  # the slow probe's reservation expired: the next call probes
    fresh = breaker.admit("vendor")
    assert fresh.probe
    breaker.release("vendor", slow)  # the slow call gives up: not the new probe
    assert breaker.admit("vendor").reason == "circuit half-open: a probe call is in flight"
    breaker.release("vendor", fresh)
    assert breaker.admit("vendor").probe
