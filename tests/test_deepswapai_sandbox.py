"""SwapClient and AsyncSwapClient against the DeepSwapAI sandbox: normalisation and every code."""

from __future__ import annotations

import io
import json
from typing import Any

import pluggy
import pytest
from PIL import Image, ImageDraw

from swapkit import SwapClient, errors

from .conftest import FakeClock, make_image, padded_png

KEY = "ds-sandbox"


PROVIDER = "deepswapai"


@pytest.fixture
def vendor_options() -> dict[str, Any]:
    return {}


@pytest.fixture
def credits() -> int | None:
    return None


@pytest.fixture
def swapkit_sandbox_config(
    clock: FakeClock, vendor_options: dict[str, Any], credits: int | None
) -> dict[str, Any]:
    return {
        "clock": clock.monotonic,
        "credits": credits,
        "vendor_options": {"deepswapai": vendor_options},
    }


def submits(sandbox: Any) -> list[Any]:
    return [r for r in sandbox.requests if r.path.endswith("/v1/image-swap")]


def test_swap_is_normalised(swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes) -> None:
    result = swap(source=face_png, target=scene_png)
    assert (result.provider, result.media_type) == ("deepswapai", "image/png")
    assert result.model == "image-swap-high"
    assert (result.width, result.height) == (64, 56)  # "high" keeps the target's size
    assert result.processing_seconds is not None
    assert result.processing_seconds < 60  # milliseconds became seconds
    assert result.faces_detected == 1
    assert result.credits_used == 1
    assert result.job_id
    assert result.expires_at is not None
    raw_ms = result.raw["processing_time"]
    assert result.processing_seconds == pytest.approx(raw_ms / 1000)
    assert result.raw["resolution"] == f"{result.width}x{result.height}"


def test_jpeg_is_sent_as_jpg_and_quality_is_mapped(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    result = swap(source=face_png, target=scene_png, output_format="jpeg", quality="max")
    assert result.media_type == "image/jpeg"
    body = json.loads(submits(sandbox)[0].body)
    assert (body["output_format"], body["quality"]) == ("jpg", "4k")
    assert result.width > 64  # 4k scales up to fit 3840x2160


def test_face_index_picks_a_target_face(swap: Any, sandbox: Any, face_png: bytes) -> None:
    scene = Image.new("RGB", (120, 60), (240, 240, 240))
    draw = ImageDraw.Draw(scene)
    draw.rectangle((10, 15, 40, 45), fill=(30, 30, 30))
    draw.rectangle((70, 15, 100, 45), fill=(30, 30, 30))
    buffer = io.BytesIO()
    scene.save(buffer, format="PNG")
    result = swap(source=face_png, target=buffer.getvalue(), face_index=1)
    assert result.faces_detected == 2
    assert json.loads(submits(sandbox)[0].body)["face_index"] == 1


@pytest.mark.parametrize(
    "vendor_options",
    [
        {"error_envelope": "nested"},
        {"error_envelope": "flat"},
        {"error_envelope": "top_level"},
        {"error_envelope": "nested", "error_statuses": "specific"},
        {"error_envelope": "flat", "errors_in_200": True},
    ],
)
def test_no_face_in_every_envelope(swap: Any, scene_png: bytes) -> None:
    with pytest.raises(errors.NoFaceDetected) as info:
        swap(source=make_image(pattern=False), target=scene_png)
    assert info.value.code == "NO_FACE_DETECTED"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("IMAGE_TOO_LARGE", errors.ImageTooLarge),
        ("INVALID_FORMAT", errors.UnsupportedImage),
        ("NO_FACE_DETECTED", errors.NoFaceDetected),
    ],
)
@pytest.mark.parametrize("envelope", ["nested", "flat", "top_level"])
def test_documented_codes_arrive_as_their_class(
    swap: Any,
    sandbox: Any,
    face_png: bytes,
    scene_png: bytes,
    code: str,
    error: type,
    envelope: str,
) -> None:
    from swapkit.sandbox import Fault

    sandbox.faults.add(Fault(provider="deepswapai", code=code, envelope=envelope, times=1))
    with pytest.raises(error) as info:
        swap(source=face_png, target=scene_png)
    assert info.value.code == code


@pytest.mark.parametrize("credits", [0])
@pytest.mark.parametrize("vendor_options", [{"credits_status": 402}, {"credits_status": 403}])
def test_out_of_credits(swap: Any, face_png: bytes, scene_png: bytes) -> None:
    with pytest.raises(errors.InsufficientCredits) as info:
        swap(source=face_png, target=scene_png)
    assert info.value.status_code in (402, 403)


def test_wrong_key(swap: Any, face_png: bytes, scene_png: bytes) -> None:
    with pytest.raises(errors.AuthenticationError):
        swap(source=face_png, target=scene_png, client={"settings": {"api_key": "nope"}})


@pytest.mark.parametrize(
    ("status", "error"), [(429, errors.RateLimited), (503, errors.ProviderUnavailable)]
)
def test_status_faults(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes, status: int, error: type
) -> None:
    from swapkit.sandbox import Fault

    sandbox.faults.add(Fault(provider="deepswapai", status=status, times=1))
    with pytest.raises(error):
        swap(source=face_png, target=scene_png)


def test_oversize_fails_before_the_network(swap: Any, sandbox: Any, scene_png: bytes) -> None:
    huge = padded_png(50 * 1024 * 1024 + 64)
    with pytest.raises(errors.ImageTooLarge, match="50 MB"):
        swap(source=huge, target=scene_png)
    assert sandbox.requests == []


def test_environment_alone_configures_the_client(
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, Any],
    plugin_manager: pluggy.PluginManager,
    face_png: bytes,
    scene_png: bytes,
) -> None:
    monkeypatch.setenv("SWAPKIT_DEEPSWAPAI_API_KEY", KEY)
    monkeypatch.setenv("SWAPKIT_DEEPSWAPAI_BASE_URL", settings["base_url"])
    with SwapClient(providers=["deepswapai"], plugin_manager=plugin_manager) as client:
        result = client.swap(source=face_png, target=scene_png)
    assert (result.width, result.height, result.faces_detected, result.credits_used) == (
        64,
        56,
        1,
        1,
    )
