"""Webhook delivery: POST a body a vendor built, retry on failure, record every attempt.

Design decisions:

- Vendors build the body and headers (each signs in its own way); this module only delivers.
- Delivery happens on one daemon worker thread with its own `httpx.Client`, started on the first
  webhook and stopped by `close()`, so a request handler never waits on a webhook receiver.
- Only loopback URLs are delivered to; any other URL is recorded as refused and never contacted.
  When the sandbox is given a `webhook_transport` (e.g. an `httpx.MockTransport`), nothing leaves
  the process, so every URL is allowed.
- A non-2xx answer or a transport error is retried after each delay in `retry_delays` in turn, on
  the sandbox clock (through the scheduler); a delay of 0 retries at once. The first attempt plus
  one retry per delay, then the delivery is given up. Every attempt is recorded as a
  `WebhookDelivery`, and `wait()` lets a test block (bounded) until N attempts are recorded.
- `reset()` forgets recorded and queued deliveries (queued ones are dropped by generation).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from .loopback import is_loopback_url
from .scheduler import Scheduler

__all__ = ["WebhookDelivery", "WebhookDispatcher"]


@dataclass(frozen=True)
class WebhookDelivery:
    """One delivery attempt: what was sent and what came back.

    `status` is the receiver's HTTP status, or None when the attempt failed (`error` says why,
    e.g. `"refused: ..."` for a non-loopback URL or the transport error).
    """

    url: str
    headers: Mapping[str, str]
    body: bytes
    attempt: int
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        """Whether the sandbox refused to deliver (non-loopback URL)."""
        return self.error is not None and self.error.startswith("refused")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready summary (used by `GET /_sandbox/webhooks`)."""
        return {
            "url": self.url,
            "headers": dict(self.headers),
            "body": self.body.decode(errors="replace"),
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
        }


@dataclass(frozen=True)
class _Attempt:
    url: str
    body: bytes
    headers: Mapping[str, str]
    number: int
    generation: int


@dataclass
class _State:
    deliveries: list[WebhookDelivery] = field(default_factory=list)
    generation: int = 0


class WebhookDispatcher:
    """Delivers webhooks on a background thread."""

    def __init__(
        self,
        scheduler: Scheduler,
        clock: Callable[[], float],
        *,
        retry_delays: Sequence[float],
        transport: httpx.BaseTransport | None = None,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._scheduler = scheduler
        self._clock = clock
        self._retry_delays = tuple(retry_delays)
        self._transport = transport
        self._timeout_seconds = timeout_seconds
        self._queue: queue.Queue[_Attempt | None] = queue.Queue()
        self._condition = threading.Condition()
        self._state = _State()
        self._thread: threading.Thread | None = None
        self._closed = False

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Queue the first attempt of a delivery."""
        with self._condition:
            if self._closed:
                return
            attempt = _Attempt(url, body, dict(headers), 1, self._state.generation)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="swapkit-sandbox-webhooks", daemon=True
                )
                self._thread.start()
        self._queue.put(attempt)

    def redeliver(
        self,
        delivery: WebhookDelivery,
        *,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> WebhookDelivery:
        """Send a recorded delivery again, now, on this thread: as it was (a replay), or with
        its URL, headers or body changed (a forgery).  It is recorded like any attempt, and
        never retried."""
        attempt = _Attempt(
            url if url is not None else delivery.url,
            body if body is not None else delivery.body,
            dict(headers if headers is not None else delivery.headers),
            delivery.attempt,
            self._state.generation,
        )
        with httpx.Client(
            transport=self._transport, timeout=self._timeout_seconds, trust_env=False
        ) as client:
            base = WebhookDelivery(attempt.url, attempt.headers, attempt.body, attempt.number)
            if self._transport is None and not is_loopback_url(attempt.url):
                sent = replace(base, error="refused: the sandbox only delivers to loopback URLs")
            else:
                try:
                    response = client.post(
                        attempt.url, content=attempt.body, headers=attempt.headers
                    )
                except (httpx.HTTPError, OSError, RuntimeError) as exc:
                    sent = replace(base, error=f"{type(exc).__name__}: {exc}")
                else:
                    sent = replace(base, status=response.status_code)
        self._record(attempt, sent)
        return sent

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        """Every attempt so far, oldest first."""
        with self._condition:
            return list(self._state.deliveries)

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[WebhookDelivery]:
        """Block until at least `count` attempts are recorded; TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self._state.deliveries) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(self._state.deliveries)} webhook attempt(s) recorded, "
                        f"expected {count} within {timeout} s"
                    )
                self._condition.wait(timeout=left)
            return list(self._state.deliveries)

    def reset(self) -> None:
        """Forget recorded deliveries and drop queued ones."""
        with self._condition:
            self._state = _State(generation=self._state.generation + 1)

    def close(self) -> None:
        """Stop the worker thread (waits for an attempt in flight, bounded by its timeout)."""
        with self._condition:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=self._timeout_seconds + 5)

    def _record(self, attempt: _Attempt, delivery: WebhookDelivery) -> None:
        with self._condition:
            if attempt.generation == self._state.generation:
                self._state.deliveries.append(delivery)
                self._condition.notify_all()

    def _work(self) -> None:
        with httpx.Client(
            transport=self._transport, timeout=self._timeout_seconds, trust_env=False
        ) as client:
            while True:
                attempt = self._queue.get()
                if attempt is None:
                    return
                with self._condition:
                    stale = attempt.generation != self._state.generation or self._closed
                if not stale:
                    self._deliver(client, attempt)

    def _deliver(self, client: httpx.Client, attempt: _Attempt) -> None:
        base = WebhookDelivery(attempt.url, attempt.headers, attempt.body, attempt.number)
        if self._transport is None and not is_loopback_url(attempt.url):
            self._record(
                attempt,
                replace(base, error="refused: the sandbox only delivers to loopback URLs"),
            )
            return
        try:
            response = client.post(attempt.url, content=attempt.body, headers=attempt.headers)
        except (httpx.HTTPError, OSError, RuntimeError) as exc:
            # RuntimeError: pytest-recording's network guard when loopback is not allowed.
            delivery = replace(base, error=f"{type(exc).__name__}: {exc}")
        else:
            delivery = replace(base, status=response.status_code)
        self._record(attempt, delivery)
        if not delivery.ok:
            self._schedule_retry(attempt)

    def _schedule_retry(self, attempt: _Attempt) -> None:
        if attempt.number > len(self._retry_delays):
            return  # given up: first attempt + one retry per delay
        delay = self._retry_delays[attempt.number - 1]
        retry = _Attempt(
            attempt.url, attempt.body, attempt.headers, attempt.number + 1, attempt.generation
        )
        if delay <= 0:
            self._queue.put(retry)
        else:
            self._scheduler.schedule(self._clock() + delay, lambda: self._queue.put(retry))
