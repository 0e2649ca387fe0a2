"""The AceDataCloud adapter without a network: envelopes, codes, task records, callbacks."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swapkit import SwapRequest, errors
from swapkit.core.callbacks import sign_callback_url
from swapkit.core.images import LoadedImage
from swapkit.core.provider import Done, Pending, Plan, PreparedSwap
from swapkit.providers.acedata import Acedata, task_verdict

BASE = "https://api.acedata.cloud"
SYNC = Plan("sync", 60.0)
ASYNC = Plan("async", 600.0)
provider = Acedata(api_key="ace-test", callback_secret="cb-secret")
JOB = Pending(job_id="t-1")


def response(
    status: int, body: Any = None, *, path: str = "/face/swap", content: bytes | None = None
) -> httpx.Response:
    if content is None:
        content = json.dumps(body).encode()
    return httpx.Response(status, content=content, request=httpx.Request("POST", BASE + path))


def prepared(**fields: Any) -> PreparedSwap:
    request = SwapRequest(
        source="https://x.invalid/face.png", target="https://x.invalid/scene.png", **fields
    )
    return PreparedSwap(
        request=request,
        source=LoadedImage(role="source", origin="u", url="https://x.invalid/face.png"),
        target=LoadedImage(role="target", origin="u", url="https://x.invalid/scene.png"),
    )


CODES = [
    ("no_token", 400, errors.AuthenticationError),
    ("invalid_token", 401, errors.AuthenticationError),
    ("token_expired", 401, errors.AuthenticationError),
    ("token_mismatched", 400, errors.AuthenticationError),
    ("token_mismatched", 401, errors.AuthenticationError),
    ("used_up", 403, errors.InsufficientCredits),
    ("disabled", 403, errors.PermissionDenied),
    ("forbidden", 403, errors.ContentRefused),
    ("too_many_requests", 429, errors.RateLimited),
    ("rate_limited", 429, errors.RateLimited),
    ("bad_request", 400, errors.InvalidRequest),
    ("api_not_implemented", 400, errors.InvalidRequest),
    ("api_error", 500, errors.ProviderUnavailable),
    ("timeout", 504, errors.ProviderTimeout),
]


def envelopes(code: str, message: str) -> list[dict[str, Any]]:
    return [
        {"error": {"code": code, "message": message}, "trace_id": "tr-1"},
        {"success": False, "error": {"code": code, "message": message}},
        {"success": False, "error": {"code": code, "message": message}, "trace_id": "tr-1"},
    ]


@pytest.mark.parametrize(("code", "status", "error"), CODES)
def test_every_code_in_every_envelope_maps_to_its_class(
    code: str, status: int, error: type
) -> None:
    for body in envelopes(code, "something went wrong"):
        exc = provider.error_from_response(response(status, body))
        assert type(exc) is error, body
        assert exc.code == code
        assert exc.status_code == status
        assert exc.message == "something went wrong"
        if "trace_id" in body:
            assert exc.request_id == "tr-1"


def test_bare_string_error() -> None:
    exc = provider.error_from_response(response(429, {"error": "too_many_requests"}))
    assert type(exc) is errors.RateLimited
    assert exc.code == "too_many_requests"
    exc = provider.error_from_response(response(500, {"error": "upstream exploded"}))
    assert type(exc) is errors.ProviderUnavailable
    assert exc.message == "upstream exploded"


def test_unknown_code_falls_back_to_the_status() -> None:
    exc = provider.error_from_response(
        response(429, {"error": {"code": "new_thing", "message": "m"}})
    )
    assert type(exc) is errors.RateLimited
    assert exc.code == "new_thing"


def test_a_403_without_a_known_code_is_a_moderation_refusal() -> None:
    # the vendor SDK's reading (`_map_error`: 403 with no known code -> ModerationError)
    for body in ({"error": {"code": "new_thing", "message": "m"}}, {"error": "nsfw"}, {}):
        assert type(provider.error_from_response(response(403, body))) is errors.ContentRefused
    disabled = {"error": {"code": "disabled", "message": "off"}}
    assert type(provider.error_from_response(response(403, disabled))) is errors.PermissionDenied


def test_no_face_message_on_bad_request() -> None:
    body = {"error": {"code": "bad_request", "message": "No face detected in source image"}}
    assert type(provider.error_from_response(response(400, body))) is errors.NoFaceDetected


@pytest.mark.parametrize("content", [b"<html>502</html>", b'{"error": {"co', b""])
def test_garbage_error_bodies(content: bytes) -> None:
    exc = provider.error_from_response(response(502, content=content))
    assert type(exc) is errors.ProviderUnavailable
    assert exc.retryable


@pytest.mark.parametrize("width", [1024, "1024"])
def test_sync_answer_with_int_or_string_sizes(width: Any) -> None:
    body = {
        "success": True,
        "task_id": "t-1",
        "trace_id": "tr-1",
        "image_url": "https://platform.cdn.acedata.cloud/face/x.png",
        "image_width": width,
        "image_height": str(width),
        "image_size": 4_000_000,
    }
    outcome = provider.parse_submit(response(200, body), SYNC)
    assert isinstance(outcome, Done)
    assert (outcome.result.width, outcome.result.height) == (1024, 1024)
    assert outcome.result.job_id == "t-1"
    assert outcome.result.raw == body


@pytest.mark.parametrize("body", [{"task_id": "t-1"}, {"success": True, "task_id": "t-1"}])
def test_async_answer_is_pending(body: dict[str, Any]) -> None:
    outcome = provider.parse_submit(response(200, body), ASYNC)
    assert isinstance(outcome, Pending)
    assert outcome.job_id == "t-1"


def test_success_false_in_a_200_is_never_a_result() -> None:
    body = {"success": False, "error": {"code": "forbidden", "message": "moderation"}}
    with pytest.raises(errors.ContentRefused) as info:
        provider.parse_submit(response(200, body), SYNC)
    assert not info.value.retryable
    with pytest.raises(errors.JobFailed):
        provider.parse_submit(response(200, {"success": False}), SYNC)


DONE = {"success": True, "task_id": "t-1", "image_url": "https://cdn.invalid/r.png"}


@pytest.mark.parametrize(
    "record",
    [
        {"id": "t-1", "response": DONE},
        {"id": "t-1", "finished_at": 1.7e9, "response": DONE},
        {"id": "t-1", "status": "succeeded", "response": DONE},
        {"items": [{"id": "t-0"}, {"id": "t-1", "response": DONE}], "count": 2},
    ],
)
def test_finished_task_records(record: dict[str, Any]) -> None:
    outcome = provider.parse_poll(response(200, record, path="/face/tasks"), JOB)
    assert isinstance(outcome, Done)
    assert outcome.result.url == "https://cdn.invalid/r.png"


@pytest.mark.parametrize(
    "record",
    [
        {"id": "t-1", "created_at": 1.7e9, "request": {"async": True}},
        {"id": "t-1", "response": {}, "started_at": 1.7e9},
        {"id": "t-1", "status": "processing"},
        {"id": "t-1", "state": "weird-new-word"},
    ],
)
def test_unfinished_task_records(record: dict[str, Any]) -> None:
    outcome = provider.parse_poll(response(200, record, path="/face/tasks"), JOB)
    assert isinstance(outcome, Pending)


@pytest.mark.parametrize(
    ("inner", "error"),
    [
        (
            {"success": False, "error": {"code": "api_error", "message": "fetch failed"}},
            errors.JobFailed,
        ),
        (
            {"success": False, "error": {"code": "forbidden", "message": "nsfw"}},
            errors.ContentRefused,
        ),
        (
            {"success": False, "error": {"code": "timeout", "message": "slow"}},
            errors.JobFailed,
        ),
        ({"success": False}, errors.JobFailed),
    ],
)
def test_failed_task_records(inner: dict[str, Any], error: type) -> None:
    record = {"id": "t-1", "finished_at": 1.7e9, "response": inner}
    with pytest.raises(error):
        provider.parse_poll(response(200, record, path="/face/tasks"), JOB)


def test_status_failed_without_response_is_job_failed() -> None:
    with pytest.raises(errors.JobFailed):
        provider.parse_poll(
            response(200, {"id": "t-1", "status": "failed"}, path="/face/tasks"), JOB
        )


def test_finished_without_success_or_image_is_still_running() -> None:
    # the SDK: finished_at decides only with a success flag or an artifact; else keep waiting
    outcome = provider.parse_poll(
        response(200, {"id": "t-1", "finished_at": 1.7e9}, path="/face/tasks"), JOB
    )
    assert isinstance(outcome, Pending)


def test_finished_and_successful_without_image_is_result_invalid() -> None:
    record = {"id": "t-1", "finished_at": 1.7e9, "response": {"success": True}}
    with pytest.raises(errors.ResultInvalid):
        provider.parse_poll(response(200, record, path="/face/tasks"), JOB)


@pytest.mark.parametrize(
    ("record", "verdict"),
    [
        # a status word outranks everything, wherever it is
        ({"status": "processing", "finished_at": 1.0, "response": {"success": True}}, "running"),
        ({"response": {"state": "FAILED", "image_url": "https://c/r.png"}}, "failed"),
        ({"status": "succeeded", "response": {"image_url": "https://c/r.png"}}, "succeeded"),
        ({"status": "completed", "response": {"success": True}}, "failed"),  # no artifact
        # success: false is transient with a bare string, final with a structured code
        ({"response": {"success": False, "error": "temporary"}}, "running"),
        ({"response": {"success": False, "error": {"code": "api_error"}}}, "failed"),
        ({"response": {"success": False, "error": None}, "finished_at": 1.0}, "failed"),
        # finished_at with success decides; an artifact URL alone means success
        ({"finished_at": 1.0, "response": {"success": True}}, "succeeded"),
        ({"response": {"data": [{"image_url": "https://c/r.png"}]}}, "succeeded"),
        # the record's echo of the request holds the inputs, not a result
        ({"request": {"source_image_url": "https://c/in.png"}}, "running"),
        ({}, "running"),
    ],
)
def test_task_completion_follows_the_vendor_sdk(record: dict[str, Any], verdict: str) -> None:
    assert task_verdict(record) == verdict


def test_submit_body_sync_async_and_roles() -> None:
    sync = json.loads(provider.build_submit(prepared(), SYNC).read())
    assert sync == {
        "source_image_url": "https://x.invalid/face.png",
        "target_image_url": "https://x.invalid/scene.png",
        "timeout": 60,
    }
    assert json.loads(provider.build_submit(prepared(), ASYNC).read())["async"] is True
    flipped = Acedata(api_key="k", source_is_face=False)
    body = json.loads(flipped.build_submit(prepared(), SYNC).read())
    assert body["source_image_url"] == "https://x.invalid/scene.png"


def test_webhook_url_becomes_a_signed_callback_url() -> None:
    body = json.loads(
        provider.build_submit(prepared(webhook_url="https://app.example/hook?x=1"), ASYNC).read()
    )
    callback = body["callback_url"]
    assert callback.startswith("https://app.example/hook?x=1&swapkit_nonce=")
    assert "swapkit_token=" in callback
    assert "async" not in body


def test_webhook_url_needs_a_callback_secret() -> None:
    with pytest.raises(errors.ConfigurationError, match="SWAPKIT_ACEDATA_CALLBACK_SECRET"):
        Acedata(api_key="k").check(prepared(webhook_url="https://app.example/hook"))


CALLBACK_OK = {
    "success": True,
    "task_id": "t-1",
    "trace_id": "tr-1",
    "image_url": "https://cdn.invalid/r.png",
    "image_width": 512,
    "image_height": 512,
    "image_size": 1234,
}


def test_callback_is_verified_by_its_url_token() -> None:
    url = sign_callback_url("https://app.example/hook", "cb-secret")
    event = provider.parse_webhook({}, json.dumps(CALLBACK_OK).encode(), url=url)
    assert (event.status, event.job_id, event.result_url) == (
        "completed",
        "t-1",
        CALLBACK_OK["image_url"],
    )
    failed = {"success": False, "task_id": "t-2", "error": {"code": "api_error", "message": "boom"}}
    event = provider.parse_webhook({}, json.dumps(failed).encode(), url=url)
    assert (event.status, event.error) == ("failed", "boom")


@pytest.mark.parametrize(
    "url",
    [
        None,
        "https://app.example/hook",
        sign_callback_url("https://app.example/hook", "other-secret"),
        sign_callback_url("https://app.example/hook", "cb-secret").replace(
            "swapkit_token=", "swapkit_token=0"
        ),
    ],
    ids=["no-url", "no-token", "other-secret", "altered-token"],
)
def test_forged_callbacks_are_rejected(url: str | None) -> None:
    with pytest.raises(errors.InvalidSignature):
        provider.parse_webhook({}, json.dumps(CALLBACK_OK).encode(), url=url)


def test_upload_request_and_answer() -> None:
    image = LoadedImage(role="source", origin="bytes", data=b"\x89PNG....", media_type="image/png")
    request = provider.build_upload(image)
    assert request.url == BASE + "/files/upload"
    assert b'name="file"; filename="source.png"' in request.read()
    answer = {
        "success": True,
        "url": "https://cdn.invalid/u.png",
        "expires_at": "2026-12-01T00:00:00Z",
    }
    assert (
        provider.parse_upload(response(200, answer, path="/files/upload"), image) == answer["url"]
    )
    with pytest.raises(errors.ProviderError):
        provider.parse_upload(response(200, {"success": False}, path="/files/upload"), image)


def test_the_sdk_s_upload_answer_is_read_too() -> None:
    # the vendor SDK's `files.upload` answers {"file_url", "mime"} (resources/files.py)
    image = LoadedImage(role="source", origin="bytes", data=b"\x89PNG....", media_type="image/png")
    answer = {"file_url": "https://cdn.invalid/f.png", "mime": "image/png"}
    path = "/api/v1/files/"
    assert provider.parse_upload(response(200, answer, path=path), image) == answer["file_url"]
    with pytest.raises(errors.MalformedResponse):
        provider.parse_upload(response(200, {"mime": "image/png"}, path=path), image)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=16,
)
keys = st.sampled_from(
    [
        "success",
        "task_id",
        "trace_id",
        "image_url",
        "image_width",
        "error",
        "id",
        "items",
        "response",
        "finished_at",
        "status",
        "state",
        "code",
        "message",
        "url",
    ]
)
records = st.dictionaries(
    keys, json_values | st.dictionaries(keys, json_values, max_size=5), max_size=7
)


@settings(max_examples=150)
@given(body=records | json_values)
def test_garbage_answers_raise_only_swapkit_errors(body: Any) -> None:
    for call in (
        lambda: provider.parse_submit(response(200, body), SYNC),
        lambda: provider.parse_poll(response(200, body, path="/face/tasks"), JOB),
        lambda: provider.parse_upload(
            response(200, body, path="/files/upload"), LoadedImage("s", "b")
        ),
    ):
        with contextlib.suppress(errors.ProviderError):
            call()


@settings(max_examples=100)
@given(status=st.integers(400, 599), body=records | json_values)
def test_garbage_errors_map_to_provider_errors(status: int, body: Any) -> None:
    assert isinstance(provider.error_from_response(response(status, body)), errors.ProviderError)


@settings(max_examples=100)
@given(body=st.binary(max_size=100) | records.map(lambda r: json.dumps(r).encode()))
def test_garbage_callbacks_raise_only_swapkit_errors(body: bytes) -> None:
    url = sign_callback_url("https://app.example/hook", "cb-secret")
    with contextlib.suppress(errors.SwapError):
        provider.parse_webhook({}, body, url=url)
