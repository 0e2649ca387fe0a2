"""SwapClient and AsyncSwapClient against the Prospolabs sandbox: every flow and every error.

Each test runs twice, once per client (the ``swap`` fixture), on a sandbox served on loopback
and sharing the test's fake clock, so polling and deadlines never really wait.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pluggy
import pytest
import stamina

from swapkit import SwapClient, SwapResult, errors

from .conftest import FakeClock, make_image, padded_png

Swap = Callable[..., SwapResult]


PROVIDER = "prospolabs"


@pytest.fixture
def webhook_inbox() -> list[httpx.Request]:
    return []


@pytest.fixture
def swapkit_sandbox_config(clock: FakeClock, webhook_inbox: list[httpx.Request]) -> dict[str, Any]:
    def receive(request: httpx.Request) -> httpx.Response:
        webhook_inbox.append(request)
        return httpx.Response(200)

    return {
        "clock": clock.monotonic,
        "job_seconds": 5.0,
        "webhook_retry_delays": (0.0,),
        "webhook_transport": httpx.MockTransport(receive),
    }


def submits(sandbox: Any) -> list[Any]:
    return [r for r in sandbox.requests if r.method == "POST" and "/v1/swap/" in r.path]


def polls(sandbox: Any) -> list[Any]:
    return [r for r in sandbox.requests if "/v1/jobs/" in r.path]


@pytest.fixture
def retries() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3):
        yield


# -- flows -----------------------------------------------------------------------------------


def test_sync_swap(swap: Swap, sandbox: Any, face_png: bytes, scene_png: bytes) -> None:
    result = swap(source=face_png, target=scene_png)
    assert (result.provider, result.model) == ("prospolabs", "realistic")
    assert result.media_type == "image/jpeg"
    assert (result.width, result.height) == (64, 56)
    assert result.job_id
    assert result.url is not None
    assert result.expires_at is not None
    assert result.processing_seconds is not None
    assert result.processing_seconds >= 0
    assert result.cost_usd == 0.05
    assert [(a.provider, a.error) for a in result.attempts] == [("prospolabs", None)]
    (submit,) = submits(sandbox)
    assert submit.path == "/prospolabs/v1/swap/realistic"
    body = json.loads(submit.body)
    assert base64.b64decode(body["source_image"]) == face_png
    assert base64.b64decode(body["target_image"]) == scene_png
    assert dict(submit.headers)["authorization"] == "Bearer prsp-sandbox"


def test_options_reach_the_vendor(
    swap: Swap, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    result = swap(
        source=face_png,
        target=scene_png,
        style="cartoon",
        output_format="webp",
        output_quality=70,
        prompt="storybook",
    )
    assert (result.model, result.media_type) == ("cartoon", "image/webp")
    body = json.loads(submits(sandbox)[0].body)
    assert body["output_format"] == "webp"
    assert body["output_quality"] == 70
    assert body["prompt"] == "storybook"


def test_paths_and_files_are_read(
    swap: Swap, tmp_path: Any, face_png: bytes, scene_png: bytes
) -> None:
    (tmp_path / "face.png").write_bytes(face_png)
    (tmp_path / "scene.png").write_bytes(scene_png)
    result = swap(source=tmp_path / "face.png", target=str(tmp_path / "scene.png"))
    result.save(tmp_path / "out.jpg")
    assert (tmp_path / "out.jpg").read_bytes() == result.image


def test_long_deadline_uses_async_and_polls(
    swap: Swap, sandbox: Any, clock: FakeClock, face_png: bytes, scene_png: bytes
) -> None:
    result = swap(source=face_png, target=scene_png, deadline=600, quality="fast")
    assert result.model == "fast"
    assert result.cost_usd == 0.025
    (submit,) = submits(sandbox)
    assert submit.path == "/prospolabs/v1/swap/fast/async"
    assert len(polls(sandbox)) >= 2  # at least one "processing" before "completed"
    assert sum(clock.slept) >= 5.0
    assert all(r.path == f"/prospolabs/v1/jobs/{result.job_id}" for r in polls(sandbox))


def test_webhook_url_uses_async_and_the_webhook_verifies(
    swap: Swap,
    sandbox: Any,
    webhook_inbox: list[httpx.Request],
    face_png: bytes,
    scene_png: bytes,
    plugin_manager: pluggy.PluginManager,
) -> None:
    result = swap(source=face_png, target=scene_png, webhook_url="http://127.0.0.1:1/hook")
    assert submits(sandbox)[0].path.endswith("/async")
    assert json.loads(submits(sandbox)[0].body)["webhook_url"] == "http://127.0.0.1:1/hook"
    sandbox.tick()
    sandbox.wait_for_webhooks(1)  # deliveries run on a background thread
    (delivery,) = webhook_inbox
    client = SwapClient(
        providers={"prospolabs": {"api_key": "k", "webhook_secret": "whsec-sandbox"}},
        plugin_manager=plugin_manager,
    )
    with client:
        event = client.parse_webhook("prospolabs", delivery.headers, delivery.content)
        assert (event.status, event.job_id) == ("completed", result.job_id)
        assert event.processing_seconds is not None
        tampered = delivery.content.replace(b"inference.completed", b"inference.failed")
        with pytest.raises(errors.InvalidSignature):
            client.parse_webhook("prospolabs", delivery.headers, tampered)


def test_deadline_bounds_a_job_that_never_finishes(
    swap: Swap, sandbox: Any, clock: FakeClock, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault(kind="never_finish", times=1))
    started = clock.now
    with pytest.raises(errors.ProviderTimeout, match="deadline") as info:
        swap(source=face_png, target=scene_png, deadline=300)
    assert clock.now - started == pytest.approx(300)
    assert len(submits(sandbox)) == 1
    assert info.value.request_id


# -- errors, each as its class ---------------------------------------------------------------


def _fault(**fields: Any) -> Any:
    from swapkit.sandbox import Fault

    return Fault(provider="prospolabs", **fields)


def test_wrong_key_is_authentication_error(swap: Swap, face_png: bytes, scene_png: bytes) -> None:
    with pytest.raises(errors.AuthenticationError) as info:
        swap(source=face_png, target=scene_png, client={"settings": {"api_key": "prsp-wrong"}})
    assert info.value.status_code == 401


def test_no_face_is_no_face_detected(swap: Swap, scene_png: bytes) -> None:
    flat = make_image(pattern=False)
    with pytest.raises(errors.NoFaceDetected) as info:
        swap(source=flat, target=scene_png)
    assert info.value.status_code == 400


def test_no_credits_is_insufficient_credits(
    swap: Swap, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault(status=403, times=1))
    with pytest.raises(errors.InsufficientCredits):
        swap(source=face_png, target=scene_png)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, errors.InvalidRequest),
        (429, errors.RateLimited),
        (500, errors.ProviderUnavailable),
        (502, errors.ProviderUnavailable),
        (503, errors.ProviderUnavailable),
        (504, errors.ProviderTimeout),
    ],
)
def test_status_faults_arrive_as_their_class(
    swap: Swap, sandbox: Any, face_png: bytes, scene_png: bytes, status: int, error: type
) -> None:
    sandbox.faults.add(_fault(status=status, times=1))
    with pytest.raises(error) as info:
        swap(source=face_png, target=scene_png)
    assert info.value.status_code == status
    assert info.value.provider == "prospolabs"


@pytest.mark.parametrize(
    ("garbage", "error"),
    # a proxy's HTML page is an answered failure; a cut 2xx may hide an accepted swap
    [("html", errors.ProviderUnavailable), ("truncated", errors.OutcomeUnknown)],
)
def test_garbage_bodies_are_provider_errors(
    swap: Swap, sandbox: Any, face_png: bytes, scene_png: bytes, garbage: str, error: type
) -> None:
    sandbox.faults.add(_fault(kind=garbage, times=1))
    with pytest.raises(error):
        swap(source=face_png, target=scene_png)


def test_poll_of_an_unknown_job_is_job_not_found(
    swap: Swap, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault(status=404, path="/v1/jobs/*", times=1))
    with pytest.raises(errors.JobNotFound):
        swap(source=face_png, target=scene_png, deadline=600)


def test_expired_result_url_is_result_expired(
    swap: Swap, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault(status=403, path="/results/*", times=1))
    with pytest.raises(errors.ResultExpired):
        swap(source=face_png, target=scene_png)


# -- retries, and never paying twice ---------------------------------------------------------


@pytest.mark.usefixtures("retries")
@pytest.mark.parametrize("status", [429, 500, 503, 504])
def test_refunded_failures_are_retried(
    swap: Swap, sandbox: Any, face_png: bytes, scene_png: bytes, status: int
) -> None:
    sandbox.faults.add(_fault(status=status, times=1, path="/v1/swap/*"))
    result = swap(source=face_png, target=scene_png)
    assert result.image
    assert len(submits(sandbox)) == 2


@pytest.mark.usefixtures("retries")
def test_a_dropped_submit_is_never_resent(
    swap: Swap, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault(kind="drop", times=1, path="/v1/swap/*"))
    with pytest.raises(errors.OutcomeUnknown) as info:
        swap(source=face_png, target=scene_png)
    assert not info.value.retryable
    assert info.value.attempts[-1].charged is None
    assert len(submits(sandbox)) == 1


@pytest.mark.usefixtures("retries")
def test_a_timed_out_submit_is_never_resent(
    swap: Swap, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault(kind="timeout", seconds=2.0, times=1, path="/v1/swap/*"))
    with pytest.raises(errors.OutcomeUnknown):
        swap(source=face_png, target=scene_png, client={"settings": {"timeout": 0.2}})
    assert len(submits(sandbox)) == 1


@pytest.mark.usefixtures("retries")
def test_dropped_polls_and_downloads_are_retried(
    swap: Swap, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    sandbox.faults.add(_fault(kind="drop", times=1, path="/v1/jobs/*"))
    sandbox.faults.add(_fault(kind="drop", times=1, path="/results/*"))
    result = swap(source=face_png, target=scene_png, deadline=600)
    assert result.image
    assert len(submits(sandbox)) == 1


# -- bad input fails before the network ------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "error", "words"),
    [
        ("/no/such/face.png", errors.InvalidRequest, "does not exist"),
        (b"GIF? no. just text", errors.UnsupportedImage, "not an image"),
        (
            padded_png(10 * 1024 * 1024 + 64),
            errors.ImageTooLarge,
            "over prospolabs's limit of 10 MB",
        ),
    ],
    ids=["missing-file", "not-an-image", "over-10-MB"],
)
def test_bad_input_fails_before_the_network(
    swap: Swap, sandbox: Any, scene_png: bytes, source: Any, error: type, words: str
) -> None:
    with pytest.raises(error, match=words):
        swap(source=source, target=scene_png)
    assert sandbox.requests == []


def test_missing_key_fails_before_the_network(
    swap: Swap, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    with pytest.raises(errors.ConfigurationError, match="SWAPKIT_PROSPOLABS_API_KEY"):
        swap(source=face_png, target=scene_png, client={"settings": {"api_key": None}})
    assert sandbox.requests == []


def test_invalid_request_fields_are_invalid_request(swap: Swap, face_png: bytes) -> None:
    with pytest.raises(errors.InvalidRequest, match="output_quality"):
        swap(source=face_png, target=face_png, output_quality=5)


def test_environment_alone_configures_the_client(
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, Any],
    plugin_manager: pluggy.PluginManager,
    face_png: bytes,
    scene_png: bytes,
) -> None:
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_API_KEY", settings["api_key"])
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_BASE_URL", settings["base_url"])
    with SwapClient(providers=["prospolabs"], plugin_manager=plugin_manager) as client:
        result = client.swap(source=face_png, target=scene_png)
    assert result.provider == "prospolabs"
