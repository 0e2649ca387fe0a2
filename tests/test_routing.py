"""Ordered failover between providers, eligibility before sending, and the attempt ledger.

A second provider class ("backup") speaks the Prospolabs contract and points at the same
sandbox, so one sandbox serves both and a fault hits whichever provider asks first.
"""

from __future__ import annotations

from typing import Any

import pytest
import stamina

from swapkit import SwapResult, errors
from swapkit.providers.prospolabs import Prospolabs

from .conftest import FakeClock, make_image, run_swap


class Backup(Prospolabs):
    name = "backup"
    display_name = "A second Prospolabs-compatible vendor"


@pytest.fixture
def swapkit_sandbox_config(clock: FakeClock) -> dict[str, Any]:
    return {"clock": clock.monotonic}


@pytest.fixture(params=["sync", "async"])
def swap(request: pytest.FixtureRequest, swapkit_sandbox_server: Any, clock: FakeClock) -> Any:
    base_url = swapkit_sandbox_server.base_url("prospolabs")

    def run(keys: tuple[Any, Any] = ("prsp-sandbox", "prsp-sandbox"), **fields: Any) -> SwapResult:
        providers = [
            Prospolabs(api_key=keys[0], base_url=base_url),
            Backup(api_key=keys[1], base_url=base_url),
        ]
        client = {"providers": providers, "clock": clock}
        client.update(fields.pop("client", {}))
        return run_swap(request.param, client, **fields)

    return run


def _fault(**fields: Any) -> Any:
    from swapkit.sandbox import Fault

    return Fault(provider="prospolabs", path="/v1/swap/*", **fields)


def _submits(server: Any) -> int:
    return sum("/v1/swap/" in r.path for r in server.sandbox.requests)


def test_failover_to_the_next_provider(
    swap: Any, swapkit_sandbox_server: Any, face_png: bytes, scene_png: bytes
) -> None:
    swapkit_sandbox_server.sandbox.faults.add(_fault(status=503, times=1))
    result = swap(source=face_png, target=scene_png)
    assert result.provider == "backup"
    first, second = result.attempts
    assert (first.provider, type(first.error)) == ("prospolabs", errors.ProviderUnavailable)
    assert first.cost_usd == 0.0
    assert (second.provider, second.error) == ("backup", None)
    assert "failover after ProviderUnavailable" in second.reason
    assert result.cost_usd == second.cost_usd == 0.05


def test_no_face_ends_the_swap_without_failover(
    swap: Any, swapkit_sandbox_server: Any, scene_png: bytes
) -> None:
    with pytest.raises(errors.NoFaceDetected):
        swap(source=make_image(pattern=False), target=scene_png)
    assert _submits(swapkit_sandbox_server) == 1


def test_every_provider_failing_is_all_providers_failed(
    swap: Any, swapkit_sandbox_server: Any, face_png: bytes, scene_png: bytes
) -> None:
    swapkit_sandbox_server.sandbox.faults.add(_fault(status=500, times=2))
    with pytest.raises(errors.AllProvidersFailed) as info:
        swap(source=face_png, target=scene_png)
    assert [a.provider for a in info.value.attempts] == ["prospolabs", "backup"]
    assert all(isinstance(a.error, errors.ProviderUnavailable) for a in info.value.attempts)
    assert "prospolabs" in str(info.value)
    assert "backup" in str(info.value)


def test_attempt_budget_is_shared_by_hops(
    swap: Any, swapkit_sandbox_server: Any, face_png: bytes, scene_png: bytes
) -> None:
    swapkit_sandbox_server.sandbox.faults.add(_fault(status=500, times=2))
    with pytest.raises(errors.ProviderUnavailable):
        swap(source=face_png, target=scene_png, max_attempts=1)
    assert _submits(swapkit_sandbox_server) == 1


def test_an_unconfigured_provider_is_skipped_with_its_reason(
    swap: Any, face_png: bytes, scene_png: bytes
) -> None:
    result = swap(keys=(None, "prsp-sandbox"), source=face_png, target=scene_png)
    assert result.provider == "backup"
    skipped, served = result.attempts
    assert skipped.provider == "prospolabs"
    assert "SWAPKIT_PROSPOLABS_API_KEY" in skipped.reason
    assert served.error is None


def test_no_eligible_provider_lists_every_reason(
    swap: Any, swapkit_sandbox_server: Any, face_png: bytes, scene_png: bytes
) -> None:
    with pytest.raises(errors.NoEligibleProvider) as info:
        swap(keys=(None, None), source=face_png, target=scene_png)
    assert set(info.value.reasons) == {"prospolabs", "backup"}
    assert "SWAPKIT_BACKUP_API_KEY" in str(info.value)
    with pytest.raises(errors.NoEligibleProvider, match=r"over the budget of \$0\.0100"):
        swap(source=face_png, target=scene_png, max_cost_usd=0.01)
    assert swapkit_sandbox_server.sandbox.requests == []


def test_face_index_needs_a_provider_that_takes_it(
    swap: Any, swapkit_sandbox_server: Any, face_png: bytes, scene_png: bytes
) -> None:
    with pytest.raises(errors.NoEligibleProvider, match=r"face_index"):
        swap(source=face_png, target=scene_png, face_index=1)
    assert swapkit_sandbox_server.sandbox.requests == []


@pytest.mark.parametrize("max_attempts", [4, 10])
def test_a_down_provider_is_retried_once_then_failed_over(
    swap: Any, swapkit_sandbox_server: Any, face_png: bytes, scene_png: bytes, max_attempts: int
) -> None:
    swapkit_sandbox_server.sandbox.faults.add(_fault(status=503, times=2))
    with stamina.set_testing(True, attempts=10):
        result = swap(source=face_png, target=scene_png, max_attempts=max_attempts)
    assert result.provider == "backup"
    assert _submits(swapkit_sandbox_server) == 3  # prospolabs twice (one retry), backup once


def test_the_last_provider_may_use_the_whole_budget(
    swap: Any, swapkit_sandbox_server: Any, face_png: bytes, scene_png: bytes
) -> None:
    swapkit_sandbox_server.sandbox.faults.add(_fault(status=503, times=4))
    with stamina.set_testing(True, attempts=10):
        result = swap(source=face_png, target=scene_png, max_attempts=6)
    assert result.provider == "backup"
    assert _submits(swapkit_sandbox_server) == 5  # prospolabs 2, backup 2 failed + 1 served
