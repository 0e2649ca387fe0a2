"""The webhook endpoint for Starlette and FastAPI.

    from fastapi import FastAPI
    from swapkit.integrations.starlette import webhook_endpoint

    app = FastAPI()
    app.add_api_route("/hooks/swapkit", webhook_endpoint(client), methods=["POST"])

`client` is an `AsyncSwapClient` (handled on the event loop) or a `SwapClient` (handled in a
worker thread).  `on_event`, a function or coroutine function, gets every completed job's
`WebhookEvent`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from swapkit.core.client import AsyncSwapClient, SwapClient
from swapkit.core.models import WebhookEvent
from swapkit.core.webhooks import answer

__all__ = ["webhook_endpoint"]


def webhook_endpoint(
    client: SwapClient | AsyncSwapClient,
    *,
    on_event: Callable[[WebhookEvent], Any] | None = None,
) -> Callable[[Request], Awaitable[JSONResponse]]:
    """A Starlette/FastAPI endpoint that hands every delivery to ``client.webhooks``."""

    async def endpoint(request: Request) -> JSONResponse:
        body = await request.body()
        headers = dict(request.headers)
        url = str(request.url)
        event: WebhookEvent | None = None
        error: BaseException | None = None
        try:
            if isinstance(client, AsyncSwapClient):
                event = await client.webhooks.handle(request.method, url, headers, body)
            else:
                handle = client.webhooks.handle
                event = await anyio.to_thread.run_sync(
                    lambda: handle(request.method, url, headers, body)
                )
            if on_event is not None and not event.duplicate:
                outcome = on_event(event)
                if inspect.isawaitable(outcome):
                    await outcome
        except Exception as exc:  # every failure becomes an answer the vendor understands
            error = exc
        status, payload = answer(error, event)
        return JSONResponse(payload, status_code=status)

    return endpoint
