"""swapkit.testing: the mock provider through the real engine, the registration check, and the
cassette scrubbing an application's cassettes get."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest
import stamina
import vcr.request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swapkit import errors, hookimpl
from swapkit.core.plugins import installed_providers, make_plugin_manager
from swapkit.provider import Capabilities, Pending, Provider, check_provider_class
from swapkit.testing import (
    FakeClock,
    MockStep,
    accepted,
    failed,
    http_error,
    lost,
    malformed,
    mock_provider,
    running,
    succeeded,
    unreachable,
)
from swapkit.testing.cassettes import (
    REDACTED,
    CassetteSerializer,
    canonical_url,
    scrub_request,
    scrub_response,
)

from .conftest import make_image, run_swap

FACE = make_image((40, 40), (200, 150, 120))
SCENE = make_image((60, 50), (20, 90, 160))


def _swap(kind: Any, *providers: Any, **client: Any) -> Any:
    return run_swap(
        kind,
        {"providers": list(providers), "clock": FakeClock(), **client},
        source=FACE,
        target=SCENE,
    )


# -- the mock provider -----------------------------------------------------------------------


def test_a_job_is_accepted_polled_and_finished(kind: Any) -> None:
    vendor = mock_provider("vendor", accepted(), running(), running(), succeeded(size=(30, 20)))
    result = _swap(kind, vendor)
    assert (result.provider, result.width, result.height) == ("vendor", 30, 20)
    assert (vendor.submits, vendor.polls, vendor.remaining) == (1, 3, ())
    assert result.spent_usd == pytest.approx(0.01)


def test_a_result_at_a_url_is_downloaded(kind: Any) -> None:
    vendor = mock_provider("vendor", succeeded(as_url=True))
    assert _swap(kind, vendor).width == 64
    assert (vendor.submits, vendor.downloads) == (1, 1)


def test_a_failed_job_raises_the_scripted_error_and_stays_charged_if_not_refunded(
    kind: Any,
) -> None:
    vendor = mock_provider(
        "vendor", accepted(), failed(errors.NoFaceDetected), refunds_failed_jobs=False
    )
    with pytest.raises(errors.NoFaceDetected) as caught:
        _swap(kind, vendor)
    assert caught.value.spent_usd == pytest.approx(0.01)


def test_a_lost_answer_to_a_submit_is_never_sent_again_anywhere(kind: Any) -> None:
    first, second = mock_provider("first", lost()), mock_provider("second")
    with pytest.raises(errors.OutcomeUnknown):
        _swap(kind, first, second)
    assert (first.submits, second.submits) == (1, 0)


def test_a_refused_vendor_fails_over(kind: Any) -> None:
    first = mock_provider("first", http_error(503))
    second = mock_provider("second", succeeded())
    result = _swap(kind, first, second)
    assert result.provider == "second"
    assert [attempt.charged for attempt in result.attempts] == [False, True]


def test_unreachable_and_malformed_answers_are_typed(kind: Any) -> None:
    with pytest.raises(errors.ProviderUnavailable):
        _swap(kind, mock_provider("vendor", unreachable()))
    with pytest.raises(errors.OutcomeUnknown) as caught:
        _swap(kind, mock_provider("vendor", malformed()))
    assert isinstance(caught.value.__cause__, errors.MalformedResponse)


def test_a_request_without_a_step_is_recorded_and_answered_with_a_500(kind: Any) -> None:
    vendor = mock_provider("vendor")
    with pytest.raises(errors.ProviderUnavailable):
        _swap(kind, vendor)
    assert len(vendor.unscripted) == 1


def test_failed_needs_a_provider_error() -> None:
    with pytest.raises(ValueError, match="not a provider error"):
        failed("ConfigurationError")
    with pytest.raises(ValueError, match="4xx or 5xx"):
        http_error(200)


def test_a_mock_cannot_share_a_supplied_http_client() -> None:
    from swapkit import SwapClient

    with httpx.Client() as http, pytest.raises(errors.ConfigurationError, match="transport"):
        SwapClient(providers=[mock_provider()], http_client=http)


# Random scripts at volume: whatever two vendors answer, a swap ends with a result or a typed
# error, the vendors see at most one submit that may have reached a vendor, and the cost
# reported is the cost incurred.
_reached = st.sampled_from(["accepted-ok", "accepted-failed", "sync-ok", "lost"])
_refused = st.sampled_from(["503", "429", "401", "unreachable"])


def _script(opening: str) -> list[MockStep]:
    return {
        "accepted-ok": [accepted(), running(), succeeded()],
        "accepted-failed": [accepted(), failed()],
        "sync-ok": [succeeded()],
        "lost": [lost()],
        "503": [http_error(503)],
        "429": [http_error(429, headers={"Retry-After": "1"})],
        "401": [http_error(401)],
        "unreachable": [unreachable()],
    }[opening]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    openings=st.lists(st.one_of(_reached, _refused), min_size=1, max_size=3),
    kind=st.sampled_from(["sync", "async"]),
)
def test_random_vendor_answers_never_pay_twice(openings: list[str], kind: Any) -> None:
    stamina.set_testing(True, attempts=1)
    vendors = [
        mock_provider(f"v{index}", *_script(opening)) for index, opening in enumerate(openings)
    ]
    try:
        result = _swap(kind, *vendors, on_unknown_outcome="fail")
    except errors.SwapError as exc:
        spent, attempts = exc.spent_usd, exc.attempts
    else:
        spent, attempts = result.spent_usd, result.attempts
    may_have_reached = [
        o
        for v, o in zip(vendors, openings, strict=False)
        if v.submits and o in ("accepted-ok", "accepted-failed", "sync-ok", "lost")
    ]
    assert len(may_have_reached) <= 1
    charged = [a for a in attempts if a.charged is not False]
    assert spent == pytest.approx(0.01 * len(charged))


# -- capabilities checked at registration ---------------------------------------------------


class _Sync(Provider):
    name = "sync_only"
    display_name = "Sync only"
    capabilities = Capabilities()

    def build_submit(self, prepared: Any, plan: Any) -> httpx.Request:
        return httpx.Request("POST", "https://x.invalid")

    def parse_submit(self, response: Any, plan: Any) -> Any:
        raise NotImplementedError


def test_the_built_in_providers_pass_the_check() -> None:
    for provider_class in installed_providers(make_plugin_manager(entry_points=False)).values():
        check_provider_class(provider_class)


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ({"capabilities": Capabilities(modes=frozenset({"async"}))}, "build_poll, parse_poll"),
        ({"capabilities": Capabilities(uploads=True)}, "build_upload, parse_upload"),
        ({"capabilities": Capabilities(webhooks=True, signs_webhooks=True)}, "parse_webhook"),
        ({"capabilities": Capabilities(webhooks=True)}, "read_webhook"),
        ({"build_poll": lambda self, job: None}, "implements build_poll but not parse_poll"),
        ({"name": "Has Spaces"}, "lowercase"),
        ({"capabilities": {"modes": ["sync"]}}, "not a swapkit.provider.Capabilities"),
    ],
)
def test_a_provider_is_checked_against_what_it_declares(
    attributes: dict[str, Any], problem: str
) -> None:
    broken = type("Broken", (_Sync,), attributes)
    with pytest.raises(errors.ConfigurationError, match=problem):
        check_provider_class(broken)


def test_a_plugin_registering_a_broken_provider_is_named() -> None:
    broken = type("Broken", (_Sync,), {"capabilities": Capabilities(modes=frozenset({"async"}))})

    class Plugin:
        @hookimpl
        def register_providers(self, register: Any) -> None:
            register(broken)

    pm = make_plugin_manager(entry_points=False, plugins=[Plugin()])
    with pytest.raises(errors.ConfigurationError, match=r"plugin .*build_poll"):
        installed_providers(pm)
    with pytest.raises(errors.ConfigurationError, match="not a provider"):
        check_provider_class(Pending)


# -- cassette scrubbing ------------------------------------------------------------------------


def _request(method: str, uri: str, body: bytes | None, headers: dict[str, str]) -> Any:
    return scrub_request(vcr.request.Request(method, uri, body, headers))


@pytest.mark.parametrize(
    "header",
    [
        "Authorization",
        "X-Api-Key",
        "api-key",
        "Cookie",
        "X-Signature",
        "X-Auth-Token",
        "X-Amz-Security-Token",
        "Proxy-Authorization",
    ],
)
def test_every_credential_header_is_dropped(header: str) -> None:
    scrubbed = _request("GET", "https://vendor.example/x", None, {header: "s3cr3t-value-1234"})
    assert header.lower() not in {name.lower() for name in scrubbed.headers}


def test_secret_query_values_json_fields_and_environment_secrets_are_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWAPKIT_ACME_API_KEY", "acme-live-0123456789")
    uri = "http://127.0.0.1:54321/acme/v1/x?token=abc&api_key=def&page=2"
    body = json.dumps(
        {
            "callback": "https://app.example/hook?k=acme-live-0123456789",
            "webhook_secret": "whsec-123456",
            "n": 1,
        }
    ).encode()
    scrubbed = _request("POST", uri, body, {"Content-Type": "application/json"})
    assert (
        scrubbed.uri == "https://acme.sandbox.invalid/v1/x?token=REDACTED&api_key=REDACTED&page=2"
    )
    stored = json.loads(scrubbed.body)
    assert stored == {
        "callback": f"https://app.example/hook?k={REDACTED}",
        "n": 1,
        "webhook_secret": REDACTED,
    }


def test_images_in_requests_become_digests_whatever_carries_them() -> None:
    b64 = base64.b64encode(FACE).decode()
    raw = _request("PUT", "https://v.example/upload", FACE, {"Content-Type": "image/png"})
    as_json = _request(
        "POST",
        "https://v.example/s",
        json.dumps({"a": b64, "b": f"data:image/png;base64,{b64}"}).encode(),
        {"Content-Type": "application/json"},
    )
    form = _request(
        "POST",
        "https://v.example/s",
        f"image={b64}".encode().replace(b"+", b"%2B"),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    multipart = httpx.Request("POST", "https://v.example/s", files={"file": ("f.png", FACE)})
    parts = _request("POST", "https://v.example/s", multipart.read(), dict(multipart.headers))
    for scrubbed in (raw, as_json, form, parts):
        body = unquote_plus(scrubbed.body.decode())
        assert "sha256:" in body
        assert b64[:40] not in body
    assert json.loads(as_json.body)["a"] == json.loads(as_json.body)["b"]


def test_responses_keep_replayable_bodies_and_lose_secrets() -> None:
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Set-Cookie": ["s=1"], "Date": ["x"], "Content-Type": ["application/json"]},
        "body": {"string": json.dumps({"url": "http://localhost:8123/v/r.png?sig=zz"}).encode()},
    }
    scrubbed = scrub_response(response)
    assert set(scrubbed["headers"]) == {"Content-Type"}
    assert json.loads(scrubbed["body"]["string"]) == {
        "url": f"https://v.sandbox.invalid/r.png?sig={REDACTED}"
    }


def test_the_serializer_stores_images_as_markers_and_replays_their_shape() -> None:
    cassette = {
        "interactions": [
            {
                "request": {
                    "method": "GET",
                    "uri": "https://v.example/r",
                    "body": None,
                    "headers": {},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {},
                    "body": {
                        "string": json.dumps({"image": base64.b64encode(SCENE).decode()}).encode()
                    },
                },
            }
        ]
    }
    text = CassetteSerializer.serialize(cassette)
    assert "image image/png 60x50 sha256:" in text
    replayed = CassetteSerializer.deserialize(text)["interactions"][0]["response"]["body"]["string"]
    import io

    from PIL import Image

    image = base64.b64decode(json.loads(replayed)["image"])
    assert Image.open(io.BytesIO(image)).size == (60, 50)


def test_the_serializer_refuses_to_write_an_environment_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACME_TOKEN", "tok-9876543210")
    cassette = {
        "interactions": [
            {
                "request": {
                    "method": "GET",
                    "uri": "https://v.example/r",
                    "body": None,
                    "headers": {"X-Echo": ["tok-9876543210"]},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {},
                    "body": {"string": b""},
                },
            }
        ]
    }
    with pytest.raises(ValueError, match="refusing"):
        CassetteSerializer.serialize(cassette)


@pytest.mark.parametrize("url", ["http://[::1", "not a url", "http://127.0.0.1:1/", ""])
def test_odd_urls_never_raise(url: str) -> None:
    canonical_url(url)


@pytest.mark.parametrize(
    ("error", "refunds", "charged"),
    [
        (errors.NoFaceDetected, True, False),
        (errors.NoFaceDetected, False, True),
        (errors.ContentRefused, True, False),
        (errors.JobFailed, True, False),
    ],
)
def test_a_job_the_vendor_ended_follows_its_billing_for_failed_jobs(
    kind: Any, error: type[errors.ProviderError], refunds: bool, charged: bool
) -> None:
    vendor = mock_provider("vendor", accepted(), failed(error), refunds_failed_jobs=refunds)
    with pytest.raises(error) as caught:
        _swap(kind, vendor)
    assert caught.value.attempts[-1].charged is charged
    assert caught.value.spent_usd == pytest.approx(0.01 if charged else 0.0)


def test_a_result_that_is_the_target_unchanged_is_refused(kind: Any) -> None:
    vendor = mock_provider("vendor", succeeded(image=SCENE))
    with pytest.raises(errors.ResultInvalid, match="unchanged"):
        _swap(kind, vendor)
    assert _swap(kind, mock_provider("vendor", succeeded(image=_same_length(SCENE)))).width == 60


def _same_length(png: bytes) -> bytes:
    """A PNG as long as `png` and not equal to it (one byte of its image data changed, and
    the chunk's checksum redone)."""
    import struct
    import zlib

    start = png.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", png[start : start + 4])
    body = bytearray(png[start + 4 : start + 8 + length])
    body[-1] ^= 0x01
    crc = struct.pack(">I", zlib.crc32(bytes(body)))
    changed = png[: start + 4] + bytes(body) + crc + png[start + 12 + length :]
    assert len(changed) == len(png)
    assert changed != png
    return changed


def test_a_job_token_keeps_the_target_check() -> None:
    from swapkit.core.flow import Finish
    from swapkit.core.jobs import JobToken

    finish = Finish("png", None, "ab" * 32, 123)
    token = JobToken("swp_1", "vendor", "job-1", None, 1e9, finish)
    assert JobToken.decode(token.encode()).finish == finish
