"""The webhook endpoint as a Django view.

    from swapkit.integrations.django import webhook_view

    urlpatterns = [path("hooks/swapkit", webhook_view(client))]

`client` is a `SwapClient`; `on_event` gets every completed job's `WebhookEvent`.  The view is
exempt from CSRF (vendors cannot send a token; the delivery is verified instead) and takes POST
only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from swapkit.core.client import SwapClient
from swapkit.core.models import WebhookEvent
from swapkit.core.webhooks import answer

__all__ = ["webhook_view"]


def webhook_view(
    client: SwapClient, *, on_event: Callable[[WebhookEvent], Any] | None = None
) -> Callable[[HttpRequest], JsonResponse]:
    """A view that hands every delivery to ``client.webhooks``."""

    def receive(request: HttpRequest) -> JsonResponse:
        event: WebhookEvent | None = None
        error: BaseException | None = None
        try:
            url = request.build_absolute_uri()
            event = client.webhooks.handle(
                request.method or "", url, dict(request.headers), request.body
            )
            if on_event is not None and not event.duplicate:
                on_event(event)
        except Exception as exc:  # every failure becomes an answer the vendor understands
            error = exc
        status, payload = answer(error, event)
        return JsonResponse(payload, status=status)

    view: Callable[[HttpRequest], JsonResponse] = csrf_exempt(require_POST(receive))
    return view
