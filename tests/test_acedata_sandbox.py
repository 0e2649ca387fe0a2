"""SwapClient and AsyncSwapClient against the AceDataCloud sandbox: uploads, tasks, callbacks.

Each test runs once per client on a sandbox served on loopback that shares the test's fake clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pluggy
import pytest
import stamina

from swapkit import SwapClient, errors
from swapkit.core.images import LoadedImage
from swapkit.core.uploads import Uploader

from .conftest import FakeClock, make_image, padded_png
from .sandbox.helpers import LoopbackServer

KEY = "acedata-sandbox"


PROVIDER = "acedata"
SETTINGS = {"callback_secret": "cb-secret"}


@pytest.fixture
def callbacks() -> list[httpx.Request]:
    return []


@pytest.fixture
def swapkit_sandbox_config(clock: FakeClock, callbacks: list[httpx.Request]) -> dict[str, Any]:
    def receive(request: httpx.Request) -> httpx.Response:
        callbacks.append(request)
        return httpx.Response(200)

    return {
        "clock": clock.monotonic,
        "job_seconds": 20.0,
        "webhook_retry_delays": (0.0,),
        "webhook_transport": httpx.MockTransport(receive),
    }


def calls(sandbox: Any, fragment: str) -> list[Any]:
    return [r for r in sandbox.requests if fragment in r.path]


def _fault(**fields: Any) -> Any:
    from swapkit.sandbox import Fault

    return Fault(provider="acedata", **fields)


# -- flows -----------------------------------------------------------------------------------


def test_local_images_are_uploaded_then_swapped(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    result = swap(source=face_png, target=scene_png)
    assert (result.provider, result.media_type) == ("acedata", "image/png")
    assert (result.width, result.height) == (64, 56)
    assert result.cost_usd == 0.01
    uploads = calls(sandbox, "/files/upload")
    assert len(uploads) == 2
    (submit,) = calls(sandbox, "/face/swap")
    body = json.loads(submit.body)
    assert body["source_image_url"].startswith("http://127.0.0.1")
    assert body["target_image_url"] != body["source_image_url"]
    assert "base64" not in submit.body.decode()
    assert body["timeout"] >= 1


def test_url_inputs_pass_through_untouched(
    swap: Any, sandbox: Any, settings: dict[str, Any], face_png: bytes, scene_png: bytes
) -> None:
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}) as http:
        urls = [
            http.post(f"{settings['base_url']}/files/upload", files={"file": ("f.png", image)})
            .raise_for_status()
            .json()["url"]
            for image in (face_png, scene_png)
        ]
    before = len(calls(sandbox, "/files/upload"))
    result = swap(source=urls[0], target=urls[1])
    assert result.image
    assert len(calls(sandbox, "/files/upload")) == before
    body = json.loads(calls(sandbox, "/face/swap")[0].body)
    assert [body["source_image_url"], body["target_image_url"]] == urls


def test_long_deadline_uses_async_and_polls_the_task(
    swap: Any, sandbox: Any, clock: FakeClock, face_png: bytes, scene_png: bytes
) -> None:
    result = swap(source=face_png, target=scene_png, deadline=600, output_format="jpeg")
    assert result.media_type == "image/jpeg"  # converted locally: the vendor makes PNG
    (submit,) = calls(sandbox, "/face/swap")
    assert json.loads(submit.body)["async"] is True
    polls = calls(sandbox, "/face/tasks")
    assert len(polls) >= 2
    assert {json.loads(p.body)["id"] for p in polls} == {result.job_id}
    assert all(json.loads(p.body)["action"] == "retrieve" for p in polls)
    assert clock.slept[0] >= 5.0  # first poll after the vendor's advised 5 s


def test_callback_url_is_signed_and_the_callback_verifies(
    swap: Any,
    sandbox: Any,
    callbacks: list[httpx.Request],
    settings: dict[str, Any],
    plugin_manager: pluggy.PluginManager,
    face_png: bytes,
    scene_png: bytes,
) -> None:
    result = swap(source=face_png, target=scene_png, webhook_url="http://127.0.0.1:1/hook?app=1")
    body = json.loads(calls(sandbox, "/face/swap")[0].body)
    assert body["callback_url"].startswith("http://127.0.0.1:1/hook?app=1&swapkit_nonce=")
    sandbox.tick()
    sandbox.wait_for_webhooks(1)  # deliveries run on a background thread
    (delivery,) = callbacks
    with SwapClient(providers={"acedata": settings}, plugin_manager=plugin_manager) as client:
        event = client.parse_webhook(
            "acedata", delivery.headers, delivery.content, url=str(delivery.url)
        )
        assert (event.status, event.job_id) == ("completed", result.job_id)
        forged = str(delivery.url).replace("swapkit_token=", "swapkit_token=f")
        with pytest.raises(errors.InvalidSignature):
            client.parse_webhook("acedata", delivery.headers, delivery.content, url=forged)


# -- errors ----------------------------------------------------------------------------------


def test_wrong_key(swap: Any, face_png: bytes, scene_png: bytes) -> None:
    with pytest.raises(errors.AuthenticationError) as info:
        swap(source=face_png, target=scene_png, client={"settings": {"api_key": "nope"}})
    assert info.value.code == "invalid_token"


def test_no_face(swap: Any, scene_png: bytes) -> None:
    with pytest.raises(errors.NoFaceDetected):
        swap(source=make_image(pattern=False), target=scene_png)


CODES = [
    ("used_up", errors.InsufficientCredits),
    ("disabled", errors.PermissionDenied),
    ("forbidden", errors.ContentRefused),
    ("token_expired", errors.AuthenticationError),
    ("token_mismatched", errors.AuthenticationError),
    ("too_many_requests", errors.RateLimited),
    ("rate_limited", errors.RateLimited),
    ("bad_request", errors.InvalidRequest),
    ("api_error", errors.ProviderUnavailable),
    ("timeout", errors.ProviderTimeout),
]


@pytest.mark.parametrize(("code", "error"), CODES)
@pytest.mark.parametrize("envelope", ["standard", "success_false"])
def test_each_code_in_each_coded_envelope(
    swap: Any,
    sandbox: Any,
    face_png: bytes,
    scene_png: bytes,
    code: str,
    error: type,
    envelope: str,
) -> None:
    sandbox.faults.add(_fault(code=code, envelope=envelope, path="/face/swap", times=1))
    with pytest.raises(error) as info:
        swap(source=face_png, target=scene_png)
    assert info.value.code == code
    assert info.value.provider == "acedata"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("invalid_token", errors.AuthenticationError),
        ("used_up", errors.ContentRefused),  # no code: a 403 is moderation (the vendor SDK)
        ("too_many_requests", errors.RateLimited),
        ("api_error", errors.ProviderUnavailable),
        ("timeout", errors.ProviderTimeout),
    ],
)
def test_a_bare_string_error_falls_back_to_the_status(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes, code: str, error: type
) -> None:
    sandbox.faults.add(_fault(code=code, envelope="bare", path="/face/swap", times=1))
    with pytest.raises(error) as info:
        swap(source=face_png, target=scene_png)
    assert info.value.message


@pytest.mark.parametrize(
    ("code", "error"),
    [("api_error", errors.JobFailed), ("forbidden", errors.ContentRefused)],
)
def test_a_failed_task_raises_its_code(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes, code: str, error: type
) -> None:
    sandbox.faults.add(_fault(kind="job_failed", code=code, times=1))
    with pytest.raises(error) as info:
        swap(source=face_png, target=scene_png, deadline=600)
    assert info.value.code == code
    assert not info.value.retryable  # the task was accepted: never resubmitted
    assert len(calls(sandbox, "/face/swap")) == 1


@pytest.mark.parametrize(
    ("garbage", "error"),
    # a 502 page is an answered refusal; a cut 2xx may hide an accepted task
    [("html", errors.ProviderUnavailable), ("truncated", errors.OutcomeUnknown)],
)
def test_garbage(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes, garbage: str, error: type
) -> None:
    sandbox.faults.add(_fault(kind=garbage, path="/face/swap", times=1))
    with pytest.raises(error):
        swap(source=face_png, target=scene_png)


def test_a_failed_upload_is_retried(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault(status=503, path="/files/upload", times=1))
    with stamina.set_testing(True, attempts=3):
        result = swap(source=face_png, target=scene_png)
    assert result.image
    assert len(calls(sandbox, "/face/swap")) == 1


def test_oversize_image_fails_before_the_network(swap: Any, sandbox: Any, scene_png: bytes) -> None:
    huge = padded_png(25 * 1024 * 1024 + 64)
    with pytest.raises(errors.ImageTooLarge, match="25 MB"):
        swap(source=huge, target=scene_png)
    assert sandbox.requests == []


# -- an application's own uploader -----------------------------------------------------------


class _Bucket(BaseHTTPRequestHandler):
    store: dict[str, bytes]

    def do_PUT(self) -> None:
        self.store[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        data = self.store.get(self.path)
        self.send_response(200 if data else 404)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def bucket() -> Iterator[str]:
    handler = type("Bucket", (_Bucket,), {"store": {}})
    with LoopbackServer(handler, "") as server:
        yield server.url


class BucketUploader(Uploader):
    name = "bucket"

    def __init__(self, base: str) -> None:
        self.base = base

    def build_upload(self, image: LoadedImage) -> httpx.Request:
        return httpx.Request("PUT", f"{self.base}/inputs/{image.role}.png", content=image.data)

    def parse_upload(self, response: httpx.Response, image: LoadedImage) -> str:
        return str(response.request.url)


def test_an_application_uploader_replaces_the_vendor_upload(
    swap: Any, sandbox: Any, bucket: str, face_png: bytes, scene_png: bytes
) -> None:
    result = swap(source=face_png, target=scene_png, client={"uploader": BucketUploader(bucket)})
    assert result.image
    assert calls(sandbox, "/files/upload") == []
    body = json.loads(calls(sandbox, "/face/swap")[0].body)
    assert body["source_image_url"] == f"{bucket}/inputs/source.png"


def test_environment_alone_configures_the_client(
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, Any],
    plugin_manager: pluggy.PluginManager,
    tmp_path: Any,
    face_png: bytes,
    scene_png: bytes,
) -> None:
    monkeypatch.setenv("SWAPKIT_ACEDATA_API_KEY", settings["api_key"])
    monkeypatch.setenv("SWAPKIT_ACEDATA_BASE_URL", settings["base_url"])
    (tmp_path / "face.png").write_bytes(face_png)
    with SwapClient(providers=["acedata"], plugin_manager=plugin_manager) as client:
        result = client.swap(source=tmp_path / "face.png", target=scene_png)
    assert (result.provider, result.width, result.height) == ("acedata", 64, 56)
