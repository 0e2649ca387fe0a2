"""Fixtures for the sandbox contract tests.

`client` is a plain `httpx.Client` for the Prospolabs mount, through the in-process transport
(`mode="transport"`) or the loopback server (`mode="server"`); tests that must hold for both ask
for `any_client`, which is parametrized over the two. `ace` and `any_ace` are the same for the
AceDataCloud mount (`make_client(provider="acedata")`); `make_client(provider="eventstation")`
gives EventStation clients and `make_client(provider="deepswapai")` DeepSwapAI ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from swapkit.sandbox import FakeClock, Sandbox, SandboxServer

from .helpers import ACE_AUTH, AUTH, DS_AUTH, ES_AUTH

_AUTH = {"prospolabs": AUTH, "acedata": ACE_AUTH, "eventstation": ES_AUTH, "deepswapai": DS_AUTH}

ClientFactory = Callable[..., httpx.Client]


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def swapkit_sandbox_config(fake_clock: FakeClock) -> dict[str, Any]:
    """Every sandbox in these tests runs on a fake clock and retries webhooks at once."""
    return {"clock": fake_clock, "webhook_retry_delays": (0, 0, 0, 0), "hang_seconds": 5.0}


@pytest.fixture
def sandbox(swapkit_sandbox: Sandbox) -> Sandbox:
    return swapkit_sandbox


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """Transport-backed client for the Prospolabs mount, authenticated with the default key."""
    with httpx.Client(
        transport=sandbox.transport(),
        base_url="http://sandbox.test/prospolabs",
        headers=AUTH,
    ) as http:
        yield http


@pytest.fixture(params=["transport", "server"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_client(
    mode: str, sandbox: Sandbox, request: pytest.FixtureRequest
) -> Iterator[ClientFactory]:
    """Build sync clients for the current `mode` (closed after the test)."""
    clients: list[httpx.Client] = []
    server: SandboxServer | None = None
    if mode == "server":
        server = request.getfixturevalue("swapkit_sandbox_server")

    def factory(provider: str = "prospolabs", **kwargs: Any) -> httpx.Client:
        headers = _AUTH[provider]
        if server is not None:
            http = httpx.Client(base_url=server.base_url(provider), headers=headers, **kwargs)
        else:
            http = httpx.Client(
                transport=sandbox.transport(),
                base_url=f"http://sandbox.test/{provider}",
                headers=headers,
                **kwargs,
            )
        clients.append(http)
        return http

    yield factory
    for http in clients:
        http.close()


@pytest.fixture
def any_client(make_client: ClientFactory) -> httpx.Client:
    return make_client()


@pytest.fixture
def ace(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """Transport-backed client for the AceDataCloud mount, with the default token."""
    with httpx.Client(
        transport=sandbox.transport(), base_url="http://sandbox.test/acedata", headers=ACE_AUTH
    ) as http:
        yield http


@pytest.fixture
def any_ace(make_client: ClientFactory) -> httpx.Client:
    """An AceDataCloud client through the transport and through the loopback server."""
    return make_client(provider="acedata")
