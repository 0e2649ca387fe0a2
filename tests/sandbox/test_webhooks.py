"""Prospolabs webhooks: payload, signature, timing on the sandbox clock, retries, refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator

import httpx
import pytest

from swapkit.sandbox import FakeClock, Fault, Sandbox

from .helpers import AUTH, Receiver, swap_body

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _verify(body: bytes, signature: str, secret: str = "whsec-sandbox") -> bool:
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def test_sync_swap_posts_a_signed_completed_webhook(
    sandbox: Sandbox, client: httpx.Client, receiver: Receiver
) -> None:
    result = client.post("/v1/swap/realistic", json=swap_body(webhook_url=receiver.url)).json()
    [delivery] = sandbox.wait_for_webhooks(1)
    assert delivery.status == 200
    [body] = receiver.bodies
    [headers] = receiver.headers
    assert headers["content-type"] == "application/json"
    assert re.fullmatch(r"[0-9a-f]{64}", headers["x-prospo-signature"])
    assert _verify(body, headers["x-prospo-signature"])
    payload = json.loads(body)
    assert payload == {
        "event": "inference.completed",
        "job_id": result["request_id"],
        "data": {
            "job_id": result["request_id"],
            "model": "realistic",
            "result_url": result["result_url"],
            "processing_time_ms": round(result["inference_time"] * 1000),
        },
        "timestamp": payload["timestamp"],
    }
    assert TIMESTAMP.fullmatch(payload["timestamp"])
    # The vendor's own verifier hashes JSON.stringify(req.body): compact JSON, same bytes.
    assert json.dumps(payload, separators=(",", ":")).encode() == body


def test_async_webhook_fires_when_the_job_completes(
    sandbox: Sandbox, client: httpx.Client, receiver: Receiver
) -> None:
    client.post("/v1/swap/fast/async", json=swap_body(webhook_url=receiver.url))
    sandbox.advance(1.5)
    assert sandbox.webhooks == []
    sandbox.advance(0.5)
    [delivery] = sandbox.wait_for_webhooks(1)
    assert delivery.ok
    assert delivery.json()["event"] == "inference.completed"


def test_failed_job_posts_inference_failed(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.faults.add(Fault(kind="job_failed", times=1))
    hook = "http://127.0.0.1:1/unreachable"
    job_id = client.post("/v1/swap/fast/async", json=swap_body(webhook_url=hook)).json()
    sandbox.advance(2)
    delivery = sandbox.wait_for_webhooks(1)[0]
    payload = delivery.json()
    assert payload["event"] == "inference.failed"
    assert payload["job_id"] == job_id["request_id"]
    assert payload["data"]["result_url"] is None
    assert isinstance(payload["data"]["error"], str)
    assert _verify(delivery.body, delivery.headers["x-prospo-signature"])


def test_real_clock_jobs_fire_webhooks_without_polling() -> None:
    received: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request.content)
        return httpx.Response(204)

    with Sandbox(job_seconds=0.05, webhook_transport=httpx.MockTransport(handler)) as sandbox:
        http = httpx.Client(transport=sandbox.transport(), base_url="http://s/prospolabs")
        with http:
            body = swap_body(webhook_url="https://hooks.example.com/x")
            http.post("/v1/swap/fast/async", json=body, headers=AUTH)
            [delivery] = sandbox.wait_for_webhooks(1, timeout=3)
    assert delivery.status == 204
    assert json.loads(received[0])["event"] == "inference.completed"


def test_non_2xx_is_retried_then_given_up(sandbox: Sandbox, client: httpx.Client) -> None:
    with Receiver(statuses=(500,) * 10) as failing:
        client.post("/v1/swap/fast", json=swap_body(webhook_url=failing.url))
        deliveries = sandbox.wait_for_webhooks(5)
        assert [d.attempt for d in deliveries] == [1, 2, 3, 4, 5]
        assert {d.status for d in deliveries} == {500}
        assert len(set(failing.bodies)) == 1  # the same signed body every time


def test_retries_follow_the_schedule_on_the_sandbox_clock(fake_clock: FakeClock) -> None:
    statuses = iter([503, 503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(statuses))

    with (
        Sandbox(
            clock=fake_clock,
            webhook_retry_delays=(30, 120, 600, 3600),
            webhook_transport=httpx.MockTransport(handler),
        ) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        ) as http,
    ):
        http.post("/v1/swap/fast", json=swap_body(webhook_url="http://127.0.0.1:9/x"))
        sandbox.wait_for_webhooks(1)
        sandbox.advance(29)
        assert len(sandbox.webhooks) == 1
        sandbox.advance(1)
        sandbox.wait_for_webhooks(2)
        sandbox.advance(119)
        assert len(sandbox.webhooks) == 2
        sandbox.advance(1)
        assert [d.status for d in sandbox.wait_for_webhooks(3)] == [503, 503, 200]
        sandbox.advance(10_000)
        assert len(sandbox.webhooks) == 3


def test_non_loopback_webhook_urls_are_refused(sandbox: Sandbox, client: httpx.Client) -> None:
    client.post("/v1/swap/fast", json=swap_body(webhook_url="https://example.com/hook"))
    [delivery] = sandbox.wait_for_webhooks(1)
    assert delivery.refused
    assert delivery.status is None


def test_the_webhook_secret_is_configurable(fake_clock: FakeClock) -> None:
    with (
        Sandbox(
            clock=fake_clock,
            vendor_options={"prospolabs": {"webhook_secret": "whsec-other"}},
            webhook_transport=httpx.MockTransport(lambda request: httpx.Response(200)),
        ) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        ) as http,
    ):
        http.post("/v1/swap/fast", json=swap_body(webhook_url="http://127.0.0.1/x"))
        [delivery] = sandbox.wait_for_webhooks(1)
        assert _verify(delivery.body, delivery.headers["x-prospo-signature"], "whsec-other")
        assert not _verify(delivery.body, delivery.headers["x-prospo-signature"])


def test_a_delivery_can_be_replayed_or_tampered_with(fake_clock: FakeClock) -> None:
    received: list[tuple[str, bytes]] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append((str(request.url), request.read()))
        return httpx.Response(200 if b"tampered" not in request.content else 400)

    sandbox = Sandbox(clock=fake_clock, webhook_transport=httpx.MockTransport(receiver))
    with sandbox:
        sandbox._context.webhooks.send("https://app.example/hook?x=1", b'{"a":1}', {"k": "v"})
        (original,) = sandbox.wait_for_webhooks(1)
        replayed = sandbox.redeliver(original)
        tampered = sandbox.redeliver(original, body=b'{"tampered":1}')
        moved = sandbox.redeliver(original, url="https://app.example/other")
    assert replayed.ok
    assert replayed.body == original.body
    assert tampered.status == 400
    assert moved.url == "https://app.example/other"
    assert [url for url, _ in received] == [
        "https://app.example/hook?x=1",
        "https://app.example/hook?x=1",
        "https://app.example/hook?x=1",
        "https://app.example/other",
    ]
    assert len(sandbox.webhooks) == 4
