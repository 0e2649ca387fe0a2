"""In-process shell: an `httpx.MockTransport` that answers from a `Sandbox`, no sockets.

Design: one transport object serves both `httpx.Client` and `httpx.AsyncClient` (MockTransport
implements both interfaces). Faults that a real server expresses through its socket become the
exceptions httpx itself would raise: a dropped connection is `httpx.RemoteProtocolError`
("Server disconnected without sending a response."), a hang past the client's timeout is
`httpx.ReadTimeout` at once (no real waiting), and latency is a real sleep (`asyncio.sleep` for
the async client, so the event loop is not blocked) unless it is longer than the request's read
timeout, which then expires at once as it would on a socket (the vendor has handled the
request). The request's own URL supplies the origin, so result URLs point back at whatever base
URL the client used.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import httpx

from .messages import SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from .app import Sandbox

__all__ = ["SandboxTransport"]


def _to_sandbox(request: httpx.Request) -> SandboxRequest:
    headers = [(name, value) for name, value in request.headers.multi_items()]
    target = request.url.raw_path.decode("ascii")
    return SandboxRequest.build(
        request.method, target, headers=headers, body=request.content, scheme=request.url.scheme
    )


def _late(response: SandboxResponse, request: httpx.Request) -> bool:
    """Whether the response's delay outlasts the request's read timeout."""
    timeout = request.extensions.get("timeout", {}).get("read")
    return timeout is not None and response.delay_seconds > timeout


def _pause(response: SandboxResponse, request: httpx.Request) -> float:
    """How long to wait before answering (none when the read times out first)."""
    if response.action != "respond" or _late(response, request):
        return 0.0
    return response.delay_seconds


def _to_httpx(response: SandboxResponse, request: httpx.Request) -> httpx.Response:
    if response.action == "respond" and response.delay_seconds > 0 and _late(response, request):
        raise httpx.ReadTimeout("The read operation timed out", request=request)
    if response.action == "drop":
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    if response.action == "timeout":
        raise httpx.ReadTimeout("The read operation timed out", request=request)
    return httpx.Response(
        response.status, headers=list(response.headers), content=response.body, request=request
    )


class SandboxTransport(httpx.MockTransport):
    """`httpx.MockTransport` bound to a sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(self._handle_sync)
        self.sandbox = sandbox

    def _handle_sync(self, request: httpx.Request) -> httpx.Response:
        response = self.sandbox.handle(_to_sandbox(request))
        pause = _pause(response, request)
        if pause:
            time.sleep(pause)
        return _to_httpx(response, request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Async twin: reads the body, answers, and sleeps without blocking the loop."""
        await request.aread()
        response = self.sandbox.handle(_to_sandbox(request))
        pause = _pause(response, request)
        if pause:
            await asyncio.sleep(pause)
        return _to_httpx(response, request)
