"""The AceDataCloud emulator against the vendor's documented contract (plain httpx).

Auth and error codes, the three error envelopes, validation (URLs only), input fetching, the
no-face rule, the 25 MB limit, the sync result, uploads, credits and rate limits. Task queries,
callbacks and faults are in test_acedata_tasks.py.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from swapkit.sandbox import FakeClock, Fault, Sandbox

from .helpers import (
    ACE_AUTH,
    ACE_KEY,
    SOURCE_COLOR,
    TARGET_COLOR,
    FileServer,
    ace_body,
    b64,
    decode,
    image_bytes,
    upload,
)

TWENTY_FIVE_MIB = 25 * 1024 * 1024
DAY = 24 * 3600.0
TRACE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")


def _standard_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the documented standard envelope; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "trace_id"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert TRACE_ID.fullmatch(body["trace_id"])
    return body


def _ace_sandbox(fake_clock: FakeClock, **settings: Any) -> Sandbox:
    return Sandbox(clock=fake_clock, webhook_retry_delays=(0, 0, 0, 0), **settings)


def _ace_options(**options: Any) -> dict[str, dict[str, Any]]:
    """`vendor_options` for AceDataCloud."""
    return {"acedata": options}


def _ace_client(sandbox: Sandbox, token: str = ACE_KEY) -> httpx.Client:
    return httpx.Client(
        transport=sandbox.transport(),
        base_url="http://sandbox.test/acedata",
        headers={"Authorization": f"Bearer {token}"},
    )


# -- auth and routing ---------------------------------------------------------------------------


def test_missing_authorization_is_400_no_token(ace: httpx.Client) -> None:
    response = ace.post("/face/swap", json={}, headers={"Authorization": ""})
    _standard_error(response, 400, "no_token")


@pytest.mark.parametrize("value", ["Bearer wrong", ACE_KEY, f"Basic {ACE_KEY}", "Bearer"])
def test_unknown_token_is_401_invalid_token(ace: httpx.Client, value: str) -> None:
    response = ace.post("/face/swap", json={}, headers={"Authorization": value})
    _standard_error(response, 401, "invalid_token")


def test_a_platform_token_is_refused_as_token_mismatched(ace: httpx.Client) -> None:
    for path in ("/face/swap", "/face/tasks", "/files/upload"):
        response = ace.post(path, json={}, headers={"Authorization": "Bearer platform-abc123"})
        body = _standard_error(response, 400, "token_mismatched")  # seed 002: 400
        assert "platform-" in body["error"]["message"]


def test_the_other_reading_of_token_mismatched_is_an_option(fake_clock: FakeClock) -> None:
    options = {"acedata": {"token_mismatched_status": 401}}
    with (
        _ace_sandbox(fake_clock, vendor_options=options) as sandbox,
        _ace_client(sandbox, "platform-abc123") as http,
    ):
        _standard_error(http.post("/face/swap", json={}), 401, "token_mismatched")


def test_the_management_upload_takes_any_token_and_answers_like_the_sdk(
    ace: httpx.Client,
) -> None:
    files = {"file": ("face.png", image_bytes(), "image/png")}
    for token in ("acedata-sandbox", "platform-abc123"):
        answer = ace.post(
            "/api/v1/files/", files=files, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["mime"] == "image/png"
        assert ace.get(body["file_url"]).content == image_bytes()


def test_configured_tokens_replace_the_default(fake_clock: FakeClock) -> None:
    with (
        _ace_sandbox(fake_clock, api_keys={"acedata": ["tok-a"]}) as sandbox,
        _ace_client(sandbox, "tok-a") as http,
    ):
        assert http.post("/face/tasks", json={"action": "retrieve", "id": "x"}).status_code == 404
        refused = http.post("/face/tasks", json={}, headers=ACE_AUTH)
        _standard_error(refused, 401, "invalid_token")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/face/nope"), ("POST", "/v1/face/swap"), ("GET", "/face/swap"), ("POST", "/")],
)
def test_unknown_paths_are_404_no_api_before_auth(
    ace: httpx.Client, method: str, path: str
) -> None:
    response = ace.request(method, path, headers={"Authorization": ""})
    _standard_error(response, 404, "no_api")


# -- error envelopes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("envelope", "expected_keys"),
    [
        ("standard", {"error", "trace_id"}),
        ("success_false", {"success", "error", "trace_id"}),
        ("success_false_no_trace_id", {"success", "error"}),
    ],
)
def test_coded_envelopes_by_setting(
    fake_clock: FakeClock, envelope: str, expected_keys: set[str]
) -> None:
    with (
        _ace_sandbox(fake_clock, vendor_options=_ace_options(error_envelope=envelope)) as sandbox,
        _ace_client(sandbox) as http,
    ):
        response = http.post("/face/swap", content=b"{not json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == expected_keys
    assert body["error"]["code"] == "bad_request"
    assert body.get("success", False) is False


def test_bare_envelope_by_setting(fake_clock: FakeClock) -> None:
    with (
        _ace_sandbox(fake_clock, vendor_options=_ace_options(error_envelope="bare")) as sandbox,
        _ace_client(sandbox) as http,
    ):
        response = http.post("/face/swap", json={}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    assert isinstance(response.json()["error"], str)


def test_unknown_envelope_setting_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'acedata'.*error_envelope"):
        Sandbox(vendor_options=_ace_options(error_envelope="xml"))


def test_a_fault_chooses_the_envelope(sandbox: Sandbox, ace: httpx.Client) -> None:
    sandbox.faults.add(Fault(provider="acedata", status=429, code="rate_limited", envelope="bare"))
    response = ace.post("/face/swap", json={})
    assert response.status_code == 429
    assert set(response.json()) == {"error"}
    sandbox.faults.clear()
    sandbox.faults.add(
        Fault(provider="acedata", code="rate_limited", envelope="success_false_no_trace_id")
    )
    concurrency = ace.post("/face/swap", json={}).json()
    assert concurrency == {"success": False, "error": concurrency["error"]}
    assert concurrency["error"]["code"] == "rate_limited"


# -- every documented code ----------------------------------------------------------------------

# Code -> the status the vendor documents for it (A-RESP; token_mismatched per seed 002).
DOCUMENTED = {
    "bad_request": 400,
    "no_token": 400,
    "api_not_implemented": 400,
    "invalid_token": 401,
    "token_expired": 401,
    "token_mismatched": 400,
    "disabled": 403,
    "used_up": 403,
    "forbidden": 403,
    "no_api": 404,
    "too_many_requests": 429,
    "rate_limited": 429,
    "api_error": 500,
    "timeout": 504,
}


@pytest.mark.parametrize(("code", "status"), sorted(DOCUMENTED.items()))
def test_a_code_fault_answers_with_its_documented_status(
    sandbox: Sandbox, ace: httpx.Client, code: str, status: int
) -> None:
    sandbox.faults.add(Fault(provider="acedata", code=code, times=1))
    _standard_error(ace.post("/face/swap", json={}), status, code)


@pytest.mark.parametrize(("code", "status"), [("token_mismatched", 401), ("disabled", 400)])
def test_the_other_documented_status_of_a_code(
    sandbox: Sandbox, ace: httpx.Client, code: str, status: int
) -> None:
    sandbox.faults.add(Fault(provider="acedata", code=code, status=status, times=1))
    _standard_error(ace.post("/face/tasks", json={}), status, code)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "bad_request"),
        (401, "invalid_token"),
        (403, "used_up"),
        (404, "no_api"),
        (429, "too_many_requests"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "api_error"),
        (504, "timeout"),
        (409, "bad_request"),
    ],
)
def test_status_faults_carry_the_matching_code(
    sandbox: Sandbox, any_ace: httpx.Client, status: int, code: str
) -> None:
    sandbox.faults.add(Fault(provider="acedata", status=status, times=1))
    response = any_ace.post("/face/swap", json={})
    _standard_error(response, status, code)
    assert not any(name.startswith("x-ratelimit") for name in response.headers)


def test_timeout_fault_message_is_the_documented_one(sandbox: Sandbox, ace: httpx.Client) -> None:
    sandbox.faults.add(Fault(provider="acedata", status=504, times=1))
    body = ace.post("/face/swap", json={}).json()
    assert body["error"]["message"] == "Timeout to generate the image."


# -- validation: URLs only ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "data:image/png;base64," + b64(image_bytes()),
        b64(image_bytes()),
        "ftp://example.com/face.png",
        "/relative/face.png",
        "",
    ],
    ids=["data-uri", "raw-base64", "ftp", "relative", "empty"],
)
@pytest.mark.parametrize("field", ["source_image_url", "target_image_url"])
def test_only_http_urls_are_accepted(ace: httpx.Client, field: str, value: str) -> None:
    body = ace_body(ace, **{field: value})
    error = _standard_error(ace.post("/face/swap", json=body), 400, "bad_request")["error"]
    assert field in error["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"source_image_url": None},
        {"target_image_url": 12},
        {"async": "yes"},
        {"timeout": "60"},
        {"timeout": 0},
        {"timeout": True},
        {"callback_url": "not a url"},
        {"callback_url": 5},
    ],
)
def test_invalid_parameters_are_bad_request(ace: httpx.Client, change: dict[str, Any]) -> None:
    body = ace_body(ace)
    body.update(change)
    body = {key: value for key, value in body.items() if value is not None}
    _standard_error(ace.post("/face/swap", json=body), 400, "bad_request")


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"", b"null"])
def test_malformed_json_is_bad_request(ace: httpx.Client, content: bytes) -> None:
    _standard_error(ace.post("/face/swap", content=content), 400, "bad_request")


def test_unknown_fields_are_ignored(ace: httpx.Client) -> None:
    assert ace.post("/face/swap", json=ace_body(ace, model="x")).status_code == 200


# -- input images -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["https://example.com/scene.jpg", "http://127.0.0.1:1/x.png", "http://127.0.0.1:x/"]
)
def test_urls_outside_the_sandbox_fail_to_fetch(any_ace: httpx.Client, url: str) -> None:
    body = ace_body(any_ace, target_image_url=url)
    response = any_ace.post("/face/swap", json=body)
    assert _standard_error(response, 500, "api_error")["error"]["message"] == "fetch failed"


def test_unknown_sandbox_file_fails_to_fetch(ace: httpx.Client) -> None:
    body = ace_body(ace, source_image_url="http://sandbox.test/acedata/cdn/uploads/nope.png")
    assert ace.post("/face/swap", json=body).json()["error"]["message"] == "fetch failed"


@pytest.mark.parametrize("field", ["source_image_url", "target_image_url"])
def test_a_flat_colour_image_has_no_face(ace: httpx.Client, field: str) -> None:
    flat = upload(ace, image_bytes(flat=True))
    response = ace.post("/face/swap", json=ace_body(ace, **{field: flat}))
    error = _standard_error(response, 400, "bad_request")["error"]
    assert error["message"] == f"No face detected in {field}."


def test_a_file_that_is_not_an_image_is_bad_request(ace: httpx.Client) -> None:
    text = upload(ace, b"hello, not an image", "notes.txt", "text/plain")
    error = ace.post("/face/swap", json=ace_body(ace, source_image_url=text)).json()["error"]
    assert error["code"] == "bad_request"
    assert "source_image_url" in error["message"]


def _padded_png(total: int) -> bytes:
    """A valid PNG followed by padding (decoders ignore bytes after IEND) of `total` bytes."""
    png = image_bytes((16, 12), SOURCE_COLOR)
    return png + b"\0" * (total - len(png))


def test_twenty_five_mib_is_the_largest_input(sandbox: Sandbox, ace: httpx.Client) -> None:
    at_limit = upload(ace, _padded_png(TWENTY_FIVE_MIB))
    assert ace.post("/face/swap", json=ace_body(ace, source_image_url=at_limit)).status_code == 200
    with FileServer(_padded_png(TWENTY_FIVE_MIB + 1)) as host:
        response = ace.post("/face/swap", json=ace_body(ace, target_image_url=host.url))
    error = _standard_error(response, 400, "bad_request")["error"]
    assert "target_image_url" in error["message"]
    assert "25 MB" in error["message"]


def test_loopback_image_hosts_are_fetched(ace: httpx.Client) -> None:
    with FileServer(image_bytes((20, 20), TARGET_COLOR)) as host:
        payload = ace.post("/face/swap", json=ace_body(ace, target_image_url=host.url)).json()
    assert (payload["image_width"], payload["image_height"]) == (20, 20)


# -- the sync result ----------------------------------------------------------------------------


def test_sync_swap_returns_the_documented_fields(any_ace: httpx.Client) -> None:
    response = any_ace.post("/face/swap", json=ace_body(any_ace))
    assert response.status_code == 200, response.text
    payload = response.json()
    assert list(payload) == [
        "success",
        "task_id",
        "trace_id",
        "image_url",
        "image_width",
        "image_height",
        "image_size",
    ]
    assert payload["success"] is True
    assert uuid.UUID(payload["task_id"]).version == 4
    assert TRACE_ID.fullmatch(payload["trace_id"])
    assert (payload["image_width"], payload["image_height"]) == (40, 30)
    base = str(any_ace.base_url).rstrip("/")
    assert payload["image_url"] == f"{base}/cdn/face/{payload['task_id']}.png"
    download = any_ace.get(payload["image_url"], headers={"Authorization": ""})
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert len(download.content) == payload["image_size"]
    image = decode(download.content)
    assert (image.format, image.size) == ("PNG", (40, 30))


def test_source_is_the_face_and_target_the_scene(ace: httpx.Client) -> None:
    payload = ace.post("/face/swap", json=ace_body(ace)).json()
    image = decode(ace.get(payload["image_url"]).content).convert("RGB")
    assert image.getpixel((20, 15)) == SOURCE_COLOR  # centre: the source face
    assert image.getpixel((39, 29)) == TARGET_COLOR  # corner: the target


def test_widths_can_be_strings(fake_clock: FakeClock) -> None:
    with (
        _ace_sandbox(fake_clock, vendor_options=_ace_options(dimension_type="str")) as sandbox,
        _ace_client(sandbox) as http,
    ):
        payload = http.post("/face/swap", json=ace_body(http)).json()
    assert (payload["image_width"], payload["image_height"]) == ("40", "30")
    assert isinstance(payload["image_size"], int)


def test_sync_calls_take_no_wall_time(ace: httpx.Client, fake_clock: FakeClock) -> None:
    before = fake_clock()
    assert ace.post("/face/swap", json=ace_body(ace)).status_code == 200
    assert fake_clock() == before


def test_a_job_longer_than_timeout_is_504(ace: httpx.Client) -> None:
    response = ace.post("/face/swap", json=ace_body(ace, timeout=1.5))  # job_seconds is 2
    body = _standard_error(response, 504, "timeout")
    assert body["error"]["message"] == "Timeout to generate the image."
    assert ace.post("/face/swap", json=ace_body(ace, timeout=2)).status_code == 200


def test_results_are_kept_30_days(sandbox: Sandbox, ace: httpx.Client) -> None:
    url = ace.post("/face/swap", json=ace_body(ace)).json()["image_url"]
    sandbox.advance(30 * DAY - 1)
    assert ace.get(url).status_code == 200
    sandbox.advance(1)
    gone = ace.get(url)
    assert gone.status_code == 404
    assert b"<Code>NoSuchKey</Code>" in gone.content


def test_result_retention_is_an_option(fake_clock: FakeClock) -> None:
    options = _ace_options(result_ttl_seconds=DAY)
    with _ace_sandbox(fake_clock, vendor_options=options) as sandbox, _ace_client(sandbox) as http:
        url = http.post("/face/swap", json=ace_body(http)).json()["image_url"]
        sandbox.advance(DAY - 1)
        assert http.get(url).status_code == 200
        sandbox.advance(1)
        assert http.get(url).status_code == 404


def test_results_are_usable_as_inputs(ace: httpx.Client) -> None:
    first = ace.post("/face/swap", json=ace_body(ace)).json()
    second = ace.post("/face/swap", json=ace_body(ace, target_image_url=first["image_url"]))
    assert second.status_code == 200, second.text


# -- uploads ------------------------------------------------------------------------------------


def test_upload_round_trip(sandbox: Sandbox, any_ace: httpx.Client) -> None:
    data = image_bytes((16, 12), SOURCE_COLOR, "JPEG")
    started = time.time()
    response = any_ace.post("/files/upload", files={"file": ("me.jpeg", data, "image/jpeg")})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert set(payload) == {"success", "url", "expires_at"}
    assert payload["success"] is True
    base = str(any_ace.base_url).rstrip("/")
    assert re.fullmatch(rf"{re.escape(base)}/cdn/uploads/[0-9a-f-]{{36}}\.jpg", payload["url"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", payload["expires_at"])
    expires = datetime.fromisoformat(payload["expires_at"].replace("Z", "+00:00")).timestamp()
    assert abs(expires - (started + 7 * DAY)) < 5
    served = any_ace.get(payload["url"], headers={"Authorization": ""})
    assert served.headers["content-type"] == "image/jpeg"
    assert served.content == data
    swap = any_ace.post("/face/swap", json=ace_body(any_ace, source_image_url=payload["url"]))
    assert swap.status_code == 200, swap.text


def test_uploads_expire_after_7_days(sandbox: Sandbox, ace: httpx.Client) -> None:
    url = upload(ace, image_bytes())
    sandbox.advance(7 * DAY - 1)
    assert ace.get(url).status_code == 200
    sandbox.advance(1)
    assert ace.get(url).status_code == 404
    expired = ace.post("/face/swap", json=ace_body(ace, source_image_url=url))
    assert _standard_error(expired, 500, "api_error")["error"]["message"] == "fetch failed"


def test_upload_content_type_is_sniffed_then_declared(ace: httpx.Client) -> None:
    png_named_jpg = upload(ace, image_bytes(), "photo.jpg", "image/jpeg")
    assert ace.get(png_named_jpg).headers["content-type"] == "image/png"
    text = upload(ace, b"just text", "notes.txt", "text/plain")
    assert text.endswith(".txt")
    assert ace.get(text).headers["content-type"] == "text/plain"
    unknown = upload(ace, b"\x00\x01", "blob", "application/octet-stream")
    assert ace.get(unknown).headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"json": {"file": "x"}},
        {"files": {"image": ("a.png", b"x")}},
        {"files": {"file": ("a.png", b"")}},
        {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data; boundary=x"}},
    ],
    ids=["json", "wrong-field", "empty-file", "malformed"],
)
def test_bad_uploads_are_bad_request(ace: httpx.Client, request_kwargs: dict[str, Any]) -> None:
    _standard_error(ace.post("/files/upload", **request_kwargs), 400, "bad_request")


def test_upload_limit_is_25_mib(ace: httpx.Client) -> None:
    over = ace.post("/files/upload", files={"file": ("big.png", _padded_png(TWENTY_FIVE_MIB + 1))})
    assert "25 MB" in _standard_error(over, 400, "bad_request")["error"]["message"]


def test_uploads_need_the_token(ace: httpx.Client) -> None:
    files = {"file": ("a.png", image_bytes())}
    _standard_error(
        ace.post("/files/upload", files=files, headers={"Authorization": ""}), 400, "no_token"
    )


# -- credits and rate limits --------------------------------------------------------------------


def test_only_successful_swaps_cost_a_credit(fake_clock: FakeClock) -> None:
    with _ace_sandbox(fake_clock, credits=2) as sandbox, _ace_client(sandbox) as http:
        flat = upload(http, image_bytes(flat=True))
        refused = [
            ace_body(http, source_image_url=flat),  # no face
            ace_body(http, target_image_url="https://example.com/x.png"),  # fetch failed
            ace_body(http, timeout=1),  # timeout
            {"source_image_url": "data:image/png;base64,AAAA"},  # bad request
        ]
        for body in refused:
            assert http.post("/face/swap", json=body).status_code >= 400
        body = ace_body(http)
        sandbox.faults.add(Fault(provider="acedata", kind="job_failed", times=1))
        assert http.post("/face/swap", json=body).status_code == 500
        sandbox.faults.add(Fault(provider="acedata", code="forbidden", times=1))
        assert http.post("/face/swap", json=body).status_code == 403
        assert sandbox.credits_left("acedata", ACE_KEY) == 2

        assert http.post("/face/swap", json=body).status_code == 200
        task = http.post("/face/swap", json={**body, "async": True}).json()
        assert sandbox.credits_left("acedata", ACE_KEY) == 0
        used_up = http.post("/face/swap", json=body)
        _standard_error(used_up, 403, "used_up")
        # Task queries and uploads stay free.
        retrieve = {"action": "retrieve", "id": task["task_id"]}
        assert http.post("/face/tasks", json=retrieve).status_code == 200
        assert upload(http, image_bytes())


def test_rate_limit_is_429_too_many_requests_without_headers(fake_clock: FakeClock) -> None:
    with _ace_sandbox(fake_clock, rate_limit=(2, 1.0)) as sandbox, _ace_client(sandbox) as http:
        body = ace_body(http)  # two uploads: the window is full
        limited = http.post("/face/swap", json=body)
        _standard_error(limited, 429, "too_many_requests")
        assert not any(name.startswith(("x-ratelimit", "retry-after")) for name in limited.headers)
        # Task queries have their own window (the vendor documents a separate /tasks QPS).
        retrieve = {"action": "retrieve", "id": "x"}
        assert http.post("/face/tasks", json=retrieve).status_code == 404
        sandbox.advance(1)
        assert http.post("/face/swap", json=body).status_code == 200


def test_requests_are_recorded(sandbox: Sandbox, ace: httpx.Client) -> None:
    ace.post("/face/tasks", json={"action": "retrieve", "id": "abc"})
    [recorded] = sandbox.requests
    assert (recorded.method, recorded.path) == ("POST", "/acedata/face/tasks")
    assert recorded.json == {"action": "retrieve", "id": "abc"}
