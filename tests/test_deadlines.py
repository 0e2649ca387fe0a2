"""The deadline is a bound, breakers recover, and this side's faults are not the vendor's.

The deadline tests use real time on purpose (a real socket that drips, real back-off sleeps),
kept to a second or two each; everything else runs on the fake clock.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pluggy
import pytest
import stamina

import swapkit
from swapkit import AsyncSwapClient, SwapClient, SwapResult, errors
from swapkit.core.breaker import CircuitBreaker
from swapkit.sandbox import Fault

from .conftest import FakeClock, make_image, run_swap
from .sandbox.helpers import LoopbackServer

FACE = make_image((48, 40), (220, 180, 150))
SCENE = make_image((64, 56), (30, 90, 160))


def _timed(kind: str, client: dict[str, Any], **fields: Any) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        outcome: Any = run_swap(kind, client, **fields)
    except errors.SwapError as exc:
        outcome = exc
    return outcome, time.monotonic() - started


class _Drip(BaseHTTPRequestHandler):
    """Answers every POST one byte every 50 ms, status line first, for at most 6 s."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"success": true, "output_url": "http://127.0.0.1:9/r.png"}'
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        answer += b"Content-Length: %d\r\n\r\n" % len(body) + body
        try:
            for index in range(min(len(answer), 120)):
                self.wfile.write(answer[index : index + 1])
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            return

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
def test_a_dripping_answer_cannot_hold_the_deadline(
    kind: str, plugin_manager: pluggy.PluginManager
) -> None:
    with LoopbackServer(_Drip) as server:
        providers = {"deepswapai": {"api_key": "k", "base_url": server.url.rstrip("/")}}
        client = {"providers": providers, "plugin_manager": plugin_manager}
        outcome, elapsed = _timed(kind, client, source=FACE, target=SCENE, deadline=1.0)
    assert isinstance(outcome, errors.OutcomeUnknown)  # the submit was sent; its answer lost
    assert elapsed < 2.0


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    return {"job_seconds": 0.05}


def test_back_off_never_sleeps_past_the_deadline(
    kind: str, swapkit_sandbox_server: Any, plugin_manager: pluggy.PluginManager
) -> None:
    sandbox = swapkit_sandbox_server.sandbox
    sandbox.faults.add(Fault(provider="deepswapai", status=503))
    settings = {"api_key": "ds-sandbox", "base_url": swapkit_sandbox_server.base_url("deepswapai")}
    client = {
        "providers": {"deepswapai": settings},
        "plugin_manager": plugin_manager,
        "max_attempts": 12,
        "policy": swapkit.FailoverPolicy(backoff_initial=0.4, backoff_max=3.0),
    }
    with stamina.set_testing(False):
        outcome, elapsed = _timed(kind, client, source=FACE, target=SCENE, deadline=1.5)
    assert isinstance(outcome, errors.ProviderUnavailable)
    assert elapsed < 2.5
    assert len(sandbox.requests) >= 2  # it did retry, within the time it had


def test_a_wait_the_vendor_asks_for_past_the_deadline_is_not_taken(
    kind: str, swapkit_sandbox_server: Any, plugin_manager: pluggy.PluginManager
) -> None:
    sandbox = swapkit_sandbox_server.sandbox
    sandbox.faults.add(Fault(provider="prospolabs", status=429))
    settings = {
        "api_key": "prsp-sandbox",
        "base_url": swapkit_sandbox_server.base_url("prospolabs"),
    }
    client = {"providers": {"prospolabs": settings}, "plugin_manager": plugin_manager}
    with stamina.set_testing(False):
        outcome, elapsed = _timed(kind, client, source=FACE, target=SCENE, deadline=1.0)
    assert isinstance(outcome, errors.RateLimited)
    assert elapsed < 1.5


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("deadline", float("nan")),
        ("deadline", float("inf")),
        ("deadline", 0),
        ("deadline", True),
        ("deadline", "10"),
        ("max_attempts", True),
        ("max_attempts", 0),
        ("max_attempts", 2.5),
        ("max_cost_usd", float("nan")),
        ("provider_retries", -1),
        ("on_unknown_outcome", "retry"),
    ],
)
def test_client_limits_are_validated(keyword: str, value: Any) -> None:
    with pytest.raises(errors.ConfigurationError, match=keyword):
        SwapClient(providers=["prospolabs"], **{keyword: value})


