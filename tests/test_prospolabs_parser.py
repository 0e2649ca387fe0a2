"""The Prospolabs adapter's parsing, without any network: statuses, schemas, webhooks, garbage."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swapkit import SwapRequest, errors
from swapkit.core.provider import Done, Pending, Plan
from swapkit.providers.prospolabs import Prospolabs

BASE = "https://api.prospolabs.com"
SYNC = Plan("sync", 60.0)
ASYNC = Plan("async", 600.0)
provider = Prospolabs(api_key="prsp-test", webhook_secret="whsec-test")


def response(
    status: int,
    body: Any = None,
    *,
    path: str = "/v1/swap/realistic",
    method: str = "POST",
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    if content is None:
        content = json.dumps(body).encode()
    return httpx.Response(
        status,
        content=content,
        headers=headers,
        request=httpx.Request(method, BASE + path),
    )


@pytest.mark.parametrize(
    ("status", "detail", "error"),
    [
        (400, "No face detected in the source image", errors.NoFaceDetected),
        (400, "Could not find a face in target", errors.NoFaceDetected),
        (400, "Face not detected", errors.NoFaceDetected),
        (400, "Image too large (>10 MB)", errors.ImageTooLarge),
        (400, "File exceeds the 10 MB limit", errors.ImageTooLarge),
        (400, "Invalid image format", errors.UnsupportedImage),
        (400, "Could not decode image", errors.UnsupportedImage),
        (400, "Missing required field", errors.InvalidRequest),
        (401, "Invalid API key", errors.AuthenticationError),
        (403, "Insufficient credits. Please top up your balance.", errors.InsufficientCredits),
        (403, "Account suspended", errors.PermissionDenied),
        (429, "Rate limit exceeded", errors.RateLimited),
        (500, "Internal server error", errors.ProviderUnavailable),
        (502, "Bad gateway", errors.ProviderUnavailable),
        (504, "GPU service unavailable", errors.ProviderTimeout),
    ],
)
def test_documented_statuses_map_to_classes(status: int, detail: str, error: type) -> None:
    exc = provider.error_from_response(response(status, {"detail": detail}))
    assert type(exc) is error
    assert exc.provider == "prospolabs"
    assert exc.status_code == status
    assert detail in exc.message


def test_refunded_server_errors_are_retryable_client_errors_are_not() -> None:
    assert provider.error_from_response(response(500, {"detail": "x"})).retryable
    assert provider.error_from_response(response(504, {"detail": "x"})).retryable
    assert not provider.error_from_response(response(400, {"detail": "bad"})).retryable
    assert not provider.error_from_response(response(401, {"detail": "no"})).retryable


def test_404_on_a_job_is_job_not_found_elsewhere_a_bad_endpoint() -> None:
    job = provider.error_from_response(
        response(404, {"detail": "Job not found"}, path="/v1/jobs/x")
    )
    assert type(job) is errors.JobNotFound
    endpoint = provider.error_from_response(response(404, {"detail": "Not Found"}))
    assert type(endpoint) is errors.InvalidRequest
    assert "base_url" in endpoint.message


def test_rate_limit_reset_header_becomes_retry_after() -> None:
    exc = provider.error_from_response(
        response(429, {"detail": "slow"}, headers={"X-RateLimit-Reset": "12"})
    )
    assert isinstance(exc, errors.RateLimited)
    assert exc.retry_after == 12.0
    assert exc.retryable


def test_list_detail_from_validation_is_joined() -> None:
    detail = [
        {"loc": ["body", "source_image"], "msg": "Field required", "type": "missing"},
        {"loc": ["body", "output_quality"], "msg": "Input should be <= 100", "type": "x"},
    ]
    exc = provider.error_from_response(response(422, {"detail": detail}))
    assert type(exc) is errors.InvalidRequest
    assert "body.source_image: Field required" in exc.message
    assert "body.output_quality" in exc.message


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "text/html"),
        (b'{"detail": "trunc', "not a JSON error"),
        (b"", "empty body"),
    ],
)
def test_garbage_error_bodies_become_provider_errors(content: bytes, words: str) -> None:
    headers = {"content-type": "text/html"} if content.startswith(b"<") else None
    exc = provider.error_from_response(response(502, content=content, headers=headers))
    assert type(exc) is errors.ProviderUnavailable
    assert words in exc.message


def test_current_schema_sync_result() -> None:
    outcome = provider.parse_submit(
        response(
            200,
            {
                "request_id": "a1",
                "status": "completed",
                "model": "realistic",
                "result_url": "https://storage.example.com/a1.jpeg?token=t",
                "inference_time": 2.05,
            },
        ),
        SYNC,
    )
    assert isinstance(outcome, Done)
    result = outcome.result
    assert (result.job_id, result.model, result.processing_seconds) == ("a1", "realistic", 2.05)
    assert result.url is not None
    assert result.expires_at is not None
    assert result.expires_at.tzinfo is not None


def test_older_schema_id_and_milliseconds() -> None:
    outcome = provider.parse_submit(
        response(
            200,
            {
                "id": "inf_abc123def456",
                "status": "completed",
                "model": "cartoon",
                "result_url": "https://storage.example.com/x.png",
                "processing_time_ms": 2050,
                "created_at": "2026-02-19T14:32:27Z",
            },
        ),
        SYNC,
    )
    assert isinstance(outcome, Done)
    assert outcome.result.job_id == "inf_abc123def456"
    assert outcome.result.processing_seconds == pytest.approx(2.05)


def test_failed_inside_a_200_is_job_failed() -> None:
    with pytest.raises(errors.JobFailed, match="GPU exploded") as info:
        provider.parse_submit(
            response(200, {"request_id": "r", "status": "failed", "detail": "GPU exploded"}),
            SYNC,
        )
    assert info.value.request_id == "r"


def test_completed_without_url_is_result_invalid() -> None:
    with pytest.raises(errors.ResultInvalid):
        provider.parse_submit(response(200, {"request_id": "r", "status": "completed"}), SYNC)


@pytest.mark.parametrize("status", ["processing", "queued", "pending", "warming_up", None])
def test_any_other_status_with_an_id_is_still_running(status: str | None) -> None:
    outcome = provider.parse_poll(
        response(200, {"request_id": "j", "status": status}, method="GET", path="/v1/jobs/j"),
        Pending(job_id="j"),
    )
    assert isinstance(outcome, Pending)
    assert outcome.job_id == "j"


def test_async_submit_without_an_id_is_a_provider_error() -> None:
    with pytest.raises(errors.MalformedResponse, match="neither a result nor a job id"):
        provider.parse_submit(response(202, {"status": "processing"}), ASYNC)


@pytest.mark.parametrize(
    ("style", "quality", "model"),
    [
        (None, None, "realistic"),
        ("realistic", "high", "realistic"),
        (None, "fast", "fast"),
        ("cartoon", None, "cartoon"),
        ("cartoon", "max", "cartoon"),
        ("cartoon", "fast", "cartoon-lite"),
    ],
)
def test_style_and_quality_pick_the_model(style: str, quality: str, model: str) -> None:
    request = SwapRequest(source=b"x", target=b"y", style=style, quality=quality)
    assert provider.model_for(request) == model


def test_model_option_and_prices() -> None:
    explicit = SwapRequest(source=b"x", target=b"y", options={"prospolabs": {"model": "fast"}})
    assert provider.model_for(explicit) == "fast"
    assert provider.price_usd(explicit) == 0.025
    assert provider.price_usd(SwapRequest(source=b"x", target=b"y")) == 0.05
    with pytest.raises(errors.InvalidRequest, match="unknown Prospolabs model"):
        provider.model_for(
            SwapRequest(source=b"x", target=b"y", options={"prospolabs": {"model": "anime"}})
        )


# -- webhooks --------------------------------------------------------------------------------

EVENT = {
    "event": "inference.completed",
    "job_id": "a1b2",
    "data": {
        "job_id": "a1b2",
        "model": "realistic",
        "result_url": "https://storage.example.com/a1b2.jpeg?token=t",
        "processing_time_ms": 2050,
    },
    "timestamp": "2026-02-19T14:32:27.000Z",
}


def sign(body: bytes, secret: str = "whsec-test") -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_webhook_is_verified_and_normalised() -> None:
    body = json.dumps(EVENT, indent=2).encode()
    event = provider.parse_webhook({"X-Prospo-Signature": sign(body)}, body)
    assert (event.status, event.job_id, event.model) == ("completed", "a1b2", "realistic")
    assert event.processing_seconds == pytest.approx(2.05)
    assert event.timestamp is not None
    assert event.timestamp.utcoffset() is not None
    assert event.timestamp.microsecond == 0


def test_webhook_signed_over_the_re_serialised_body_is_accepted() -> None:
    body = json.dumps(EVENT, indent=2).encode()
    compact = json.dumps(EVENT, separators=(",", ":")).encode()
    event = provider.parse_webhook({"x-prospo-signature": sign(compact)}, body)
    assert event.job_id == "a1b2"


def test_failed_webhook_carries_the_error() -> None:
    payload = {"event": "inference.failed", "job_id": "j", "data": {"job_id": "j", "error": "boom"}}
    body = json.dumps(payload).encode()
    event = provider.parse_webhook({"X-Prospo-Signature": sign(body)}, body)
    assert (event.status, event.error) == ("failed", "boom")


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Prospo-Signature": "0" * 64}, {"X-Prospo-Signature": sign(b"other")}],
)
def test_bad_signatures_are_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(errors.InvalidSignature):
        provider.parse_webhook(headers, json.dumps(EVENT).encode())


def test_wrong_secret_and_missing_secret() -> None:
    body = json.dumps(EVENT).encode()
    with pytest.raises(errors.InvalidSignature):
        provider.parse_webhook({"X-Prospo-Signature": sign(body, "other")}, body)
    with pytest.raises(errors.ConfigurationError, match="SWAPKIT_PROSPOLABS_WEBHOOK_SECRET"):
        Prospolabs(api_key="k").parse_webhook({"X-Prospo-Signature": sign(body)}, body)


# -- garbage in, swapkit errors out ---------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
known_keys = st.sampled_from(
    [
        "request_id",
        "id",
        "status",
        "model",
        "result_url",
        "inference_time",
        "processing_time_ms",
        "detail",
        "error",
    ]
)
job_like = st.dictionaries(known_keys, json_values, max_size=8)
garbage_bytes = st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode())


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.sampled_from([200, 202]), body=job_like | json_values)
def test_parser_garbage_raises_only_swapkit_errors(status: int, body: Any) -> None:
    try:
        outcome = provider.parse_submit(response(status, body), SYNC)
    except errors.ProviderError:
        return
    assert isinstance(outcome, (Done, Pending))


@settings(max_examples=150)
@given(status=st.integers(400, 599), content=garbage_bytes)
def test_error_garbage_maps_to_a_provider_error(status: int, content: bytes) -> None:
    exc = provider.error_from_response(response(status, content=content))
    assert isinstance(exc, errors.ProviderError)
    assert exc.status_code == status


@settings(max_examples=100)
@given(content=garbage_bytes)
def test_webhook_garbage_raises_only_swapkit_errors(content: bytes) -> None:
    try:
        provider.parse_webhook({"X-Prospo-Signature": sign(content)}, content)
    except errors.SwapError:
        return


def test_unknown_webhook_event_is_not_a_completion() -> None:
    body = json.dumps({**EVENT, "event": "inference.started"}).encode()
    with pytest.raises(errors.ProviderError, match="unknown Prospolabs webhook event"):
        provider.parse_webhook({"X-Prospo-Signature": sign(body)}, body)


def test_non_ascii_signature_is_invalid_not_a_crash() -> None:
    body = json.dumps(EVENT).encode()
    with pytest.raises(errors.InvalidSignature):
        provider.parse_webhook({"X-Prospo-Signature": "é" * 64}, body)


def test_raw_is_the_vendor_json_as_sent() -> None:
    sent = {"request_id": "a1", "status": "completed", "result_url": "https://x.invalid/a.png"}
    outcome = provider.parse_submit(response(200, sent), SYNC)
    assert isinstance(outcome, Done)
    assert outcome.result.raw == sent


def test_errors_read_the_promised_code_and_message_too() -> None:
    # seed 001: "a machine-readable code and a human-readable message"; the example: `detail`
    both = provider.error_from_response(
        response(400, {"detail": "Invalid image format", "code": "invalid_image", "message": "m"})
    )
    assert (type(both), both.code, both.message) == (
        errors.UnsupportedImage,
        "invalid_image",
        "Invalid image format",
    )
    only = provider.error_from_response(
        response(400, {"code": "no_face_detected", "message": "The face is missing"})
    )
    assert (type(only), only.code, only.message) == (
        errors.NoFaceDetected,
        "no_face_detected",
        "The face is missing",
    )
    assert provider.error_from_response(response(500, {"detail": "boom"})).code is None
