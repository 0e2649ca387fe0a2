"""Pacing shared through a state store: slots, starts per minute and a vendor's pause hold for
every process (here: every client) sharing it, on SQLite and on Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pluggy
import pytest

from swapkit.core.pacing import Pacer
from swapkit.core.sqlite_state import SqliteStateStore
from swapkit.core.state import StateStore
from swapkit.sandbox import Fault
from swapkit.testing import FakeClock

from .conftest import make_image
from .test_state import EPOCH, LOOPBACK, forget

pytestmark = LOOPBACK


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """A shared store on a fake wall clock."""
    clock = FakeClock(start=EPOCH)
    if request.param == "sqlite":
        sqlite = SqliteStateStore(tmp_path / "state.db", clock=clock)
        yield sqlite
        sqlite.close()
        return
    from swapkit.core.redis_state import RedisStateStore

    redis = RedisStateStore(
        request.getfixturevalue("redis_url"),
        namespace=f"swapkit-test-{uuid.uuid4().hex}",
        clock=clock,
    )
    yield redis
    forget(redis)


def _two_pacers(store: StateStore) -> tuple[Pacer, Pacer]:
    """Two processes' pacers (their own monotonic clocks, one shared store)."""
    return Pacer(FakeClock(), state=store), Pacer(FakeClock(start=5.0), state=store)


def test_slots_are_shared(store: StateStore) -> None:
    first, second = _two_pacers(store)
    assert first.acquire("vendor", 2, None).reason is None
    assert first.acquire("vendor", 2, None).reason is None
    refused = second.acquire("vendor", 2, None)
    assert refused.reason is not None
    assert "saturated" in refused.reason
    first.release("vendor")
    assert second.acquire("vendor", 2, None).reason is None


def test_starts_per_minute_are_shared(store: StateStore) -> None:
    first, second = _two_pacers(store)
    assert first.acquire("vendor", None, 2).reason is None
    assert second.acquire("vendor", None, 2).reason is None
    paced = first.acquire("vendor", None, 2)
    assert paced.reason is not None
    assert paced.retry_in is not None
    assert 0 < paced.retry_in <= 60


def test_a_pause_learned_by_one_process_holds_for_all(store: StateStore) -> None:
    first, second = _two_pacers(store)
    limited = httpx.Response(429, headers={"Retry-After": "30"})
    first.observe("vendor", limited)
    refused = second.acquire("vendor", None, None)
    assert refused.reason is not None
    assert "rate-limited" in refused.reason
    assert refused.retry_in == pytest.approx(30, abs=1)
    assert second.paused_for("vendor") == pytest.approx(30, abs=1)
    store.clock.advance(31)  # type: ignore[attr-defined]  # the store's FakeClock
    assert second.acquire("vendor", None, None).reason is None


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    return {"job_seconds": 0.0}


def test_clients_sharing_state_skip_a_vendor_another_was_told_to_pause(
    kind: str,
    redis_url: str,
    swapkit_sandbox_server: Any,
    plugin_manager: pluggy.PluginManager,
) -> None:
    from swapkit.core.redis_state import RedisStateStore

    from .conftest import run_swap

    state = RedisStateStore(redis_url, namespace=f"swapkit-test-{uuid.uuid4().hex}")
    server = swapkit_sandbox_server
    providers = {
        name: {
            "api_key": server.sandbox.vendors[name].default_api_keys[0],
            "base_url": server.base_url(name),
        }
        for name in ("prospolabs", "deepswapai")
    }
    options = {
        "providers": providers,
        "state": state,
        "plugin_manager": plugin_manager,
        "clock": FakeClock(),
    }
    server.sandbox.faults.add(Fault(provider="prospolabs", status=429, times=1))
    face, scene = make_image(), make_image((64, 56), (30, 90, 160))
    try:
        first = run_swap(kind, options, source=face, target=scene)
        assert [a.provider for a in first.attempts] == ["prospolabs", "deepswapai"]
        second = run_swap(kind, options, source=face, target=scene)  # "another process"
    finally:
        forget(state)
    skipped = second.attempts[0]
    assert (skipped.provider, skipped.skipped) == ("prospolabs", True)
    assert "rate-limited" in skipped.reason
    assert second.provider == "deepswapai"
    assert sum(r.path.startswith("/prospolabs/") for r in server.sandbox.requests) == 1
