"""The DeepSwapAI adapter without a network: fields, normalisation, codes in any envelope."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swapkit import SwapRequest, errors
from swapkit.core.provider import Done, Plan
from swapkit.core.routing import prepare
from swapkit.providers.deepswapai import Deepswapai

from .conftest import make_image

BASE = "https://api.deepswapai.com"
PLAN = Plan("sync", 60.0)
provider = Deepswapai(api_key="ds-key")
OK = {
    "success": True,
    "job_id": "job_abc123xyz",
    "output_url": "https://cdn.deepswapai.com/results/abc123.png",
    "output_format": "png",
    "resolution": "3840x2160",
    "processing_time": 2340,
    "faces_detected": 1,
    "credits_used": 1,
}


def answer(status: int, data: Any = None, content: bytes | None = None) -> httpx.Response:
    raw = json.dumps(data).encode() if content is None else content
    return httpx.Response(
        status, content=raw, request=httpx.Request("POST", BASE + "/v1/image-swap")
    )


@pytest.mark.parametrize(
    ("fields", "sent"),
    [
        ({}, {}),
        ({"output_format": "jpeg", "quality": "max"}, {"output_format": "jpg", "quality": "4k"}),
        (
            {"output_format": "webp", "quality": "fast"},
            {"output_format": "webp", "quality": "standard"},
        ),
        ({"quality": "high", "face_index": 2}, {"quality": "high", "face_index": 2}),
    ],
)
def test_request_fields(fields: dict[str, Any], sent: dict[str, Any]) -> None:
    face, scene = make_image(), make_image((60, 50))
    request = provider.build_submit(prepare(SwapRequest(source=face, target=scene, **fields)), PLAN)
    assert request.url == BASE + "/v1/image-swap"
    assert request.headers["authorization"] == "Bearer ds-key"
    body = json.loads(request.read())
    assert set(body) == {"source_image", "target_image", *sent}
    assert {k: body[k] for k in sent} == sent


def test_answer_is_normalised() -> None:
    outcome = provider.parse_submit(answer(200, OK), PLAN)
    assert isinstance(outcome, Done)
    result = outcome.result
    assert result.processing_seconds == pytest.approx(2.34)
    assert (result.width, result.height) == (3840, 2160)
    assert (result.faces_detected, result.credits_used, result.job_id) == (1, 1, "job_abc123xyz")
    assert result.url == OK["output_url"]
    assert result.expires_at is not None
    assert result.raw == OK


@pytest.mark.parametrize(
    "body",
    [
        {"success": False, "error": {"code": "NO_FACE_DETECTED", "message": "No face found"}},
        {"success": False, "error": "NO_FACE_DETECTED", "message": "No face found"},
        {"success": False, "code": "NO_FACE_DETECTED", "message": "No face found"},
        {"error": {"type": "NO_FACE_DETECTED", "detail": "No face found"}},
    ],
)
@pytest.mark.parametrize("status", [200, 400, 422])
def test_the_code_is_found_in_any_envelope(body: dict[str, Any], status: int) -> None:
    response = answer(status, body)
    if status == 200:
        with pytest.raises(errors.NoFaceDetected) as info:
            provider.parse_submit(response, PLAN)
        exc = info.value
    else:
        exc = provider.error_from_response(response)
    assert type(exc) is errors.NoFaceDetected
    assert exc.code == "NO_FACE_DETECTED"
    assert exc.message == "No face found"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("IMAGE_TOO_LARGE", errors.ImageTooLarge),
        ("INVALID_FORMAT", errors.UnsupportedImage),
        ("invalid_format", errors.UnsupportedImage),
    ],
)
def test_documented_codes(code: str, error: type) -> None:
    exc = provider.error_from_response(answer(413, {"error": {"code": code, "message": "m"}}))
    assert type(exc) is error


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, errors.AuthenticationError),
        (402, errors.InsufficientCredits),
        (403, errors.InsufficientCredits),
        (429, errors.RateLimited),
        (500, errors.ProviderUnavailable),
        (503, errors.ProviderUnavailable),
    ],
)
def test_other_errors_fall_back_to_the_status(status: int, error: type) -> None:
    exc = provider.error_from_response(answer(status, {"error": {"code": "SOMETHING_ELSE"}}))
    assert type(exc) is error
    assert exc.code == "SOMETHING_ELSE"


def test_success_false_without_a_code_is_job_failed() -> None:
    with pytest.raises(errors.JobFailed):
        provider.parse_submit(answer(200, {"success": False}), PLAN)


@pytest.mark.parametrize("body", [{"success": True}, {"success": True, "output_url": "ftp://x"}])
def test_success_without_a_url_is_result_invalid(body: dict[str, Any]) -> None:
    with pytest.raises(errors.ResultInvalid):
        provider.parse_submit(answer(200, body), PLAN)


def test_missing_resolution_and_times_are_none() -> None:
    outcome = provider.parse_submit(
        answer(200, {"success": True, "output_url": OK["output_url"], "resolution": "big"}), PLAN
    )
    assert isinstance(outcome, Done)
    assert (outcome.result.width, outcome.result.processing_seconds) == (None, None)


def test_face_index_is_a_declared_capability() -> None:
    assert provider.capabilities.face_index
    assert provider.capabilities.max_image_bytes == 50 * 1024 * 1024


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from([*OK, "error", "code", "message", "detail"])
records = st.dictionaries(
    keys, json_values | st.dictionaries(keys, json_values, max_size=3), max_size=8
)


@settings(max_examples=150)
@given(data=records | json_values, status=st.sampled_from([200, 400, 403, 500]))
def test_garbage_raises_only_swapkit_errors(data: Any, status: int) -> None:
    if status == 200:
        with contextlib.suppress(errors.ProviderError):
            provider.parse_submit(answer(200, data), PLAN)
    else:
        assert isinstance(provider.error_from_response(answer(status, data)), errors.ProviderError)
