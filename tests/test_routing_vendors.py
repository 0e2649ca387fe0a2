"""Routing across the real vendors on one sandbox: strategies, the failover table, breakers,
observers, template routing.  Each test runs with both clients."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest

import swapkit
from swapkit import SwapResult, Template, errors
from swapkit.core.breaker import CircuitBreaker
from swapkit.core.strategies import FastestStrategy
from swapkit.providers.deepswapai import Deepswapai
from swapkit.providers.prospolabs import Prospolabs

from .conftest import FakeClock, make_image, run_swap

KEYS = {
    "prospolabs": "prsp-sandbox",
    "deepswapai": "ds-sandbox",
    "acedata": "acedata-sandbox",
    "eventstation": "es-sandbox",
}


@pytest.fixture
def swapkit_sandbox_config(clock: FakeClock) -> dict[str, Any]:
    return {
        "clock": clock.monotonic,
        "job_seconds": 3.0,
        "vendor_options": {"eventstation": {"result_scale": 0.05}},
    }


@pytest.fixture
def sandbox(swapkit_sandbox_server: Any) -> Any:
    return swapkit_sandbox_server.sandbox


@pytest.fixture
def providers(swapkit_sandbox_server: Any) -> dict[str, dict[str, Any]]:
    return {
        name: {"api_key": key, "base_url": swapkit_sandbox_server.base_url(name)}
        for name, key in KEYS.items()
    }


class Recorder:
    """An observer that keeps every event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @swapkit.hookimpl
    def attempt_started(self, provider: str, reason: str) -> None:
        self.events.append(("started", provider))

    @swapkit.hookimpl
    def attempt_finished(self, attempt: swapkit.Attempt) -> None:
        self.events.append(("finished", (attempt.provider, type(attempt.error).__name__)))

    @swapkit.hookimpl
    def failover(self, from_provider: str, to_provider: str) -> None:
        self.events.append(("failover", (from_provider, to_provider)))

    @swapkit.hookimpl
    def breaker_changed(self, provider: str, old: str, new: str) -> None:
        self.events.append(("breaker", (provider, old, new)))


@pytest.fixture(params=["sync", "async"])
def swap(
    request: pytest.FixtureRequest,
    providers: dict[str, dict[str, Any]],
    clock: FakeClock,
    plugin_manager: pluggy.PluginManager,
) -> Any:
    def run(names: list[str], *, client: dict[str, Any] | None = None, **fields: Any) -> Any:
        options = {
            "providers": {name: providers[name] for name in names},
            "clock": clock,
            "plugin_manager": plugin_manager,
            **(client or {}),
        }
        return run_swap(request.param, options, **fields)

    return run


def calls(sandbox: Any, vendor: str) -> int:
    return sum(r.path.startswith(f"/{vendor}/") for r in sandbox.requests)


def _fault(vendor: str, **fields: Any) -> Any:
    from swapkit.sandbox import Fault

    return Fault(provider=vendor, **fields)


# -- the "done when" -------------------------------------------------------------------


def test_prospolabs_down_is_served_by_deepswapai_with_both_attempts(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault("prospolabs", status=503))
    result: SwapResult = swap(["prospolabs", "deepswapai"], source=face_png, target=scene_png)
    assert result.provider == "deepswapai"
    assert [(a.provider, type(a.error).__name__) for a in result.attempts] == [
        ("prospolabs", "ProviderUnavailable"),
        ("deepswapai", "NoneType"),
    ]


def test_no_face_at_prospolabs_never_reaches_deepswapai(
    swap: Any, sandbox: Any, scene_png: bytes
) -> None:
    with pytest.raises(errors.NoFaceDetected):
        swap(["prospolabs", "deepswapai"], source=make_image(pattern=False), target=scene_png)
    assert calls(sandbox, "deepswapai") == 0


def test_cheapest_goes_to_the_cheaper_vendor_first(
    swap: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch, face_png: bytes, scene_png: bytes
) -> None:
    monkeypatch.setenv("SWAPKIT_DEEPSWAPAI_PRICE_USD", "0.01")
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_PRICE_USD", "0.05")
    result = swap(
        ["prospolabs", "deepswapai"],
        client={"strategy": "cheapest"},
        source=face_png,
        target=scene_png,
    )
    assert result.provider == "deepswapai"
    assert result.cost_usd == 0.01
    assert result.attempts[0].reason == "expected price $0.0100"
    assert calls(sandbox, "prospolabs") == 0


def test_a_budget_below_every_price_sends_nothing(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    with pytest.raises(errors.NoEligibleProvider, match="over the budget"):
        swap(["prospolabs", "acedata"], source=face_png, target=scene_png, max_cost_usd=0.005)
    assert sandbox.requests == []


def test_a_failing_provider_stops_being_called(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes, clock: FakeClock
) -> None:
    sandbox.faults.add(_fault("prospolabs", status=500))
    recorder = Recorder()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_seconds=60, clock=clock.monotonic)
    options = {"circuit_breaker": breaker, "observers": [recorder]}

    def one() -> SwapResult:
        return swap(["prospolabs", "deepswapai"], client=options, source=face_png, target=scene_png)

    # the client is rebuilt per swap here, but the breaker object (and its store) is shared
    for _ in range(3):
        assert one().provider == "deepswapai"
    assert calls(sandbox, "prospolabs") == 3
    assert ("breaker", ("prospolabs", "closed", "open")) in recorder.events
    skipped = one()
    assert calls(sandbox, "prospolabs") == 3  # not called while open
    assert skipped.attempts[0].reason.startswith("skipped: circuit open")
    clock.sleep(61)
    sandbox.faults.clear()
    probe = one()
    assert probe.provider == "prospolabs"  # the half-open probe succeeded
    assert ("breaker", ("prospolabs", "half_open", "closed")) in recorder.events


