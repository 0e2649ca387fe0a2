"""The Acme adapter on its own: what it sends, and what it makes of any answer.

Whatever the vendor (or a proxy in front of it) sends back, the adapter answers with a
`Pending`, a `Done` or a swapkit error, never a bare Python exception.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from swapkit import errors
from swapkit.provider import Done, Pending, Plan

from swapkit_acme.provider import Acme

BASE_URL = "https://api.acme.test"
PLAN = Plan(mode="async", remaining_seconds=60.0)
JOB = Pending(job_id="swp_1", status="queued")

# CI replays the property tests deterministically; local runs stay random to find new inputs.
settings.register_profile("acme-ci", derandomize=True, database=None)
settings.register_profile("acme-local", database=None)
settings.load_profile("acme-ci" if os.environ.get("CI") else "acme-local")


@pytest.fixture
def acme() -> Acme:
    return Acme(api_key="acme-test-key", base_url=BASE_URL)


def answer(
    status: int,
    body: Any = None,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/v1/swaps/swp_1",
) -> httpx.Response:
    """A response to a request at `path`, with `body` as JSON or `content` as it is."""
    request = httpx.Request("GET", BASE_URL + path)
    if content is None:
        content = json.dumps(body).encode()
        headers = {"content-type": "application/json", **(headers or {})}
    return httpx.Response(status, content=content, headers=headers, request=request)


# -- requests ------------------------------------------------------------------------------


def test_a_poll_url_carries_any_job_id_as_one_path_segment(acme: Acme) -> None:
    request = acme.build_poll(Pending(job_id="../../admin?x=1#y"))
    assert request.url.raw_path == b"/v1/swaps/..%2F..%2Fadmin%3Fx%3D1%23y"
    assert request.headers["authorization"] == "Bearer acme-test-key"


# -- job answers -----------------------------------------------------------------------------


def test_an_accepted_job_is_pending(acme: Acme) -> None:
    outcome = acme.parse_submit(answer(202, {"id": "swp_1", "status": "queued"}), PLAN)
    assert outcome == Pending(job_id="swp_1", status="queued", raw=outcome.raw)


def test_a_finished_job_is_its_result_url(acme: Acme) -> None:
    body = {"id": "swp_1", "status": "succeeded", "result_url": "https://cdn.acme.test/r.png"}
    outcome = acme.parse_poll(answer(200, body), JOB)
    assert isinstance(outcome, Done)
    assert outcome.result.url == "https://cdn.acme.test/r.png"
    assert outcome.result.job_id == "swp_1"
    assert outcome.result.expires_at is not None


def test_a_poll_without_an_id_keeps_the_job_it_asked_about(acme: Acme) -> None:
    outcome = acme.parse_poll(answer(200, {"status": "running"}), JOB)
    assert outcome == Pending(job_id="swp_1", status="running", raw=outcome.raw)


def test_a_state_the_adapter_does_not_know_is_still_running(acme: Acme) -> None:
    outcome = acme.parse_poll(answer(200, {"id": "swp_1", "status": "upscaling"}), JOB)
    assert isinstance(outcome, Pending)


def test_a_failed_job_is_job_failed_with_the_vendors_code(acme: Acme) -> None:
    body = {"id": "swp_1", "status": "failed", "error": {"code": "processing_failed"}}
    with pytest.raises(errors.JobFailed) as caught:
        acme.parse_poll(answer(200, body), JOB)
    assert caught.value.code == "processing_failed"
    assert caught.value.request_id == "swp_1"
    assert "no reason given" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"status": "queued"}, errors.MalformedResponse),  # a submit must name its job
        ({"id": 42, "status": "queued"}, errors.MalformedResponse),
        ({"id": "x" * 1000, "status": "queued"}, errors.MalformedResponse),
        ({"id": "swp_1"}, errors.MalformedResponse),
        ({"id": "swp_1", "status": ["queued"]}, errors.MalformedResponse),
        ({"id": "swp_1", "status": "succeeded"}, errors.ResultInvalid),
        (
            {"id": "swp_1", "status": "succeeded", "result_url": "javascript:x"},
            errors.ResultInvalid,
        ),
        ({"id": "swp_1", "status": "succeeded", "result_url": 7}, errors.ResultInvalid),
        ([{"id": "swp_1", "status": "queued"}], errors.MalformedResponse),
        (None, errors.MalformedResponse),
    ],
)
def test_a_submit_answer_that_is_not_a_job_is_a_swapkit_error(
    acme: Acme, body: Any, error: type[errors.ProviderError]
) -> None:
    with pytest.raises(error):
        acme.parse_submit(answer(202, body, path="/v1/swaps"), PLAN)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"id": "swp_1", "sta',
        b"[" * 10_000 + b"]" * 10_000,
        b'{"id": "swp_1", "status": "queued", "n": ' + b"9" * 5000 + b"}",
        b'{"id": "swp_1", "status": NaN}',
        b"\xff\xfe\x00garbage",
    ],
)
def test_an_unreadable_2xx_is_malformed(acme: Acme, content: bytes) -> None:
    with pytest.raises(errors.MalformedResponse):
        acme.parse_poll(answer(200, content=content), JOB)


# -- error answers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "bad_request", errors.InvalidRequest),
        (401, "unauthorized", errors.AuthenticationError),
        (402, "insufficient_credits", errors.InsufficientCredits),
        (404, "not_found", errors.JobNotFound),
        (404, "no_such_route", errors.InvalidRequest),
        (413, "image_too_large", errors.ImageTooLarge),
        (415, "bad_image", errors.UnsupportedImage),
        (422, "no_face", errors.NoFaceDetected),
        (429, "rate_limited", errors.RateLimited),
        (500, "internal_error", errors.ProviderUnavailable),
        (503, "unavailable", errors.ProviderUnavailable),
        # codes the adapter does not know: the status decides
        (403, "account_frozen", errors.PermissionDenied),
        (504, "gateway_timeout", errors.ProviderTimeout),
    ],
)
def test_error_codes_pick_the_error_class(
    acme: Acme, status: int, code: str, error: type[errors.ProviderError]
) -> None:
    body = {"error": {"code": code, "message": "the vendor's words"}}
    mapped = acme.error_from_response(answer(status, body))
    assert type(mapped) is error
    assert mapped.code == code
    assert mapped.message == "the vendor's words"
    assert mapped.status_code == status
    assert mapped.retryable is (status == 429 or status >= 500)


def test_a_rate_limit_says_how_long_to_wait(acme: Acme) -> None:
    body = {"error": {"code": "rate_limited", "message": "slow down"}}
    mapped = acme.error_from_response(answer(429, body, headers={"Retry-After": "7"}))
    assert isinstance(mapped, errors.RateLimited)
    assert mapped.retry_after == 7


@pytest.mark.parametrize(
    ("status", "content", "error"),
    [
        (502, b"<html><body>502 Bad Gateway</body></html>", errors.ProviderUnavailable),
        (503, b"", errors.ProviderUnavailable),
        (401, b'{"error": "unauthorized"}', errors.AuthenticationError),
        (400, b'{"error": {"code": {"nested": 1}, "message": ["a", "b"]}}', errors.InvalidRequest),
        (400, b'{"error": {"code": "' + b"x" * 500 + b'"}}', errors.InvalidRequest),
        (500, b'{"error": {"code": "no_face"', errors.ProviderUnavailable),
    ],
)
def test_an_error_body_that_is_not_acmes_falls_back_to_the_status(
    acme: Acme, status: int, content: bytes, error: type[errors.ProviderError]
) -> None:
    mapped = acme.error_from_response(answer(status, content=content))
    assert type(mapped) is error
    assert mapped.code is None or len(mapped.code) <= 100
    assert str(mapped)


# -- anything at all -----------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["queued", "running", "succeeded", "failed", "https://x.test/r.png"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["id", "status", "result_url", "error", "code", "message"])
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    status=st.sampled_from([200, 202, 400, 401, 404, 429, 500, 503]),
    body=json_values,
    cut=st.integers(min_value=0, max_value=200),
)
def test_any_answer_is_an_outcome_or_a_swapkit_error(status: int, body: Any, cut: int) -> None:
    acme = Acme(api_key="acme-test-key", base_url=BASE_URL)
    content = json.dumps(body, allow_nan=True).encode()
    for data in (content, content[:cut]):
        response = answer(status, content=data)
        if response.is_success:
            try:
                outcome = acme.parse_poll(response, JOB)
            except errors.ProviderError:
                continue
            assert isinstance(outcome, Pending | Done)
        else:
            assert isinstance(acme.error_from_response(response), errors.ProviderError)
