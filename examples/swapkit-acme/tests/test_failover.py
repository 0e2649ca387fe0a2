"""Failover between Acme and a built-in provider, both served by swapkit's sandbox.

Each test runs with the blocking and the async client (`kind`), on the fake clock the sandbox
shares, so Acme's five-second jobs are polled without waiting.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pluggy
import pytest
from PIL import Image
from swapkit import AsyncSwapClient, SwapClient, SwapResult, errors
from swapkit.sandbox import Fault, SandboxServer, sample_face, sample_scene
from swapkit.testing import FakeClock

ACME_PRICE = 0.02
CREDITS = 10


@pytest.fixture
def swapkit_sandbox_config(swapkit_sandbox_config: dict[str, Any]) -> dict[str, Any]:
    """conftest's sandbox, with a credit balance per key to see who charged what."""
    return {**swapkit_sandbox_config, "credits": CREDITS}


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which client runs the swap."""
    return str(request.param)


def provider_settings(server: SandboxServer, name: str) -> dict[str, Any]:
    """A provider pointed at its emulator, with the emulator's sandbox key."""
    vendor = server.sandbox.vendors[name]
    return {"api_key": vendor.default_api_keys[0], "base_url": server.base_url(name)}


def swap(
    kind: str,
    server: SandboxServer,
    clock: FakeClock,
    plugin_manager: pluggy.PluginManager,
    order: list[str],
    source: bytes | None = None,
) -> SwapResult:
    """One swap of the sample face into the sample scene, trying `order` in turn."""
    options: dict[str, Any] = {
        "providers": {name: provider_settings(server, name) for name in order},
        "clock": clock,
        "plugin_manager": plugin_manager,
        "circuit_breaker": False,
    }
    fields = {"source": source or sample_face(), "target": sample_scene()}
    if kind == "sync":
        with SwapClient(**options) as client:
            return client.swap(**fields)

    async def go() -> SwapResult:
        async with AsyncSwapClient(**options) as client:
            return await client.swap(**fields)

    return asyncio.run(go())


def requests_to(server: SandboxServer, name: str) -> list[tuple[str, str]]:
    """`(method, path)` of every request the emulator `name` received."""
    prefix = f"/{name}/"
    return [
        (r.method, r.path[len(prefix) - 1 :])
        for r in server.sandbox.requests
        if r.path.startswith(prefix)
    ]


def credits_spent(server: SandboxServer, name: str) -> int:
    vendor = server.sandbox.vendors[name]
    left = server.sandbox.credits_left(name, vendor.default_api_keys[0])
    assert left is not None
    return CREDITS - left


def test_acme_down_before_accepting_fails_over_to_prospolabs(
    kind: str,
    swapkit_sandbox_server: SandboxServer,
    clock: FakeClock,
    plugin_manager: pluggy.PluginManager,
) -> None:
    server = swapkit_sandbox_server
    server.sandbox.faults.add(Fault(provider="acme", status=503))

    result = swap(kind, server, clock, plugin_manager, ["acme", "prospolabs"])

    assert result.provider == "prospolabs"
    first, last = result.attempts[0], result.attempts[-1]
    assert first.provider == "acme"
    assert isinstance(first.error, errors.ProviderUnavailable)
    assert first.charged is False
    assert first.cost_usd == 0
    assert last.provider == "prospolabs"
    assert last.charged is True
    assert result.spent_usd == pytest.approx(last.cost_usd)
    assert requests_to(server, "acme") == [("POST", "/v1/swaps")]
    assert credits_spent(server, "acme") == 0
    assert credits_spent(server, "prospolabs") == 1


def test_prospolabs_down_acme_serves_by_polling_its_job(
    kind: str,
    swapkit_sandbox_server: SandboxServer,
    clock: FakeClock,
    plugin_manager: pluggy.PluginManager,
) -> None:
    server = swapkit_sandbox_server
    server.sandbox.faults.add(Fault(provider="prospolabs", status=503))
    start = clock.monotonic()

    result = swap(kind, server, clock, plugin_manager, ["prospolabs", "acme"])

    assert result.provider == "acme"
    assert [attempt.provider for attempt in result.attempts] == ["prospolabs", "acme"]
    assert result.attempts[0].charged is False
    assert result.attempts[-1].charged is True
    assert result.spent_usd == pytest.approx(ACME_PRICE)
    assert result.job_id is not None
    assert result.job_id.startswith("swp_")
    assert clock.monotonic() - start >= server.sandbox.settings.job_seconds, (
        "the job was not waited for"
    )
    seen = requests_to(server, "acme")
    assert seen[0] == ("POST", "/v1/swaps")
    polls = [path for method, path in seen if path == f"/v1/swaps/{result.job_id}"]
    assert len(polls) >= 2, seen  # queued or running at least once, then succeeded
    assert seen[-1][1].startswith("/results/"), "the result was not downloaded from the emulator"
    with Image.open(io.BytesIO(result.image)) as image:
        assert image.size == (result.width, result.height) == (512, 384)
    assert credits_spent(server, "acme") == 1


def test_a_failed_acme_job_is_refunded_and_fails_over(
    kind: str,
    swapkit_sandbox_server: SandboxServer,
    clock: FakeClock,
    plugin_manager: pluggy.PluginManager,
) -> None:
    server = swapkit_sandbox_server
    server.sandbox.faults.add(Fault(provider="acme", kind="job_failed", times=1))

    result = swap(kind, server, clock, plugin_manager, ["acme", "prospolabs"])

    assert result.provider == "prospolabs"
    acme = result.attempts[0]
    assert isinstance(acme.error, errors.JobFailed)
    assert acme.error.code == "processing_failed"
    assert acme.job_id is not None
    assert acme.charged is False  # accepted, then failed: Acme refunds it
    assert credits_spent(server, "acme") == 0


def test_no_face_ends_the_swap_at_acme_without_failing_over(
    kind: str,
    swapkit_sandbox_server: SandboxServer,
    clock: FakeClock,
    plugin_manager: pluggy.PluginManager,
) -> None:
    server = swapkit_sandbox_server
    flat = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(flat, "PNG")  # the sandbox finds no face in it

    with pytest.raises(errors.NoFaceDetected) as caught:
        swap(kind, server, clock, plugin_manager, ["acme", "prospolabs"], source=flat.getvalue())

    assert caught.value.provider == "acme"
    assert caught.value.code == "no_face"
    assert caught.value.spent_usd == 0
    assert requests_to(server, "prospolabs") == [], "another vendor would refuse it too"
    assert credits_spent(server, "acme") == 0