def test_every_provider_open_waits_for_the_first_recovery(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=20, clock=clock.monotonic)
    sandbox.faults.add(_fault("deepswapai", status=500, times=1))
    with pytest.raises(errors.ProviderUnavailable):
        swap(["deepswapai"], client={"circuit_breaker": breaker}, source=face_png, target=scene_png)
    started = clock.now
    result = swap(
        ["deepswapai"], client={"circuit_breaker": breaker}, source=face_png, target=scene_png
    )
    assert result.provider == "deepswapai"
    assert clock.now - started == pytest.approx(20)


def test_an_open_breaker_past_the_deadline_fails_at_once(
    swap: Any, face_png: bytes, scene_png: bytes, clock: FakeClock, sandbox: Any
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=600, clock=clock.monotonic)
    sandbox.faults.add(_fault("deepswapai", status=500, times=1))
    with pytest.raises(errors.ProviderUnavailable):
        swap(["deepswapai"], client={"circuit_breaker": breaker}, source=face_png, target=scene_png)
    with pytest.raises(errors.ProviderUnavailable, match="circuit open"):
        swap(["deepswapai"], client={"circuit_breaker": breaker}, source=face_png, target=scene_png)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 401}, errors.AuthenticationError),
        ({"status": 403}, errors.InsufficientCredits),
        ({"status": 429}, errors.RateLimited),
        ({"status": 504}, errors.ProviderTimeout),
        ({"kind": "job_failed"}, errors.JobFailed),
    ],
)
def test_the_default_failover_table(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes, fault: dict[str, Any], error: type
) -> None:
    sandbox.faults.add(_fault("prospolabs", times=1, **fault))
    result = swap(["prospolabs", "deepswapai"], source=face_png, target=scene_png)
    assert result.provider == "deepswapai"
    assert isinstance(result.attempts[0].error, error)


def test_a_cut_result_download_is_fetched_again_not_bought_again(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault("prospolabs", kind="truncated", path="/results/*", times=1))
    result = swap(["prospolabs", "deepswapai"], source=face_png, target=scene_png)
    assert result.provider == "prospolabs"
    assert [attempt.provider for attempt in result.attempts] == ["prospolabs"]
    assert sum("/results/" in request.path for request in sandbox.requests) == 2


def test_a_content_refusal_is_not_routed_elsewhere(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault("acedata", code="forbidden", path="/face/swap", times=1))
    with pytest.raises(errors.ContentRefused):
        swap(["acedata", "deepswapai"], source=face_png, target=scene_png)
    assert calls(sandbox, "deepswapai") == 0


def test_templates_go_only_to_template_providers(swap: Any, sandbox: Any, face_png: bytes) -> None:
    result = swap(
        ["prospolabs", "deepswapai", "eventstation"],
        source=face_png,
        target=Template("12"),
        options={"eventstation": {"gender": "female"}},
    )
    assert result.provider == "eventstation"
    assert [a.provider for a in result.attempts if a.reason.startswith("skipped")] == [
        "prospolabs",
        "deepswapai",
    ]
    assert calls(sandbox, "prospolabs") == calls(sandbox, "deepswapai") == 0


def test_a_vendor_that_accepts_and_stalls_is_bounded_by_the_deadline(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes, clock: FakeClock
) -> None:
    sandbox.faults.add(_fault("prospolabs", kind="never_finish", times=1))
    started = clock.now
    with pytest.raises(errors.ProviderTimeout, match="deadline"):
        swap(["prospolabs", "deepswapai"], source=face_png, target=scene_png, deadline=300)
    assert clock.now - started == pytest.approx(300)
    submits = [r for r in sandbox.requests if "/v1/swap/" in r.path]
    assert len(submits) == 1  # the accepted job was polled, never resubmitted
    assert calls(sandbox, "deepswapai") == 0  # no time was left to fail over


def test_observers_see_every_step(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault("prospolabs", status=502, times=5))
    recorder = Recorder()
    swap(
        ["prospolabs", "deepswapai"],
        client={"observers": [recorder]},
        source=face_png,
        target=scene_png,
    )
    kinds = [kind for kind, _ in recorder.events]
    assert kinds[:2] == ["started", "finished"]
    assert ("failover", ("prospolabs", "deepswapai")) in recorder.events
    assert recorder.events[-1] == ("finished", ("deepswapai", "NoneType"))


def test_fastest_learns_from_attempts() -> None:
    strategy = FastestStrategy(smoothing=1.0)
    slow, quick = Prospolabs(api_key="k"), Deepswapai(api_key="k")
    request = swapkit.SwapRequest(source=b"x", target=b"y")
    assert [p.name for p, _ in strategy.rank([slow, quick], request)] == [
        "deepswapai",
        "prospolabs",
    ]  # declared: 5 s vs 20 s
    strategy.observe(swapkit.Attempt(provider="deepswapai", elapsed_seconds=40.0))
    ranked = strategy.rank([slow, quick], request)
    assert [p.name for p, _ in ranked] == ["prospolabs", "deepswapai"]
    assert ranked[1][1] == "expected latency 40.0 s"


def test_the_deadline_bounds_a_vendor_that_hangs(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault("deepswapai", kind="timeout", seconds=5.0, times=1))
    with pytest.raises(errors.OutcomeUnknown) as info:
        swap(["deepswapai"], source=face_png, target=scene_png, deadline=0.3)
    assert "within 0.3s" in str(info.value)  # the HTTP timeout was cut to the deadline
    assert not info.value.retryable  # the submit may have been accepted: never resent
