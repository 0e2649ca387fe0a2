"""In-process shell: an `httpx.MockTransport` that answers from a `Sandbox`, no sockets.

Design: one transport object serves both `httpx.Client` and `httpx.AsyncClient` (MockTransport
implements both interfaces). Faults that a real server expresses through its socket become the
exceptions httpx itself would raise: a dropped connection is `httpx.RemoteProtocolError` ("Server
disconnected without sending a response."), a hang past the client's timeout is
`httpx.ReadTimeout` at once (no real waiting), and latency is a real sleep (`asyncio.sleep` for
the async client, so the event loop is not blocked). The request's own URL supplies the origin,
so result URLs point back at whatever base URL the client used.
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


def _to_httpx(response: SandboxResponse, request: httpx.Request) -> httpx.Response:
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
        if response.action == "respond" and response.delay_seconds > 0:
            time.sleep(response.delay_seconds)
        return _to_httpx(response, request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Async twin: reads the body, answers, and sleeps without blocking the loop."""
        await request.aread()
        response = self.sandbox.handle(_to_sandbox(request))
        if response.action == "respond" and response.delay_seconds > 0:
            await asyncio.sleep(response.delay_seconds)
        return _to_httpx(response, request)
