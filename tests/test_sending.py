"""Whether a submit reached the vendor, told over real sockets.

A request the vendor never received in full cannot have started a paid job: it is safe to send
again (`ProviderUnavailable`, retryable).  One it received in full, whose answer was lost, may
have (`OutcomeUnknown`): it is never sent again.  The clients swapkit builds learn how far the
request got from their sockets (`swapkit.core.http`); a caller's own `httpx.Client` or
`httpx.AsyncClient` tells it through httpcore's trace events.  Every path is run here against
a server that hangs up at a chosen point.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pluggy
import pytest

import swapkit
from swapkit import errors

from .conftest import padded_png, run_swap

#: Base64 makes this a 12 MB field, sent twice: far more than the sockets' buffers hold.
LARGE = padded_png(9 * 1024 * 1024)


class _HangingUpVendor:
    """A TCP server on 127.0.0.1 that reads each request's head, then either hangs up at once
    with a reset, its body unread (`read_body` false), or reads the whole body and closes
    without an answer.  Its receive buffer is small, so a large body cannot be handed to the
    kernel in full before the reset."""

    def __init__(self, *, read_body: bool) -> None:
        self._read_body = read_body
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.requests = 0
        self.bodies_read = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> _HangingUpVendor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with connection, contextlib.suppress(OSError):
                connection.settimeout(5)
                self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                return
            data += chunk
        self.requests += 1
        head, _, body = data.partition(b"\r\n\r\n")
        if not self._read_body:
            # a reset, not an orderly close: the client's next write fails
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        received = len(body)
        while received < length:
            chunk = connection.recv(1 << 20)
            if not chunk:
                return
            received += len(chunk)
        self.bodies_read += 1


def _client(vendor: _HangingUpVendor, **extra: Any) -> dict[str, Any]:
    return {
        "providers": {"prospolabs": {"api_key": "k", "base_url": vendor.url}},
        "provider_retries": 0,
        **extra,
    }


@pytest.fixture
def unread() -> Iterator[_HangingUpVendor]:
    with _HangingUpVendor(read_body=False) as vendor:
        yield vendor


@pytest.fixture
def unanswered() -> Iterator[_HangingUpVendor]:
    with _HangingUpVendor(read_body=True) as vendor:
        yield vendor


def _supplied_clients() -> dict[str, Any]:
    return {
        "deadline_transport": lambda: httpx.Client(transport=swapkit.deadline_transport()),
        "plain": httpx.Client,
    }


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
def test_a_submit_cut_off_while_sent_may_be_sent_again(
    kind: str, plugin_manager: pluggy.PluginManager, unread: _HangingUpVendor
) -> None:
    client = _client(unread, plugin_manager=plugin_manager)
    with pytest.raises(errors.SwapError) as raised:
        run_swap(kind, client, source=LARGE, target=LARGE, deadline=20)
    assert type(raised.value) is errors.ProviderUnavailable, raised.value
    assert raised.value.retryable
    assert "could not be sent in full" in str(raised.value)
    assert unread.requests == 1


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
def test_a_submit_received_in_full_and_unanswered_is_never_sent_again(
    kind: str, plugin_manager: pluggy.PluginManager, unanswered: _HangingUpVendor
) -> None:
    client = _client(unanswered, plugin_manager=plugin_manager, provider_retries=3)
    with pytest.raises(errors.OutcomeUnknown):
        run_swap(kind, client, source=LARGE, target=LARGE, deadline=20)
    assert unanswered.requests == unanswered.bodies_read == 1


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
@pytest.mark.parametrize("http", sorted(_supplied_clients()))
def test_a_callers_own_client_tells_sent_from_unsent_too(
    http: str,
    plugin_manager: pluggy.PluginManager,
    unread: _HangingUpVendor,
    unanswered: _HangingUpVendor,
) -> None:
    for vendor, expected in (
        (unread, errors.ProviderUnavailable),
        (unanswered, errors.OutcomeUnknown),
    ):
        with _supplied_clients()[http]() as supplied:
            client = _client(vendor, plugin_manager=plugin_manager, http_client=supplied)
            with pytest.raises(errors.SwapError) as raised:
                run_swap("sync", client, source=LARGE, target=LARGE, deadline=20)
        assert type(raised.value) is expected, raised.value
        assert vendor.requests == 1


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
def test_a_callers_own_async_client_tells_sent_from_unsent_too(
    plugin_manager: pluggy.PluginManager,
    unread: _HangingUpVendor,
    unanswered: _HangingUpVendor,
) -> None:
    async def swap(vendor: _HangingUpVendor) -> errors.SwapError:
        async with httpx.AsyncClient() as supplied:
            options = _client(vendor, plugin_manager=plugin_manager, http_client=supplied)
            async with swapkit.AsyncSwapClient(**options) as client:
                with pytest.raises(errors.SwapError) as raised:
                    await client.swap(source=LARGE, target=LARGE, deadline=20)
        return raised.value

    assert type(asyncio.run(swap(unread))) is errors.ProviderUnavailable
    assert type(asyncio.run(swap(unanswered))) is errors.OutcomeUnknown
    assert unread.requests == unanswered.requests == 1
