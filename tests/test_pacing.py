"""Per-provider pacing: a 429 slows that vendor's share and no other, a saturated vendor's work
moves to the others, and the settings cap concurrency and rate."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pluggy
import pytest

import swapkit
from swapkit import SwapClient, errors
from swapkit.core.pacing import DEFAULT_PAUSE_SECONDS, MAX_PAUSE_SECONDS, Pacer
from swapkit.sandbox import Fault

from .conftest import FakeClock, make_image, run_batch

FACE = make_image((48, 40), (220, 180, 150))
PAGES = [make_image((64, 56), (10 * i, 90, 160)) for i in range(12)]


# -- the pacer alone ----------------------------------------------------------------------------


def test_a_429_pauses_the_provider_until_the_vendor_says() -> None:
    clock = FakeClock()
    pacer = Pacer(clock.monotonic)
    pacer.observe("a", httpx.Response(429, headers={"Retry-After": "30"}))
    refused = pacer.acquire("a", None, None)
    assert refused.reason is not None
    assert "rate-limited" in refused.reason
    assert refused.retry_in == pytest.approx(30)
    assert pacer.acquire("b", None, None).reason is None  # only that provider
    clock.now += 30
    assert pacer.acquire("a", None, None).reason is None


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, DEFAULT_PAUSE_SECONDS),
        ({"Retry-After": "7"}, 7.0),
        ({"X-RateLimit-Reset": "12"}, 12.0),
        ({"Retry-After": "99999999"}, MAX_PAUSE_SECONDS),
        ({"Retry-After": "soon"}, DEFAULT_PAUSE_SECONDS),
    ],
)
def test_the_pause_follows_the_headers_within_bounds(
    headers: dict[str, str], seconds: float
) -> None:
    pacer = Pacer(FakeClock().monotonic)
    pacer.observe("a", httpx.Response(429, headers=headers))
    assert pacer.paused_for("a") == pytest.approx(seconds, abs=1.0)


def test_a_success_with_nothing_remaining_pauses_too() -> None:
    pacer = Pacer(FakeClock().monotonic)
    pacer.observe("a", httpx.Response(200, headers={"X-RateLimit-Remaining": "5"}))
    assert pacer.paused_for("a") == 0
    pacer.observe(
        "a", httpx.Response(200, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "20"})
    )
    assert pacer.paused_for("a") == pytest.approx(20, abs=1.0)


def test_concurrency_and_rate_caps() -> None:
    clock = FakeClock()
    pacer = Pacer(clock.monotonic)
    assert pacer.acquire("a", 2, None).reason is None
    assert pacer.acquire("a", 2, None).reason is None
    saturated = pacer.acquire("a", 2, None)
    assert saturated.reason is not None
    assert "max_concurrency" in saturated.reason
    pacer.release("a")
    assert pacer.acquire("a", 2, None).reason is None
    assert pacer.in_flight("a") == 2

    assert pacer.acquire("b", None, 30).reason is None  # one every 2 s
    paced = pacer.acquire("b", None, 30)
    assert paced.reason is not None
    assert paced.retry_in == pytest.approx(2)
    clock.now += 2
    assert pacer.acquire("b", None, 30).reason is None


# -- on the sandbox ------------------------------------------------------------------------------


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    return {"job_seconds": 0.1, "credits": 1000}


def providers(server: Any, **extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        "prospolabs": {
            "api_key": "prsp-sandbox",
            "base_url": server.base_url("prospolabs"),
            "mode": "async",
            "poll_interval": 0.02,
            "price_usd": 1.0,
            **extra.get("prospolabs", {}),
        },
        "deepswapai": {
            "api_key": "ds-sandbox",
            "base_url": server.base_url("deepswapai"),
            "poll_interval": 0.02,
            "price_usd": 1.0,
            **extra.get("deepswapai", {}),
        },
    }


class InFlight:
    """Counts attempts in flight per provider, and the most seen at once."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self._lock = threading.Lock()

    @swapkit.hookimpl
    def attempt_started(self, provider: str) -> None:
        with self._lock:
            self.now[provider] = self.now.get(provider, 0) + 1
            self.most[provider] = max(self.most.get(provider, 0), self.now[provider])

    @swapkit.hookimpl
    def attempt_finished(self, attempt: swapkit.Attempt) -> None:
        if attempt.skipped:
            return
        with self._lock:
            self.now[attempt.provider] -= 1