@pytest.mark.parametrize(
    ("keyword", "value"),
    [("deadline", float("nan")), ("deadline", True), ("max_attempts", True), ("deadline", -1)],
)
def test_swap_limits_are_validated(keyword: str, value: Any) -> None:
    client = SwapClient(providers={"prospolabs": {"api_key": "k"}})
    with client, pytest.raises(errors.InvalidRequest, match=keyword):
        client.swap(source=FACE, target=SCENE, **{keyword: value})


# -- breakers ----------------------------------------------------------------------------------


@pytest.fixture
def sandbox_client(
    swapkit_sandbox_server: Any, clock: FakeClock, plugin_manager: pluggy.PluginManager
) -> dict[str, Any]:
    url = swapkit_sandbox_server.base_url("deepswapai")
    return {
        "providers": {"deepswapai": {"api_key": "ds-sandbox", "base_url": url}},
        "plugin_manager": plugin_manager,
        "clock": clock,
    }


def _open_breaker(clock: FakeClock) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=10, clock=clock.monotonic)
    breaker.record_failure("deepswapai", errors.ProviderUnavailable("down"))
    clock.now += 11  # the cooldown is over: the next call is the probe
    return breaker


async def test_a_cancelled_probe_is_released(
    swapkit_sandbox_server: Any, sandbox_client: dict[str, Any], clock: FakeClock
) -> None:
    sandbox = swapkit_sandbox_server.sandbox
    breaker = _open_breaker(clock)
    sandbox.faults.add(Fault(provider="deepswapai", kind="latency", seconds=2.0, times=1))
    async with AsyncSwapClient(**sandbox_client, circuit_breaker=breaker) as client:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.swap(source=FACE, target=SCENE), timeout=0.2)
        assert breaker.store.get("deepswapai").probing is False
        result = await client.swap(source=FACE, target=SCENE)
    assert result.provider == "deepswapai"
    assert breaker.store.get("deepswapai").status == "closed"


class _Broken(Exception):
    pass


def test_a_probe_that_ends_in_a_foreign_exception_is_released(
    kind: str,
    swapkit_sandbox_server: Any,
    sandbox_client: dict[str, Any],
    clock: FakeClock,
) -> None:
    breaker = _open_breaker(clock)

    class Observer:
        @swapkit.hookimpl
        def attempt_started(self, provider: str) -> None:
            raise _Broken  # observers are isolated: this one must not end the swap

    result = run_swap(
        kind,
        {**sandbox_client, "circuit_breaker": breaker, "observers": [Observer()]},
        source=FACE,
        target=SCENE,
    )
    assert isinstance(result, SwapResult)

    breaker = _open_breaker(clock)
    with SwapClient(**sandbox_client, circuit_breaker=breaker) as client:
        job_flow = client._job_flow

        def exploding(*args: Any, **kwargs: Any) -> Any:
            flow = job_flow(*args, **kwargs)
            yield next(flow)  # the probe is taken and the first request built...
            raise _Broken  # ...then something that is not swapkit's fails

        client._job_flow = exploding  # type: ignore[method-assign]
        with pytest.raises(_Broken):
            client.swap(source=FACE, target=SCENE)
    # the generator was closed: whatever ended it, the probe is free again
    assert breaker.store.get("deepswapai").probing is False


