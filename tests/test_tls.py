"""The clients swapkit builds share one TLS context: httpx loads the root certificates anew for
every client it makes (about 20 ms), which an application that makes a client per task or per
request would pay every time."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import certifi
import pytest

import swapkit
from swapkit import AsyncSwapClient, SwapClient
from swapkit.core import http

PROVIDERS = {"prospolabs": {"api_key": "k"}}


@pytest.fixture
def roots_loaded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each time a TLS context with root certificates is made (no shared one yet)."""
    monkeypatch.setattr(http, "_ssl_contexts", {})
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    made: list[dict[str, Any]] = []
    original = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counted)
    return made


def test_clients_load_the_roots_once(roots_loaded: list[dict[str, Any]]) -> None:
    for _ in range(3):
        SwapClient(providers=PROVIDERS, config=False).close()
    for _ in range(2):
        asyncio.run(AsyncSwapClient(providers=PROVIDERS, config=False).aclose())
    swapkit.deadline_transport().close()
    assert len(roots_loaded) == 1
    assert roots_loaded[0].get("cafile") == certifi.where()


def test_the_roots_follow_ssl_cert_file(
    roots_loaded: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    SwapClient(providers=PROVIDERS, config=False).close()
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    SwapClient(providers=PROVIDERS, config=False).close()
    SwapClient(providers=PROVIDERS, config=False).close()
    assert len(roots_loaded) == 2
    assert http.shared_ssl_context() is not http._ssl_contexts[(None, None)]


def test_tls_options_of_the_caller_are_not_shared(roots_loaded: list[dict[str, Any]]) -> None:
    swapkit.deadline_transport(verify=False).close()
    swapkit.deadline_transport(trust_env=False).close()
    swapkit.deadline_transport().close()
    assert len(roots_loaded) == 2  # the trust_env=False transport's own, and the shared one
    assert all(made.get("cafile") == certifi.where() for made in roots_loaded)
