"""The shared stores under several processes at once, Redis's own key layout, and a Redis that is
down: local state, one warning, and swaps that still go through.

Tests that need a Redis server take the `redis_url` fixture: they skip when none answers, and
fail instead under ``SWAPKIT_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swapkit import AsyncSwapClient, SwapClient, SwapResult
from swapkit.core.breaker import StateBreakers
from swapkit.core.errors import ConfigurationError
from swapkit.core.redis_state import GC_GRACE_SECONDS, RedisStateStore
from swapkit.core.sqlite_state import SqliteStateStore
from swapkit.core.state import ResilientStateStore

from .clock import FakeClock
from .conftest import make_image
from .test_state import EPOCH, LOOPBACK, forget, redis_store, run_in_processes, warnings_of

pytestmark = LOOPBACK
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1
PROCESSES = 8


def open_store(spec: tuple[str, ...]) -> Any:
    """A store from a picklable description: ``("sqlite", path)`` or ``("redis", url, ns)``."""
    if spec[0] == "sqlite":
        return SqliteStateStore(spec[1])
    return RedisStateStore(spec[1], namespace=spec[2])


@pytest.fixture(params=["sqlite", pytest.param("redis")])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, ...]]:
    """A store several processes open by its description."""
    if request.param == "sqlite":
        yield ("sqlite", str(tmp_path / "state.db"))
        return
    url = request.getfixturevalue("redis_url")
    namespace = f"swapkit-test-{uuid.uuid4().hex}"
    yield ("redis", url, namespace)
    forget(RedisStateStore(url, namespace=namespace))


# -- several processes --------------------------------------------------------------------------


def claim_many(spec: tuple[str, ...], process: int, calls: int) -> int:
    """In a child process: `calls` claims of one key; how many it won."""
    store = open_store(spec)
    return sum(store.claim("the-key", f"process-{process}-call-{call}") for call in range(calls))


def increment_many(spec: tuple[str, ...], times: int) -> int:
    """In a child process: `times` increments of one counter through `update`."""
    store = open_store(spec)
    for _ in range(times):
        store.update("counter", lambda count: (count or 0) + 1)
    return times


def test_a_thousand_claims_from_eight_processes_have_one_winner(shared: tuple[str, ...]) -> None:
    calls = 1000 // PROCESSES
    wins = run_in_processes(claim_many, [(shared, n, calls) for n in range(PROCESSES)])
    assert sum(wins) == 1
    assert PROCESSES * calls == 1000
    assert not open_store(shared).claim("the-key", "parent")


def test_concurrent_updates_from_several_processes_lose_nothing(shared: tuple[str, ...]) -> None:
    times = 25
    run_in_processes(increment_many, [(shared, times)] * PROCESSES)
    assert open_store(shared).read("counter") == (PROCESSES * times, PROCESSES * times)


# -- Redis itself -------------------------------------------------------------------------------


def test_redis_keys_are_namespaced_and_expire_only_as_garbage(redis_url: str) -> None:
    clock = FakeClock(start=EPOCH)
    store = redis_store(redis_url, clock=clock)
    try:
        store.claim("forever", "a")
        store.claim("brief", "a", ttl_seconds=5)
        store.compare_and_set("value", 0, [1])
        store.acquire_permit("vendor", 2, 30)
        store.take_rate("vendor", 2, 10)
        store.lease("job", "worker", 20)
        prefix = f"{store.namespace}:"
        keys = sorted(key.decode() for key in store.client.scan_iter(match=f"{prefix}*"))
        assert [key.removeprefix(prefix) for key in keys] == [
            "claim:brief",
            "claim:forever",
            "lease:job",
            "permits:vendor",
            "rate:vendor",
            "value:value",
        ]
        ttl = {key.removeprefix(prefix): store.client.pttl(key) for key in keys}
        assert ttl["claim:forever"] == ttl["value:value"] == -1  # no expiry
        grace = GC_GRACE_SECONDS * 1000
        assert grace < ttl["claim:brief"] <= grace + 5_000
        assert grace + 15_000 < ttl["lease:job"] <= grace + 20_000
        # expiry follows the store's clock, not Redis's timers
        clock.advance(5)
        assert store.claim("brief", "b")
        assert store.client.exists(f"{prefix}claim:brief")
    finally:
        forget(store)


def test_a_redis_client_that_decodes_responses_works_too(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = RedisStateStore(client, namespace=f"swapkit-test-{uuid.uuid4().hex}")
    try:
        assert store.compare_and_set("value", 0, {"a": 1})
        assert store.read("value") == ({"a": 1}, 1)
        assert store.claim("key", "a")
        assert store.take_rate("rate", 1, 10) == 0.0
        assert store.take_rate("rate", 1, 10) > 9
    finally:
        forget(store)


def test_without_redis_py_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'swapkit\[redis\]'"):
        RedisStateStore(DEAD_REDIS)


# -- Redis down ---------------------------------------------------------------------------------


def test_a_dead_redis_degrades_to_memory_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = ResilientStateStore(RedisStateStore(DEAD_REDIS), recheck_seconds=0)
    assert store.claim("key", "a")
    assert not store.claim("key", "b")
    assert store.compare_and_set("value", 0, 1)
    assert store.read("value") == (1, 1)
    assert store.update("value", lambda n: n + 1) == (1, 2)
    token = store.acquire_permit("vendor", 1, 10)
    assert token is not None
    assert store.acquire_permit("vendor", 1, 10) is None
    store.release_permit("vendor", token)
    assert store.take_rate("vendor", 1, 10) == 0.0
    assert store.lease("job", "worker", 10)
    store.release_lease("job", "worker")
    assert store.degraded
    [warning] = warnings_of(caplog)
    assert "127.0.0.1:1" in warning
    assert "ConnectionError" in warning


@pytest.fixture
def swapkit_sandbox_config(clock: FakeClock) -> dict[str, Any]:
    return {"clock": clock.monotonic, "job_seconds": 3.0}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_client_whose_redis_is_down_still_swaps(
    kind: str,
    swapkit_sandbox_server: Any,
    clock: FakeClock,
    plugin_manager: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    options: dict[str, Any] = {
        "providers": {
            "deepswapai": {
                "api_key": "ds-sandbox",
                "base_url": swapkit_sandbox_server.base_url("deepswapai"),
            }
        },
        "clock": clock,
        "plugin_manager": plugin_manager,
        "state": DEAD_REDIS,
    }
    face, scene = make_image((48, 40), (220, 180, 150)), make_image((64, 56), (30, 90, 160))

    def sync_swap() -> tuple[SwapResult, Any]:
        with SwapClient(**options) as client:
            return client.swap(source=face, target=scene), client.state

    async def async_swap() -> tuple[SwapResult, Any]:
        async with AsyncSwapClient(**options) as client:
            return await client.swap(source=face, target=scene), client.state

    result, state = sync_swap() if kind == "sync" else asyncio.run(async_swap())
    assert result.provider == "deepswapai"
    assert result.attempts[-1].store_degraded  # recorded on the attempt
    assert isinstance(state, ResilientStateStore)
    assert state.degraded
    assert len(warnings_of(caplog)) == 1
    with SwapClient(**options) as client:
        assert isinstance(client.breaker.store, StateBreakers)
        assert client.breaker.clock == client.state.now
