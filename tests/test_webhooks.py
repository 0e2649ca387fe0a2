"""One webhook endpoint for every vendor: per-job URLs survive failover, forgeries are refused,
each genuine delivery completes its job once, in each framework's own test client."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pluggy
import pytest

from swapkit import SwapClient, errors
from swapkit.sandbox import Fault, Sandbox

from .conftest import FakeClock, make_image

FACE = make_image((48, 40), (220, 180, 150))
SCENE = make_image((64, 56), (30, 90, 160))
BASE = "https://app.example/hooks/swapkit"
SECRET = "whsec-sandbox"


@dataclasses.dataclass
class Delivery:
    url: str
    headers: dict[str, str]
    body: bytes


class World:
    """A sandbox whose webhooks are captured, and a client with a ledger and a webhook base."""

    def __init__(self, tmp: Path, plugin_manager: pluggy.PluginManager) -> None:
        self.clock = FakeClock()
        self.deliveries: list[Delivery] = []

        def capture(request: httpx.Request) -> httpx.Response:
            self.deliveries.append(
                Delivery(str(request.url), dict(request.headers), request.read())
            )
            return httpx.Response(200)

        self.sandbox = Sandbox(
            clock=self.clock.monotonic,
            job_seconds=3.0,
            webhook_transport=httpx.MockTransport(capture),
            webhook_retry_delays=(0, 0, 0, 0),
        )
        self.ledger = tmp / "swapkit.db"
        self.plugin_manager = plugin_manager

    def client(self, *names: str, **extra: Any) -> SwapClient:
        settings = {
            "prospolabs": {
                "api_key": "prsp-sandbox",
                "base_url": "http://sandbox.test/prospolabs",
                "mode": "async",
                "webhook_secret": SECRET,
            },
            "acedata": {
                "api_key": "acedata-sandbox",
                "base_url": "http://sandbox.test/acedata",
                "mode": "async",
            },
        }
        return SwapClient(
            providers={name: settings[name] for name in names},
            ledger=self.ledger,
            webhook_url=BASE,
            http_client=httpx.Client(transport=self.sandbox.transport()),
            plugin_manager=self.plugin_manager,
            clock=self.clock,
            **extra,
        )

    def finish_jobs(self, count: int = 1) -> list[Delivery]:
        """Let the sandbox finish its jobs and deliver their webhooks."""
        self.clock.now += 10
        self.sandbox.tick()
        self.sandbox.wait_for_webhooks(len(self.deliveries) + count - len(self.deliveries))
        deadline = time.monotonic() + 5
        while len(self.deliveries) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.deliveries


@pytest.fixture
def world(tmp_path: Path, plugin_manager: pluggy.PluginManager) -> Iterator[World]:
    made = World(tmp_path, plugin_manager)
    yield made
    made.sandbox.close()


def _submit(world: World, *names: str, **extra: Any) -> tuple[SwapClient, str, Delivery]:
    client = world.client(*names, **extra)
    job = client.submit(source=FACE, target=SCENE)
    (delivery,) = world.finish_jobs(1)
    return client, job.id, delivery


def test_a_signed_delivery_completes_its_job(world: World) -> None:
    client, job_id, delivery = _submit(world, "prospolabs")
    query = dict(parse_qsl(urlsplit(delivery.url).query))
    assert query["swapkit_job"] == job_id
    assert query["swapkit_provider"] == "prospolabs"
    with client:
        assert client.job(job_id).status().state == "running"
        event = client.webhooks.handle("POST", delivery.url, delivery.headers, delivery.body)
        assert (event.swap_id, event.status, event.duplicate) == (job_id, "completed", False)
        assert client.job(job_id).status().state == "succeeded"
        assert client.job(job_id).result().swap_id == job_id
        again = client.webhooks.handle("POST", delivery.url, delivery.headers, delivery.body)
        assert again.duplicate


def test_an_unsigned_delivery_is_trusted_for_its_job_only_and_refetched(world: World) -> None:
    client, job_id, delivery = _submit(world, "acedata")
    forged = json.loads(delivery.body)
    forged["image_url"] = "https://evil.example/x.png"
    with client:
        event = client.webhooks.handle("POST", delivery.url, {}, json.dumps(forged).encode())
        assert event.status == "completed"
        result = client.job(job_id).result()
        assert "evil" not in (result.url or "")  # fetched from the task API, not the body
        assert result.width == 64
        second = client.webhooks.handle("POST", delivery.url, {}, delivery.body)
        assert second.duplicate  # single-use


def test_failover_lands_on_the_right_job(world: World) -> None:
    world.sandbox.faults.add(Fault(provider="prospolabs", status=503, times=5))
    client, job_id, delivery = _submit(world, "prospolabs", "acedata", provider_retries=0)
    assert dict(parse_qsl(urlsplit(delivery.url).query))["swapkit_provider"] == "acedata"
    with client:
        assert client.webhooks.handle("POST", delivery.url, {}, delivery.body).swap_id == job_id
        status = client.job(job_id).status()
    assert (status.state, status.provider) == ("succeeded", "acedata")
    assert [a.provider for a in status.attempts if not a.skipped] == ["prospolabs", "acedata"]


def test_a_lost_webhook_still_ends_in_the_result_by_polling(world: World) -> None:
    client = world.client("prospolabs")
    with client:
        job = client.submit(source=FACE, target=SCENE)
        world.finish_jobs(1)  # delivered to nobody: the application never saw it
        assert job.wait().swap_id == job.id


# -- forgeries ---------------------------------------------------------------------------------


def _with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def _signed(body: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body, separators=(",", ":")).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Prospo-Signature": signature, "content-type": "application/json"}


def _stamp(seconds_ago: float) -> str:
    when = time.gmtime(time.time() - seconds_ago)
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", when)


Forgery = Callable[[Delivery], tuple[str, str, dict[str, str], bytes]]


def _body(delivery: Delivery) -> dict[str, Any]:
    return json.loads(delivery.body)  # type: ignore[no-any-return]


PROSPOLABS_FORGERIES: dict[str, Forgery] = {
    "no signature": lambda d: ("POST", d.url, {}, d.body),
    "wrong secret": lambda d: ("POST", d.url, _signed(_body(d), "whsec-guess")[1], d.body),
    "signature of another body": lambda d: (
        "POST", d.url, _signed({**_body(d), "event": "x"})[1], d.body),
    "tampered result url": lambda d: (
        "POST", d.url, d.headers, d.body.replace(b"sandbox.test", b"evil.example")),
    "truncated": lambda d: ("POST", d.url, d.headers, d.body[: len(d.body) // 2]),
    "empty body": lambda d: ("POST", d.url, d.headers, b""),
    "not json": lambda d: ("POST", d.url, d.headers, b"<html>"),
    "deeply nested": lambda d: ("POST", d.url, d.headers, b"[" * 5000 + b"]" * 5000),
    "stale timestamp, correctly signed": lambda d: (
        "POST", d.url, *reversed(_signed({**_body(d), "timestamp": _stamp(2 * 365 * 86400)}))),
    "timestamp in the future": lambda d: (
        "POST", d.url, *reversed(_signed({**_body(d), "timestamp": _stamp(-3600)}))),
    "another job's id": lambda d: (
        "POST", d.url, *reversed(_signed({**_body(d), "job_id": "other",
                                          "data": {**_body(d)["data"], "job_id": "other"}}))),
    "GET": lambda d: ("GET", d.url, d.headers, d.body),
    "no token": lambda d: ("POST", _with_query(d.url, swapkit_token=None), d.headers, d.body),
    "wrong token": lambda d: (
        "POST", _with_query(d.url, swapkit_token="0" * 64), d.headers, d.body),
    "token of another job": lambda d: (
        "POST", _with_query(d.url, swapkit_job="swp_other"), d.headers, d.body),
    "token moved to another provider": lambda d: (
        "POST", _with_query(d.url, swapkit_provider="acedata"), d.headers, d.body),
    "expired url": lambda d: (
        "POST", _with_query(d.url, swapkit_expires="1000"), d.headers, d.body),
    "bare base url": lambda d: ("POST", BASE, d.headers, d.body),
    "malformed url": lambda d: ("POST", "http://[::1", d.headers, d.body),
    "huge url": lambda d: ("POST", d.url + "&x=" + "a" * 10000, d.headers, d.body),
}  # fmt: skip

ACEDATA_FORGERIES: dict[str, Forgery] = {
    "no token": lambda d: ("POST", _with_query(d.url, swapkit_token=None), {}, d.body),
    "wrong token": lambda d: ("POST", _with_query(d.url, swapkit_token="1" * 64), {}, d.body),
    "token of another job": lambda d: (
        "POST", _with_query(d.url, swapkit_job="swp_x"), {}, d.body),
    "token moved to another provider": lambda d: (
        "POST", _with_query(d.url, swapkit_provider="prospolabs"), {}, d.body),
    "expired": lambda d: ("POST", _with_query(d.url, swapkit_expires="5"), {}, d.body),
    "another task id": lambda d: (
        "POST", d.url, {}, json.dumps({**_body(d), "task_id": "someone-else"}).encode()),
    "no task id": lambda d: ("POST", d.url, {}, b'{"success": true}'),
    "truncated": lambda d: ("POST", d.url, {}, d.body[:20]),
    "not json": lambda d: ("POST", d.url, {}, b"\xff\xfe"),
    "deeply nested": lambda d: ("POST", d.url, {}, b'{"a":' * 3000 + b"1" + b"}" * 3000),
    "GET": lambda d: ("GET", d.url, {}, d.body),
    "malformed url": lambda d: ("POST", "https://[bad", {}, d.body),
}  # fmt: skip


@pytest.mark.parametrize(
    ("vendor", "forgery"),
    [("prospolabs", f) for f in PROSPOLABS_FORGERIES] + [("acedata", f) for f in ACEDATA_FORGERIES],
)
def test_a_forged_delivery_is_refused_and_changes_nothing(
    world: World, vendor: str, forgery: str
) -> None:
    client, job_id, delivery = _submit(world, vendor)
    forge = (PROSPOLABS_FORGERIES if vendor == "prospolabs" else ACEDATA_FORGERIES)[forgery]
    with client:
        with pytest.raises(errors.SwapError) as info:
            client.webhooks.handle(*forge(delivery))
        assert isinstance(info.value, (errors.InvalidSignature, errors.ProviderError))
        assert client.job(job_id).status().state == "running"
        # the genuine delivery still works, once
        genuine = client.webhooks.handle("POST", delivery.url, delivery.headers, delivery.body)
        assert not genuine.duplicate
        assert client.job(job_id).status().state == "succeeded"


def test_a_delivery_to_a_client_without_the_ledger_is_refused(world: World, tmp_path: Path) -> None:
    client, _, delivery = _submit(world, "prospolabs")
    client.close()
    stranger = SwapClient(
        providers={"prospolabs": {"api_key": "prsp-sandbox", "webhook_secret": SECRET}},
        ledger=tmp_path / "other.db",
        plugin_manager=world.plugin_manager,
    )
    with stranger, pytest.raises(errors.InvalidSignature, match="token"):
        stranger.webhooks.handle("POST", delivery.url, delivery.headers, delivery.body)


def test_a_rotated_secret_is_accepted(world: World) -> None:
    client, job_id, delivery = _submit(world, "prospolabs")
    client.close()
    rotated = world.client("prospolabs")
    rotated.provider("prospolabs").settings = rotated.provider("prospolabs").settings.model_copy(
        update={"webhook_secret": _secret("whsec-new," + SECRET)}
    )
    with rotated:
        event = rotated.webhooks.handle("POST", delivery.url, delivery.headers, delivery.body)
    assert event.swap_id == job_id


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


# -- frameworks ------------------------------------------------------------------------------


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"/hooks/swapkit?{parts.query}"


def test_fastapi(world: World) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from swapkit.integrations.starlette import webhook_endpoint

    seen: list[Any] = []
    client, job_id, delivery = _submit(world, "prospolabs")
    app = FastAPI()
    app.add_api_route(
        "/hooks/swapkit", webhook_endpoint(client, on_event=seen.append), methods=["POST"]
    )
    with client, TestClient(app) as http:
        target = _path_and_query(delivery.url)
        assert http.post(target, content=b"forged", headers=delivery.headers).status_code == 400
        first = http.post(target, content=delivery.body, headers=delivery.headers)
        assert first.status_code == 200
        assert first.json() == {"ok": True, "swap_id": job_id, "duplicate": False}
        again = http.post(target, content=delivery.body, headers=delivery.headers)
        assert again.json()["duplicate"] is True
    assert [event.swap_id for event in seen] == [job_id]


def test_fastapi_with_a_failing_handler_asks_for_a_retry(world: World) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from swapkit.integrations.starlette import webhook_endpoint

    def broken(event: Any) -> None:
        raise RuntimeError("the application's own handler failed")

    client, _, delivery = _submit(world, "prospolabs")
    app = FastAPI()
    app.add_api_route("/hooks/swapkit", webhook_endpoint(client, on_event=broken), methods=["POST"])
    with client, TestClient(app) as http:
        answer = http.post(
            _path_and_query(delivery.url), content=delivery.body, headers=delivery.headers
        )
    assert answer.status_code == 503


def test_flask(world: World) -> None:
    from flask import Flask

    from swapkit.integrations.flask import webhook_blueprint

    seen: list[Any] = []
    client, job_id, delivery = _submit(world, "acedata")
    app = Flask("test")
    app.register_blueprint(webhook_blueprint(client, on_event=seen.append))
    with client:
        http = app.test_client()
        target = _path_and_query(delivery.url)
        assert (
            http.post(_with_query(target, swapkit_token="0"), data=delivery.body).status_code == 400
        )
        ok = http.post(target, data=delivery.body, content_type="application/json")
        assert ok.status_code == 200
        assert ok.get_json()["swap_id"] == job_id
        assert http.post(target, data=delivery.body).get_json()["duplicate"] is True
    assert [event.swap_id for event in seen] == [job_id]


def test_django(world: World) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, SECRET_KEY="x", DEBUG=False)
        django.setup()
    from django.test import Client
    from django.urls import clear_url_caches, path

    from swapkit.integrations.django import webhook_view

    client, job_id, delivery = _submit(world, "prospolabs")
    global urlpatterns
    urlpatterns = [path("hooks/swapkit", webhook_view(client))]
    clear_url_caches()
    with client:
        http = Client()
        target = _path_and_query(delivery.url)
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in delivery.headers.items()}
        refused = http.post(target, data=b"x", content_type="application/json", **headers)
        assert refused.status_code == 400
        assert http.get(target).status_code == 405
        ok = http.post(target, data=delivery.body, content_type="application/json", **headers)
        assert ok.status_code == 200
        assert ok.json()["swap_id"] == job_id


urlpatterns: list[Any] = []


def test_a_signed_webhook_settles_an_unknown_outcome(world: World) -> None:
    world.sandbox.faults.add(
        Fault(provider="prospolabs", kind="drop", after_processing=True, times=1)
    )
    client = world.client("prospolabs")
    with client:
        with pytest.raises(errors.OutcomeUnknown) as info:
            client.swap(source=FACE, target=SCENE, deadline=5)
        job_id = info.value.swap_id
        assert client.job(job_id).status().state == "unknown"
        (delivery,) = world.finish_jobs(1)  # the vendor did accept it, and says so, signed
        event = client.webhooks.handle("POST", delivery.url, delivery.headers, delivery.body)
        assert event.swap_id == job_id
        status = client.job(job_id).status()
        assert (status.state, status.vendor_job_id) == ("succeeded", event.job_id)
