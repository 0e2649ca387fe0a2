"""The webhook endpoint as a Flask blueprint.

    from swapkit.integrations.flask import webhook_blueprint

    app.register_blueprint(webhook_blueprint(client, path="/hooks/swapkit"))

`client` is a `SwapClient`; `on_event` gets every completed job's `WebhookEvent`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, request

from swapkit.core.client import SwapClient
from swapkit.core.models import WebhookEvent
from swapkit.core.webhooks import answer

__all__ = ["webhook_blueprint"]


def webhook_blueprint(
    client: SwapClient,
    *,
    path: str = "/hooks/swapkit",
    name: str = "swapkit_webhooks",
    on_event: Callable[[WebhookEvent], Any] | None = None,
) -> Blueprint:
    """A blueprint with one POST route at `path` that hands deliveries to ``client.webhooks``."""
    blueprint = Blueprint(name, __name__)

    @blueprint.post(path)
    def receive() -> Any:
        body = request.get_data(cache=False)  # the raw bytes, never a parsed form
        event: WebhookEvent | None = None
        error: BaseException | None = None
        try:
            event = client.webhooks.handle(request.method, request.url, dict(request.headers), body)
            if on_event is not None and not event.duplicate:
                on_event(event)
        except Exception as exc:  # every failure becomes an answer the vendor understands
            error = exc
        status, payload = answer(error, event)
        return jsonify(payload), status

    return blueprint
