"""The DeepSwapAI emulator against the vendor's documented contract (plain httpx).

Auth, the sync answer and its output URL, output formats, qualities, face counting and
`face_index`, the three documented error codes in every envelope and status reading, errors
inside a 200, credits, rate limits and the status endpoint. Faults are in
test_deepswapai_faults.py.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from swapkit.sandbox import FakeClock, Sandbox
from swapkit.sandbox.vendors.deepswapai import MAX_IMAGE_BYTES, DeepSwapAIOptions
from swapkit.sandbox.vendors.deepswapai.images import output_size

from .conftest import ClientFactory
from .helpers import (
    DS_AUTH,
    DS_KEY,
    SOURCE_COLOR,
    TARGET_COLOR,
    FileServer,
    b64,
    decode,
    image_bytes,
    swap_body,
)

SWAP = "/v1/image-swap"
DAY = 24 * 3600.0
JOB_ID = re.compile(r"job_[0-9a-z]+")
SWAP_FIELDS = [
    "success",
    "job_id",
    "output_url",
    "output_format",
    "resolution",
    "processing_time",
    "faces_detected",
    "credits_used",
]
DOCUMENTED = ["NO_FACE_DETECTED", "IMAGE_TOO_LARGE", "INVALID_FORMAT"]
SPECIFIC = {"NO_FACE_DETECTED": 422, "IMAGE_TOO_LARGE": 413, "INVALID_FORMAT": 415}


def _sandbox(fake_clock: FakeClock, **settings: Any) -> Sandbox:
    """A sandbox; `options` are DeepSwapAI's vendor options."""
    options = settings.pop("options", {})
    return Sandbox(clock=fake_clock, vendor_options={"deepswapai": options}, **settings)


def _client(sandbox: Sandbox, key: str = DS_KEY) -> httpx.Client:
    return httpx.Client(
        transport=sandbox.transport(),
        base_url="http://sandbox.test/deepswapai",
        headers={"Authorization": f"Bearer {key}"},
    )