def test_waiting_on_another_call_s_probe_does_not_spin(
    sandbox_client: dict[str, Any], clock: FakeClock
) -> None:
    breaker = _open_breaker(clock)
    assert breaker.admit("deepswapai").probe  # another call holds the probe
    client = SwapClient(**sandbox_client, circuit_breaker=breaker)
    with client, pytest.raises(errors.ProviderUnavailable, match="probe"):
        client.swap(source=FACE, target=SCENE, deadline=3)
    assert 3 <= len(clock.slept) <= 8  # it looked again every half second, then gave up
    assert sum(clock.slept) <= 3


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
async def test_a_full_connection_pool_opens_no_breaker(
    swapkit_sandbox_server: Any, plugin_manager: pluggy.PluginManager
) -> None:
    sandbox = swapkit_sandbox_server.sandbox
    sandbox.faults.add(Fault(provider="deepswapai", kind="latency", seconds=0.1))
    url = swapkit_sandbox_server.base_url("deepswapai")
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=4))
    breaker = CircuitBreaker(failure_threshold=3, clock=time.monotonic)
    async with AsyncSwapClient(
        providers={"deepswapai": {"api_key": "ds-sandbox", "base_url": url}},
        plugin_manager=plugin_manager,
        http_client=http,
        circuit_breaker=breaker,
    ) as client:
        outcomes = await asyncio.gather(
            *(client.swap(source=FACE, target=SCENE, deadline=1.0) for _ in range(200)),
            return_exceptions=True,
        )
    await http.aclose()
    failures = [o for o in outcomes if not isinstance(o, SwapResult)]
    assert failures, "the pool was meant to run out"
    # every failure either waited for a connection from the pool (LocalFailure) or got too
    # little of the deadline to blame the vendor: none of it is the vendor's doing
    assert all(isinstance(o, errors.ProviderError) for o in failures)
    assert not any(o.blames_vendor for o in failures)
    for pooled in (o for o in failures if isinstance(o, errors.LocalFailure)):
        assert "httpx.Limits" in str(pooled)
        if pooled.attempts[-1].job_id is None:  # the submit never got a connection
            assert pooled.attempts[-1].charged is False
    assert breaker.store.get("deepswapai") == breaker.store.get("never-used")  # closed, 0


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
def test_a_full_connection_pool_opens_no_breaker_in_threads(
    swapkit_sandbox_server: Any, plugin_manager: pluggy.PluginManager
) -> None:
    sandbox = swapkit_sandbox_server.sandbox
    sandbox.faults.add(Fault(provider="deepswapai", kind="latency", seconds=0.1))
    url = swapkit_sandbox_server.base_url("deepswapai")
    limits = httpx.Limits(max_connections=4)
    http = httpx.Client(transport=swapkit.deadline_transport(limits=limits))
    breaker = CircuitBreaker(failure_threshold=3, clock=time.monotonic)
    with SwapClient(
        providers={"deepswapai": {"api_key": "ds-sandbox", "base_url": url}},
        plugin_manager=plugin_manager,
        http_client=http,
        circuit_breaker=breaker,
    ) as client:

        def one(_: int) -> Any:
            try:
                return client.swap(source=FACE, target=SCENE, deadline=1.0)
            except errors.SwapError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=40) as pool:
            outcomes = list(pool.map(one, range(120)))
    http.close()
    failures = [o for o in outcomes if not isinstance(o, SwapResult)]
    assert failures, "the pool was meant to run out"
    assert all(isinstance(o, errors.ProviderError) for o in failures)
    assert not any(o.blames_vendor for o in failures)
    assert breaker.store.get("deepswapai") == breaker.store.get("never-used")


def test_a_closed_client_is_a_local_failure(
    kind: str, sandbox_client: dict[str, Any], clock: FakeClock
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, clock=clock.monotonic)
    options = {**sandbox_client, "circuit_breaker": breaker}
    if kind == "sync":
        client = SwapClient(**options)
        client.close()
        with pytest.raises(errors.LocalFailure, match="closed") as info:
            client.swap(source=FACE, target=SCENE)
    else:

        async def go() -> None:
            client = AsyncSwapClient(**options)
            await client.aclose()
            await client.swap(source=FACE, target=SCENE)

        with pytest.raises(errors.LocalFailure, match="closed") as info:
            asyncio.run(go())
    assert info.value.attempts[-1].charged is False
    assert breaker.store.get("deepswapai").status == "closed"


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
def test_the_async_client_keeps_its_deadline_under_trio(
    swapkit_sandbox_server: Any, plugin_manager: pluggy.PluginManager
) -> None:
    """asyncio runs exchanges under its own timeout; any other loop under anyio's."""
    import anyio

    sandbox = {"api_key": "ds-sandbox", "base_url": swapkit_sandbox_server.base_url("deepswapai")}

    async def swap(settings: dict[str, Any]) -> Any:
        options = {"providers": {"deepswapai": settings}, "plugin_manager": plugin_manager}
        async with AsyncSwapClient(**options) as client:
            try:
                return await client.swap(source=FACE, target=SCENE, deadline=1.0)
            except errors.SwapError as exc:
                return exc

    result = anyio.run(swap, sandbox, backend="trio")
    assert result.provider == "deepswapai"
    with LoopbackServer(_Drip) as server:
        started = time.monotonic()
        dripped = {"api_key": "k", "base_url": server.url.rstrip("/")}
        outcome = anyio.run(swap, dripped, backend="trio")
    assert isinstance(outcome, errors.OutcomeUnknown)
    assert time.monotonic() - started < 2.0
