"""Shared fixtures: no real waiting, no stray environment, a fresh plugin manager per test."""

from __future__ import annotations

import asyncio
import io
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pluggy
import pytest
import stamina
from hypothesis import settings
from PIL import Image

from swapkit import AsyncSwapClient, BatchItem, SwapClient, SwapResult
from swapkit.core.plugins import make_plugin_manager

from .clock import FakeClock

__all__ = ["FakeClock", "make_image", "padded_png", "run_swap"]

# CI runs the property tests deterministically (a failure there is reproducible from the seed
# printed); local runs stay random, which is how new failing inputs are found.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

pytest_plugins = ["tests.cassettes"]

#: A separate application project with its own tests, run by tests/test_app_project.py.
collect_ignore = ["app_project"]


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    """Back-off waits are skipped and an upload or submit is tried once (stamina's testing
    switch, which swapkit honours), unless a test opts in; reads of an accepted job are still
    retried as the policy says."""
    with stamina.set_testing(True, attempts=1):
        yield


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any) -> None:
    """Tests see no swapkit or vendor settings from the machine they run on, no plugin
    emulator, and the CLI's default ledger lands in a temporary data directory, never in the
    user's."""
    for name in list(os.environ):
        if name.startswith(("SWAPKIT_", "PROSPOLABS_", "ACEDATACLOUD_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))
    # a sandbox here mounts the built-in emulators only, whatever plugin is installed
    monkeypatch.setenv("SWAPKIT_SANDBOX_DISABLE_PLUGINS", "1")


#: The environment as the suite was started, before `_clean_environment` hides ``SWAPKIT_*``.
_SERVICES = {
    name: os.environ.get(name) for name in ("SWAPKIT_TEST_REDIS", "SWAPKIT_REQUIRE_SERVICES")
}


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a Redis server that answers (``SWAPKIT_TEST_REDIS``, else the local one).

    A test that needs Redis skips, with a reason naming it, when there is none, unless
    ``SWAPKIT_REQUIRE_SERVICES=1`` (CI sets it): then it fails.  Both variables are read as
    the suite started.  The server is pinged once per session; tests that talk to it allow
    loopback themselves.
    """
    url = _SERVICES["SWAPKIT_TEST_REDIS"] or "redis://127.0.0.1:6379/0"
    problem = None
    try:
        import redis
    except ImportError:
        problem = "redis-py is not installed (pip install 'swapkit[redis]')"
    else:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        except redis.RedisError as exc:
            problem = f"Redis is not reachable at {url}: {exc}"
        finally:
            client.close()
    if problem is not None:
        if _SERVICES["SWAPKIT_REQUIRE_SERVICES"]:
            pytest.fail(f"{problem} (SWAPKIT_REQUIRE_SERVICES=1 requires it)")
        pytest.skip(problem)
    return url


@pytest.fixture
def plugin_manager() -> pluggy.PluginManager:
    """Built-in providers only: nothing installed on the machine leaks into a test."""
    return make_plugin_manager(entry_points=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_image(
    size: tuple[int, int] = (48, 40),
    color: tuple[int, int, int] = (200, 120, 80),
    fmt: str = "PNG",
    *,
    pattern: bool = True,
) -> bytes:
    """A small real image; with `pattern` it has structure (a 'face' for the sandbox)."""
    image = Image.new("RGB", size, color)
    if pattern:
        for x in range(size[0] // 4, size[0] // 2):
            for y in range(size[1] // 4, size[1] // 2):
                image.putpixel((x, y), (20, 40, 60))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def padded_png(total_bytes: int) -> bytes:
    """A valid PNG of exactly `total_bytes`: a small image with a large private chunk."""
    png = make_image((8, 8))
    padding = total_bytes - len(png) - 12
    chunk = b"swPd" + bytes(padding)
    blob = struct.pack(">I", padding) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return png[:33] + blob + png[33:]  # after the signature and the IHDR chunk


@pytest.fixture
def face_png() -> bytes:
    return make_image((48, 40), (220, 180, 150))


@pytest.fixture
def scene_png() -> bytes:
    return make_image((64, 56), (30, 90, 160))


def run_swap(kind: Literal["sync", "async"], client: dict[str, Any], **fields: Any) -> SwapResult:
    """One swap through a fresh `SwapClient` or `AsyncSwapClient` built from `client`."""
    if kind == "sync":
        with SwapClient(**client) as sync_client:
            return sync_client.swap(**fields)

    async def go() -> SwapResult:
        async with AsyncSwapClient(**client) as async_client:
            return await async_client.swap(**fields)

    return asyncio.run(go())


def run_batch(kind: str, client: dict[str, Any], requests: Any, **batch: Any) -> list[BatchItem]:
    """One batch through a fresh client of `kind` built from `client`; every item it yielded."""
    if kind == "sync":
        with SwapClient(**client) as sync_client:
            return list(sync_client.batch(requests, **batch))

    async def go() -> list[BatchItem]:
        async with AsyncSwapClient(**client) as async_client:
            return [item async for item in async_client.batch(requests, **batch)]

    return asyncio.run(go())


# -- a provider against the served sandbox ------------------------------------------------------
# Modules that test one provider against the sandbox set ``PROVIDER = "<name>"`` (and, for extra
# provider settings, ``SETTINGS = {...}``) and get these fixtures; a module may override any.


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which client runs the test: every such test runs once with each."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def sandbox(swapkit_sandbox_server: Any) -> Any:
    """The `Sandbox` behind the served one."""
    return swapkit_sandbox_server.sandbox


@pytest.fixture
def settings(swapkit_sandbox_server: Any, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The module's ``PROVIDER`` settings pointing at the sandbox, with its default key."""
    name = request.module.PROVIDER
    key = swapkit_sandbox_server.sandbox.vendors[name].default_api_keys[0]
    extra = getattr(request.module, "SETTINGS", {})
    return {"api_key": key, "base_url": swapkit_sandbox_server.base_url(name), **extra}


@pytest.fixture
def swap(
    kind: Literal["sync", "async"],
    settings: dict[str, Any],
    clock: FakeClock,
    plugin_manager: pluggy.PluginManager,
    request: pytest.FixtureRequest,
) -> Callable[..., SwapResult]:
    """Swap through the module's ``PROVIDER`` with `kind`'s client.

    ``client={...}`` adds client keywords; its ``"settings"`` entry overrides provider settings.
    """
    name = request.module.PROVIDER

    def run(*, client: dict[str, Any] | None = None, **fields: Any) -> SwapResult:
        extra = dict(client or {})
        options = {
            "providers": {name: {**settings, **extra.pop("settings", {})}},
            "clock": clock,
            "plugin_manager": plugin_manager,
            **extra,
        }
        return run_swap(kind, options, **fields)

    return run