@pytest.fixture
def ds(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """Transport-backed client for the DeepSwapAI mount, with the default key."""
    with _client(sandbox) as http:
        yield http


def _error(
    response: httpx.Response, status: int, code: str, envelope: str = "nested"
) -> dict[str, Any]:
    """Assert an error in `envelope`; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    if envelope == "nested":
        assert set(body) == {"success", "error"}
        assert set(body["error"]) == {"code", "message"}
        found, message = body["error"]["code"], body["error"]["message"]
    elif envelope == "flat":
        assert set(body) == {"success", "error", "message"}
        found, message = body["error"], body["message"]
    else:
        assert set(body) == {"success", "code", "message"}
        found, message = body["code"], body["message"]
    assert body["success"] is False
    assert found == code
    assert isinstance(message, str)
    assert message
    return body


def _message(body: dict[str, Any]) -> str:
    return str(body["error"]["message"])


def _target(
    size: tuple[int, int] = (40, 30), *, boxes: int = 1, fmt: str = "PNG", photo: bool = False
) -> str:
    """A base64 target: `boxes` white squares (faces) on one colour, or a gradient (`photo`)."""
    if photo:
        image = Image.linear_gradient("L").resize(size).convert("RGB")
    else:
        image = Image.new("RGB", size, TARGET_COLOR)
        draw = ImageDraw.Draw(image)
        for index in range(boxes):
            left = 2 + index * 12
            draw.rectangle((left, 2, left + 7, 9), fill="white")
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return b64(buffer.getvalue())


# -- auth and routing ---------------------------------------------------------------------------


def test_missing_key_is_401(ds: httpx.Client) -> None:
    response = ds.post(SWAP, json=swap_body(), headers={"Authorization": ""})
    body = _error(response, 401, "INVALID_API_KEY")
    assert "Bearer" in _message(body)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("value", ["Bearer ds-wrong", DS_KEY, f"Basic {DS_KEY}", "Bearer"])
def test_invalid_key_is_401(ds: httpx.Client, value: str) -> None:
    response = ds.post(SWAP, json=swap_body(), headers={"Authorization": value})
    assert _message(_error(response, 401, "INVALID_API_KEY")) == "Invalid API key."


def test_configured_keys_replace_the_default(fake_clock: FakeClock) -> None:
    with (
        _sandbox(fake_clock, api_keys={"deepswapai": ["ds-a"]}) as sandbox,
        _client(sandbox, "ds-a") as http,
    ):
        assert http.post(SWAP, json=swap_body()).status_code == 200
        default = http.post(SWAP, json=swap_body(), headers=DS_AUTH)
        _error(default, 401, "INVALID_API_KEY")


def test_routing_errors_come_before_auth(ds: httpx.Client) -> None:
    no_key = {"Authorization": ""}
    wrong_method = ds.get(SWAP, headers=no_key)
    _error(wrong_method, 405, "METHOD_NOT_ALLOWED")
    assert wrong_method.headers["allow"] == "POST"
    _error(ds.post("/v1/status/job_x", headers=no_key), 405, "METHOD_NOT_ALLOWED")
    for path in ("/v1/video-swap", "/v1/batch-swap", "/v2/image-swap", "/"):
        _error(ds.post(path, json={}, headers=no_key), 404, "NOT_FOUND")


# -- the sync answer ----------------------------------------------------------------------------


def test_happy_path_answers_the_documented_fields(
    sandbox: Sandbox, make_client: ClientFactory
) -> None:
    http = make_client(provider="deepswapai")
    response = http.post(SWAP, json=swap_body())
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == SWAP_FIELDS
    assert body["success"] is True
    assert JOB_ID.fullmatch(body["job_id"])
    assert body["output_format"] == "png"
    assert body["faces_detected"] == 1
    assert body["credits_used"] == 1
    # processing_time: integer milliseconds (job_seconds=2 plus the real compute time)
    assert isinstance(body["processing_time"], int)
    assert 2000 <= body["processing_time"] < 12_000
    assert body["output_url"].startswith(f"{http.base_url}".rstrip("/") + "/cdn/results/")
    output = http.get(body["output_url"], headers={"Authorization": ""})
    assert output.status_code == 200
    assert output.headers["content-type"] == "image/png"
    image = decode(output.content)
    assert image.format == "PNG"
    assert body["resolution"] == f"{image.width}x{image.height}" == "40x30"


def test_the_result_is_the_target_with_the_source_face(ds: httpx.Client) -> None:
    body = swap_body(target_image=_target((40, 30), boxes=1))
    image = decode(ds.get(ds.post(SWAP, json=body).json()["output_url"]).content).convert("RGB")
    # the face (the white box at x 2..9, y 2..9) is covered by the source's colour
    assert image.getpixel((6, 6)) == SOURCE_COLOR
    assert image.getpixel((39, 29)) == TARGET_COLOR


def test_output_url_expires_after_24_hours(sandbox: Sandbox, ds: httpx.Client) -> None:
    url = ds.post(SWAP, json=swap_body()).json()["output_url"]
    sandbox.advance(DAY - 1)
    assert ds.get(url).status_code == 200
    sandbox.advance(1)
    expired = ds.get(url)
    assert expired.status_code == 404
    assert expired.headers["content-type"] == "application/xml"
    assert b"<Code>NoSuchKey</Code>" in expired.content


@pytest.mark.parametrize(
    ("output_format", "media_type", "pil_format"),
    [("png", "image/png", "PNG"), ("jpg", "image/jpeg", "JPEG"), ("webp", "image/webp", "WEBP")],
)
def test_output_formats(
    ds: httpx.Client, output_format: str, media_type: str, pil_format: str
) -> None:
    body = ds.post(SWAP, json=swap_body(output_format=output_format)).json()
    assert body["output_format"] == output_format
    assert body["output_url"].endswith(f".{output_format}")
    output = ds.get(body["output_url"])
    assert output.headers["content-type"] == media_type
    assert decode(output.content).format == pil_format


def test_jpeg_is_not_a_documented_format(fake_clock: FakeClock, ds: httpx.Client) -> None:
    refused = ds.post(SWAP, json=swap_body(output_format="jpeg"))
    assert '"jpg"' in _message(_error(refused, 400, "INVALID_REQUEST"))
    with _sandbox(fake_clock, options={"accept_jpeg": True}) as sandbox, _client(sandbox) as http:
        body = http.post(SWAP, json=swap_body(output_format="jpeg")).json()
        assert body["output_format"] == "jpg"
        assert decode(http.get(body["output_url"]).content).format == "JPEG"


@pytest.mark.parametrize(
    ("size", "quality", "expected"),
    [
        ((100, 60), "standard", (60, 36)),  # reduced to fit 64x36 (1280x720 scaled)
        ((100, 60), "high", (100, 60)),  # the target's size
        ((100, 60), "4k", (180, 108)),  # enlarged to fit 192x108 (3840x2160 scaled)
        ((60, 100), "4k", (108, 180)),  # the box turns with a portrait target
        ((300, 100), "high", (192, 64)),  # never above 4K
        ((30, 20), "standard", (30, 20)),  # standard never enlarges
        ((100, 60), None, (100, 60)),  # default: high
    ],
)
def test_quality_sets_the_output_size(
    fake_clock: FakeClock, size: tuple[int, int], quality: str | None, expected: tuple[int, int]
) -> None:
    options = {"output_scale": 0.05}
    with _sandbox(fake_clock, options=options) as sandbox, _client(sandbox) as http:
        body = http.post(SWAP, json=swap_body(target_image=_target(size), quality=quality)).json()
        assert body["resolution"] == f"{expected[0]}x{expected[1]}"
        assert decode(http.get(body["output_url"]).content).size == expected


def test_unscaled_quality_boxes() -> None:
    assert output_size((1920, 1080), "4k") == (3840, 2160)
    assert output_size((1080, 1920), "4k") == (2160, 3840)
    assert output_size((8000, 4500), "4k") == (3840, 2160)
    assert output_size((4000, 3000), "high") == (2880, 2160)
    assert output_size((640, 480), "high") == (640, 480)
    assert output_size((1920, 1080), "standard") == (1280, 720)
    assert output_size((640, 480), "standard") == (640, 480)


# -- faces and face_index -----------------------------------------------------------------------


def test_faces_are_separate_regions_on_one_background(ds: httpx.Client) -> None:
    for boxes, fmt in [(1, "PNG"), (2, "PNG"), (3, "JPEG"), (2, "WEBP")]:
        body = ds.post(SWAP, json=swap_body(target_image=_target((60, 30), boxes=boxes, fmt=fmt)))
        assert body.json()["faces_detected"] == boxes, (boxes, fmt)
    photo = ds.post(SWAP, json=swap_body(target_image=_target((60, 40), photo=True)))
    assert photo.json()["faces_detected"] == 1


def test_at_most_50_faces_are_counted(ds: httpx.Client) -> None:
    image = Image.new("RGB", (130, 5), TARGET_COLOR)
    for x in range(0, 130, 2):
        image.putpixel((x, 2), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    body = ds.post(SWAP, json=swap_body(target_image=b64(buffer.getvalue()))).json()
    assert body["faces_detected"] == 50


def test_face_index_picks_the_face(ds: httpx.Client) -> None:
    target = _target((60, 30), boxes=2)
    for face_index, covered, kept in [(None, (6, 6), (18, 6)), (0, (6, 6), (18, 6))]:
        body = ds.post(SWAP, json=swap_body(target_image=target, face_index=face_index)).json()
        image = decode(ds.get(body["output_url"]).content).convert("RGB")
        assert image.getpixel(covered) == SOURCE_COLOR
        assert image.getpixel(kept) != SOURCE_COLOR
    second = ds.post(SWAP, json=swap_body(target_image=target, face_index=1)).json()
    assert second["faces_detected"] == 2
    image = decode(ds.get(second["output_url"]).content).convert("RGB")
    assert image.getpixel((18, 6)) == SOURCE_COLOR


def test_face_index_beyond_the_faces_is_no_face_detected(ds: httpx.Client) -> None:
    response = ds.post(SWAP, json=swap_body(target_image=_target(boxes=2), face_index=2))
    message = _message(_error(response, 400, "NO_FACE_DETECTED"))
    assert "face_index 2" in message
    assert "2 face(s)" in message


@pytest.mark.parametrize("face_index", [-1, "1", 1.5, True, [0]])
def test_invalid_face_index_is_invalid_request(ds: httpx.Client, face_index: Any) -> None:
    response = ds.post(SWAP, json=swap_body(face_index=face_index))
    assert "face_index" in _message(_error(response, 400, "INVALID_REQUEST"))


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["source_image", "target_image"])
def test_a_flat_colour_image_has_no_face(ds: httpx.Client, field: str) -> None:
    response = ds.post(SWAP, json=swap_body(**{field: b64(image_bytes(flat=True))}))
    assert _message(_error(response, 400, "NO_FACE_DETECTED")) == f"No face detected in {field}."


def test_source_is_checked_before_target(ds: httpx.Client) -> None:
    flat = b64(image_bytes(flat=True))
    response = ds.post(SWAP, json=swap_body(source_image=flat, target_image=flat))
    assert "source_image" in _message(_error(response, 400, "NO_FACE_DETECTED"))


@pytest.mark.parametrize(
    "value",
    [
        b64(image_bytes(fmt="GIF")),
        b64(image_bytes(fmt="BMP")),
        b64(b"not an image at all"),
        "%%% not base64 %%%",
        "data:text/plain,hello",
    ],
)
def test_unsupported_images_are_invalid_format(ds: httpx.Client, value: str) -> None:
    response = ds.post(SWAP, json=swap_body(target_image=value))
    assert "target_image" in _message(_error(response, 400, "INVALID_FORMAT"))


def test_data_uris_are_accepted(ds: httpx.Client) -> None:
    body = swap_body(source_image="data:image/png;base64," + b64(image_bytes()))
    assert ds.post(SWAP, json=body).status_code == 200


def test_the_size_limit_counts_decoded_bytes(fake_clock: FakeClock) -> None:
    assert MAX_IMAGE_BYTES == 50 * 1024 * 1024 == DeepSwapAIOptions().max_image_bytes
    png = image_bytes()
    with (
        _sandbox(fake_clock, options={"max_image_bytes": 1000}) as sandbox,
        _client(sandbox) as http,
    ):
        at_limit = b64(png + b"\0" * (1000 - len(png)))
        target = b64(image_bytes((40, 30)))
        body = swap_body(source_image=at_limit, target_image=target)
        assert http.post(SWAP, json=body).status_code == 200
        over = b64(png + b"\0" * (1001 - len(png)))
        response = http.post(SWAP, json=swap_body(source_image=over, target_image=target))
        assert "source_image" in _message(_error(response, 400, "IMAGE_TOO_LARGE"))


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"source_image": b64(image_bytes())},
        swap_body(source_image=None),
        swap_body(target_image=""),
        swap_body(target_image=12),
        swap_body(quality="4K"),
        swap_body(quality="ultra"),
        swap_body(output_format="gif"),
        swap_body(output_format=["png"]),
        [swap_body()],
        "swap",
    ],
)
def test_invalid_bodies_are_invalid_request(ds: httpx.Client, body: Any) -> None:
    _error(ds.post(SWAP, json=body), 400, "INVALID_REQUEST")


def test_bodies_that_are_not_json_are_invalid_request(ds: httpx.Client) -> None:
    for content in (b"", b"{", b"\xff\xfe"):
        _error(ds.post(SWAP, content=content), 400, "INVALID_REQUEST")


def test_nulls_mean_defaults_and_unknown_fields_are_ignored(ds: httpx.Client) -> None:
    body = swap_body(output_format=None, quality=None, face_index=None, webhook_url="x")
    answer = ds.post(SWAP, json=body).json()
    assert (answer["output_format"], answer["resolution"]) == ("png", "40x30")


def test_image_urls(ds: httpx.Client) -> None:
    first = ds.post(SWAP, json=swap_body()).json()
    again = ds.post(SWAP, json=swap_body(target_image=first["output_url"]))
    assert again.status_code == 200
    outside = ds.post(SWAP, json=swap_body(source_image="https://example.com/face.png"))
    assert "source_image" in _message(_error(outside, 400, "IMAGE_FETCH_FAILED"))
    missing = ds.post(SWAP, json=swap_body(target_image=first["output_url"] + "x"))
    _error(missing, 400, "IMAGE_FETCH_FAILED")


def test_loopback_image_urls_are_fetched(ds: httpx.Client) -> None:
    with FileServer(image_bytes((16, 12), SOURCE_COLOR)) as server:
        assert ds.post(SWAP, json=swap_body(source_image=server.url)).status_code == 200


def _problem_body(code: str) -> dict[str, Any]:
    if code == "NO_FACE_DETECTED":
        return swap_body(target_image=b64(image_bytes(flat=True)))
    if code == "IMAGE_TOO_LARGE":
        return swap_body(source_image=b64(image_bytes() + b"\0" * 2000))
    return swap_body(source_image=b64(b"GIF89a not really"))


@pytest.mark.parametrize("envelope", ["nested", "flat", "top_level"])
@pytest.mark.parametrize("statuses", ["400", "specific"])
@pytest.mark.parametrize("code", DOCUMENTED)
def test_documented_codes_in_every_envelope_and_status_reading(
    fake_clock: FakeClock, envelope: str, statuses: str, code: str
) -> None:
    options = {"error_envelope": envelope, "error_statuses": statuses, "max_image_bytes": 1000}
    with _sandbox(fake_clock, options=options) as sandbox, _client(sandbox) as http:
        response = http.post(SWAP, json=_problem_body(code))
        _error(response, SPECIFIC[code] if statuses == "specific" else 400, code, envelope)


@pytest.mark.parametrize("envelope", ["nested", "flat", "top_level"])
def test_errors_inside_a_200(fake_clock: FakeClock, envelope: str) -> None:
    options = {"errors_in_200": True, "error_envelope": envelope, "max_image_bytes": 1000}
    with _sandbox(fake_clock, options=options, credits=1) as sandbox, _client(sandbox) as http:
        for code in DOCUMENTED:
            _error(http.post(SWAP, json=_problem_body(code)), 200, code, envelope)
        _error(http.post(SWAP, json={}), 200, "INVALID_REQUEST", envelope)
        assert http.post(SWAP, json=swap_body()).json()["success"] is True
        _error(http.post(SWAP, json=swap_body()), 200, "INSUFFICIENT_CREDITS", envelope)
        no_key = http.post(SWAP, json=swap_body(), headers={"Authorization": ""})
        _error(no_key, 200, "INVALID_API_KEY", envelope)
        assert "www-authenticate" not in no_key.headers
        _error(http.get("/v1/status/job_nope"), 200, "JOB_NOT_FOUND", envelope)
        # routing errors keep their status
        _error(http.post("/v1/video-swap", json={}), 404, "NOT_FOUND", envelope)


# -- credits and rate limits --------------------------------------------------------------------


def test_a_swap_costs_one_credit_and_failures_are_free(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, credits=2) as sandbox, _client(sandbox) as http:
        flat = b64(image_bytes(flat=True))
        _error(http.post(SWAP, json=swap_body(source_image=flat)), 400, "NO_FACE_DETECTED")
        _error(http.post(SWAP, json={}), 400, "INVALID_REQUEST")
        assert sandbox.credits_left("deepswapai", DS_KEY) == 2
        assert http.post(SWAP, json=swap_body()).json()["credits_used"] == 1
        assert http.post(SWAP, json=swap_body()).status_code == 200
        assert sandbox.credits_left("deepswapai", DS_KEY) == 0
        refused = http.post(SWAP, json=swap_body())
        assert "credits" in _message(_error(refused, 402, "INSUFFICIENT_CREDITS")).lower()
        # the body is checked before credits
        _error(http.post(SWAP, json={}), 400, "INVALID_REQUEST")


def test_credits_status_option(fake_clock: FakeClock) -> None:
    options = {"credits_status": 403, "error_envelope": "top_level"}
    with _sandbox(fake_clock, credits=0, options=options) as sandbox, _client(sandbox) as http:
        _error(http.post(SWAP, json=swap_body()), 403, "INSUFFICIENT_CREDITS", "top_level")


def test_rate_limit_is_429_without_headers(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, rate_limit=(2, 60.0)) as sandbox, _client(sandbox) as http:
        job_id = http.post(SWAP, json=swap_body()).json()["job_id"]
        assert http.get(f"/v1/status/{job_id}").status_code == 200
        limited = http.post(SWAP, json=swap_body())
        _error(limited, 429, "RATE_LIMIT_EXCEEDED")
        assert not [name for name in limited.headers if "ratelimit" in name]
        assert "retry-after" not in limited.headers
        sandbox.advance(60)
        assert http.post(SWAP, json=swap_body()).status_code == 200


# -- status -------------------------------------------------------------------------------------


def test_status_of_an_image_job(sandbox: Sandbox, ds: httpx.Client) -> None:
    swapped = ds.post(SWAP, json=swap_body(output_format="webp")).json()
    status = ds.get(f"/v1/status/{swapped['job_id']}")
    assert status.status_code == 200
    body = status.json()
    assert body["type"] == "image_swap"
    assert body["status"] == "completed"
    assert body["progress"] == 100
    for field in SWAP_FIELDS:
        assert body[field] == swapped[field], field
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert abs(expires.timestamp() - (datetime.now().timestamp() + DAY)) < 60


def test_unknown_and_foreign_jobs_are_not_found(fake_clock: FakeClock) -> None:
    with (
        _sandbox(fake_clock, api_keys={"deepswapai": [DS_KEY, "ds-other"]}) as sandbox,
        _client(sandbox) as http,
    ):
        job_id = http.post(SWAP, json=swap_body()).json()["job_id"]
        _error(http.get("/v1/status/job_unknown"), 404, "JOB_NOT_FOUND")
        other = http.get(f"/v1/status/{job_id}", headers={"Authorization": "Bearer ds-other"})
        _error(other, 404, "JOB_NOT_FOUND")
        _error(
            http.get(f"/v1/status/{job_id}", headers={"Authorization": ""}), 401, "INVALID_API_KEY"
        )


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match=r"'deepswapai': error_envelope: Input should be 'nested'"):
        Sandbox(vendor_options={"deepswapai": {"error_envelope": "standard"}})
    with pytest.raises(ValueError, match=r"valid options: accept_jpeg, credits_status, "):
        Sandbox(vendor_options={"deepswapai": {"envelope": "flat"}})