def test_a_saturated_vendor_hands_its_overflow_to_the_others(
    kind: str, swapkit_sandbox_server: Any, plugin_manager: pluggy.PluginManager
) -> None:
    counter = InFlight()
    options = {
        "providers": providers(swapkit_sandbox_server, prospolabs={"max_concurrency": 2}),
        "plugin_manager": plugin_manager,
        "observers": [counter],
    }
    pages = [{"source": FACE, "target": page} for page in PAGES]
    items = run_batch(kind, options, pages, concurrency=6)
    assert all(item.ok for item in items)
    assert counter.most["prospolabs"] <= 2
    served = {item.provider for item in items}
    assert served == {"prospolabs", "deepswapai"}
    skipped = [
        attempt
        for item in items
        for attempt in item.attempts
        if attempt.skipped and "max_concurrency" in attempt.reason
    ]
    assert skipped


def test_a_429_slows_only_that_vendor_and_the_next_pages_go_elsewhere(
    kind: str, swapkit_sandbox_server: Any, plugin_manager: pluggy.PluginManager
) -> None:
    sandbox = swapkit_sandbox_server.sandbox
    # Prospolabs answers 429 with X-RateLimit-Reset: the whole window
    sandbox.faults.add(Fault(provider="prospolabs", kind="status", status=429))
    options = {
        "providers": providers(swapkit_sandbox_server),
        "plugin_manager": plugin_manager,
        "provider_retries": 0,
    }
    pages = [{"source": FACE, "target": page} for page in PAGES]
    items = run_batch(kind, options, pages, concurrency=2)
    assert all(item.ok and item.provider == "deepswapai" for item in items)
    limited = [r for r in sandbox.requests if r.path.startswith("/prospolabs")]
    # the pages in flight when the first 429 came back met it; none after
    assert len(limited) <= 2
    later = [item for item in items if any("rate-limited" in a.reason for a in item.attempts)]
    assert len(later) >= len(PAGES) - 2


def test_when_every_vendor_is_paused_the_swap_waits_within_its_deadline(
    kind: str, swapkit_sandbox_server: Any, plugin_manager: pluggy.PluginManager
) -> None:
    sandbox = swapkit_sandbox_server.sandbox
    sandbox.faults.add(Fault(provider="deepswapai", kind="status", status=429, times=1))
    options = {
        "providers": {"deepswapai": providers(swapkit_sandbox_server)["deepswapai"]},
        "plugin_manager": plugin_manager,
        "deadline": 10,
    }
    # the first page meets the 429 (DeepSwapAI sends no Retry-After: a 1 s pause); the next
    # page, with no other vendor to go to, waits out the pause instead of hitting the wall
    pages = [{"source": FACE, "target": page} for page in PAGES[:3]]
    items = sorted(run_batch(kind, options, pages, concurrency=1), key=lambda item: item.index)
    assert isinstance(items[0].error, errors.RateLimited)
    assert items[1].ok
    assert items[2].ok
    reasons = [attempt.reason for attempt in items[1].attempts]
    assert any("rate-limited" in reason for reason in reasons)
    assert items[1].attempts[-1].ok
    assert len([r for r in sandbox.requests if r.method == "POST"]) == 3


def test_pacing_settings_are_validated(swapkit_sandbox_server: Any) -> None:
    for bad in ({"max_concurrency": 0}, {"requests_per_minute": -1}):
        with pytest.raises(errors.ConfigurationError):
            SwapClient(providers=providers(swapkit_sandbox_server, prospolabs=bad))
