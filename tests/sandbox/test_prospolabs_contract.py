"""The Prospolabs emulator against the vendor's documented contract (plain httpx).

Most tests here run the sandbox in its FastAPI reading (`FASTAPI`: 422 for a bad body,
`{"detail"}` alone, no advertised rate headers), the shape the vendor's example bodies show;
`test_the_seeds_reading_*` at the end cover the defaults, which follow seed 001's prose.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from PIL import Image

from swapkit.sandbox import FakeClock, Sandbox

from .helpers import AUTH, b64, decode, image_bytes, swap_body

TEN_MIB = 10 * 1024 * 1024
FASTAPI = {"validation_status": 422, "error_codes": False, "rate_limit_headers": False}


@pytest.fixture
def swapkit_sandbox_config(fake_clock: FakeClock) -> dict[str, Any]:
    return {
        "clock": fake_clock,
        "webhook_retry_delays": (0, 0, 0, 0),
        "hang_seconds": 5.0,
        "vendor_options": {"prospolabs": FASTAPI},
    }


# -- auth and routing ---------------------------------------------------------------------------


def test_missing_key_is_401_with_detail(client: httpx.Client) -> None:
    response = client.post("/v1/swap/realistic", json=swap_body(), headers={"Authorization": ""})
    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("value", ["Bearer prsp-wrong", "prsp-sandbox", "Basic prsp-sandbox"])
def test_invalid_key_is_401(client: httpx.Client, value: str) -> None:
    response = client.post("/v1/swap/realistic", json=swap_body(), headers={"Authorization": value})
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key"}


def test_configured_keys_replace_the_default(fake_clock: FakeClock) -> None:
    with Sandbox(api_keys={"prospolabs": ["prsp-a", "prsp-b"]}, clock=fake_clock) as sandbox:
        http = httpx.Client(transport=sandbox.transport(), base_url="http://s/prospolabs")
        with http:
            for key, status in [("prsp-a", 200), ("prsp-b", 200), ("prsp-sandbox", 401)]:
                response = http.post(
                    "/v1/swap/fast", json=swap_body(), headers={"Authorization": f"Bearer {key}"}
                )
                assert response.status_code == status


def test_unknown_model_and_path_are_404_not_found(client: httpx.Client) -> None:
    for path in ("/v1/swap/anime", "/v1/swap/anime/async", "/v2/swap/realistic", "/"):
        response = client.post(path, json=swap_body())
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not Found"}


def test_wrong_method_is_405(client: httpx.Client) -> None:
    assert client.get("/v1/swap/realistic").status_code == 405
    assert client.post("/v1/jobs/x").json() == {"detail": "Method Not Allowed"}


# -- schema validation: FastAPI-style 422 ---------------------------------------------------


def test_missing_fields_are_422_with_a_list_detail(client: httpx.Client) -> None:
    response = client.post("/v1/swap/realistic", json={"prompt": None})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(e["loc"], e["msg"], e["type"]) for e in detail] == [
        (["body", "source_image"], "Field required", "missing"),
        (["body", "target_image"], "Field required", "missing"),
    ]


@pytest.mark.parametrize(
    ("field", "value", "error_type"),
    [
        ("output_quality", 9, "greater_than_equal"),
        ("output_quality", 101, "less_than_equal"),
        ("output_quality", "high", "int_parsing"),
        ("output_format", "gif", "literal_error"),
        ("output_format", "jpg", "literal_error"),
        ("source_image", 12, "string_type"),
        ("prompt", ["x"], "string_type"),
    ],
)
def test_bad_field_values_are_422(
    client: httpx.Client, field: str, value: object, error_type: str
) -> None:
    response = client.post("/v1/swap/realistic", json=swap_body(**{field: value}))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert error["type"] == error_type
    assert isinstance(error["msg"], str)


def test_quality_bounds_are_inclusive(client: httpx.Client) -> None:
    for quality in (10, 100):
        assert client.post("/v1/swap/fast", json=swap_body(output_quality=quality)).is_success


def test_body_that_is_not_json_is_422_json_invalid(client: httpx.Client) -> None:
    response = client.post("/v1/swap/realistic", content=b"{not json")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["type"] == "json_invalid"
    assert error["loc"][0] == "body"


def test_empty_body_is_422_missing(client: httpx.Client) -> None:
    response = client.post("/v1/swap/realistic")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_validation_errors_do_not_echo_whole_images(client: httpx.Client) -> None:
    body = swap_body(output_quality=5)
    response = client.post("/v1/swap/realistic", json={"target_image": body["target_image"]})
    assert len(response.content) < 1000


# -- image errors: 400 ------------------------------------------------------------------------


def test_base64_that_is_not_base64_is_400(client: httpx.Client) -> None:
    response = client.post("/v1/swap/realistic", json=swap_body(source_image="not base64!"))
    assert response.status_code == 400
    assert "source_image" in response.json()["detail"]
    assert "format" in response.json()["detail"].lower()


@pytest.mark.parametrize("payload", [b"hello world, not an image", image_bytes(fmt="GIF")])
def test_bytes_that_are_not_a_supported_image_are_400(client: httpx.Client, payload: bytes) -> None:
    response = client.post("/v1/swap/realistic", json=swap_body(target_image=b64(payload)))
    assert response.status_code == 400
    assert "target_image" in response.json()["detail"]
    assert "invalid image format" in response.json()["detail"].lower()


def test_decompression_bombs_are_invalid_images(client: httpx.Client) -> None:
    buffer = io.BytesIO()
    Image.new("1", (7200, 7200)).save(buffer, "PNG")  # 52 megapixels in 6 kB
    response = client.post("/v1/swap/fast", json=swap_body(target_image=b64(buffer.getvalue())))
    assert response.status_code == 400
    assert "invalid image format" in response.json()["detail"].lower()


def _padded_png(total: int) -> bytes:
    """A valid PNG followed by padding (decoders ignore bytes after IEND) of `total` bytes."""
    png = image_bytes()
    return png + b"\0" * (total - len(png))


def test_ten_mib_is_the_largest_accepted_image(client: httpx.Client) -> None:
    at_limit = client.post("/v1/swap/fast", json=swap_body(source_image=b64(_padded_png(TEN_MIB))))
    assert at_limit.status_code == 200, at_limit.text
    over = client.post("/v1/swap/fast", json=swap_body(source_image=b64(_padded_png(TEN_MIB + 1))))
    assert over.status_code == 400
    assert "too large" in over.json()["detail"].lower()
    assert "source_image" in over.json()["detail"]


@pytest.mark.parametrize("field", ["source_image", "target_image"])
def test_a_flat_colour_image_has_no_face(client: httpx.Client, field: str) -> None:
    flat = b64(image_bytes(flat=True))
    response = client.post("/v1/swap/realistic", json=swap_body(**{field: flat}))
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "no face detected" in detail.lower()
    assert field in detail


def test_source_is_checked_before_target(client: httpx.Client) -> None:
    flat = b64(image_bytes(flat=True))
    response = client.post(
        "/v1/swap/realistic", json=swap_body(source_image=flat, target_image=flat)
    )
    assert "source_image" in response.json()["detail"]


def test_urls_outside_the_sandbox_are_not_fetched(client: httpx.Client) -> None:
    body = swap_body(source_image="https://example.com/face.jpg")
    response = client.post("/v1/swap/realistic", json=body)
    assert response.status_code == 400
    assert "could not fetch" in response.json()["detail"].lower()


# -- the sync result ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output_format", "pil_format", "media_type"),
    [("jpeg", "JPEG", "image/jpeg"), ("png", "PNG", "image/png"), ("webp", "WEBP", "image/webp")],
)
def test_sync_swap_returns_a_real_image_of_the_requested_format(
    client: httpx.Client, output_format: str, pil_format: str, media_type: str
) -> None:
    response = client.post(
        "/v1/swap/realistic", json=swap_body(output_format=output_format, output_quality=80)
    )
    assert response.status_code == 200
    payload = response.json()
    assert set(payload) == {"request_id", "status", "model", "result_url", "inference_time"}
    assert uuid.UUID(payload["request_id"]).version == 4
    assert payload["status"] == "completed"
    assert payload["model"] == "realistic"
    assert isinstance(payload["inference_time"], float)
    assert re.search(rf"/prospolabs/results/[\w-]+\.{output_format}\?token=", payload["result_url"])
    download = client.get(payload["result_url"], headers={"Authorization": ""})
    assert download.status_code == 200
    assert download.headers["content-type"] == media_type
    image = decode(download.content)
    assert image.format == pil_format
    assert image.size == (40, 30)


def test_default_output_format_is_jpeg(client: httpx.Client) -> None:
    payload = client.post("/v1/swap/fast", json=swap_body()).json()
    assert ".jpeg?" in payload["result_url"]


def test_the_source_is_composited_into_the_target(client: httpx.Client) -> None:
    payload = client.post("/v1/swap/realistic", json=swap_body(output_format="png")).json()
    image = decode(client.get(payload["result_url"]).content).convert("RGB")
    assert image.getpixel((20, 15)) == (200, 150, 120)  # centre: the source face
    assert image.getpixel((39, 29)) == (30, 90, 160)  # corner: the target


@pytest.mark.parametrize("model", ["realistic", "cartoon", "fast", "cartoon-lite"])
def test_every_model_echoes(client: httpx.Client, model: str) -> None:
    assert client.post(f"/v1/swap/{model}", json=swap_body()).json()["model"] == model


def test_data_uri_inputs_are_accepted(client: httpx.Client) -> None:
    body = swap_body()
    body["source_image"] = "data:image/png;base64," + body["source_image"]
    assert client.post("/v1/swap/realistic", json=body).status_code == 200


def test_own_result_url_is_accepted_as_an_input(client: httpx.Client) -> None:
    first = client.post("/v1/swap/realistic", json=swap_body(output_format="png")).json()
    second = client.post("/v1/swap/cartoon", json=swap_body(target_image=first["result_url"]))
    assert second.status_code == 200, second.text


def test_sync_calls_take_no_wall_time(client: httpx.Client, fake_clock: FakeClock) -> None:
    before = fake_clock()
    assert client.post("/v1/swap/realistic", json=swap_body()).status_code == 200
    assert fake_clock() == before


# -- result URLs --------------------------------------------------------------------------------


def _result_url(client: httpx.Client) -> str:
    return str(client.post("/v1/swap/realistic", json=swap_body()).json()["result_url"])


def test_result_url_needs_the_right_token(client: httpx.Client) -> None:
    url = httpx.URL(_result_url(client))
    for bad in (
        url.copy_remove_param("token"),
        url.copy_set_param("token", "forged"),
        url.copy_set_param("expires", "9999999999"),
    ):
        response = client.get(bad)
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/xml"
        assert b"<Code>SignatureDoesNotMatch</Code>" in response.content


def test_result_url_expires_after_24_hours(sandbox: Sandbox, client: httpx.Client) -> None:
    url = _result_url(client)
    sandbox.advance(24 * 3600 - 1)
    assert client.get(url).status_code == 200
    sandbox.advance(1)
    expired = client.get(url)
    assert expired.status_code == 403
    assert b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in expired.content


def test_unknown_result_is_404_no_such_key(client: httpx.Client) -> None:
    response = client.get("/results/nope.jpeg?token=x&expires=1")
    assert response.status_code == 404
    assert b"NoSuchKey" in response.content


def test_result_url_follows_the_host_the_client_used(sandbox: Sandbox) -> None:
    with httpx.Client(
        transport=sandbox.transport(), base_url="http://elsewhere:9999/prospolabs", headers=AUTH
    ) as http:
        url = http.post("/v1/swap/realistic", json=swap_body()).json()["result_url"]
    assert url.startswith("http://elsewhere:9999/prospolabs/results/")


# -- async jobs ---------------------------------------------------------------------------------


def test_async_job_moves_from_processing_to_completed(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    submitted = client.post("/v1/swap/cartoon/async", json=swap_body(output_format="png"))
    assert submitted.status_code == 202
    body = submitted.json()
    assert body == {"request_id": body["request_id"], "status": "processing", "model": "cartoon"}
    poll_path = f"/v1/jobs/{body['request_id']}"

    processing = client.get(poll_path).json()
    assert processing == {
        "request_id": body["request_id"],
        "status": "processing",
        "model": "cartoon",
        "result_url": None,
        "inference_time": None,
    }
    sandbox.advance(1.9)
    assert client.get(poll_path).json()["status"] == "processing"
    sandbox.advance(0.1)
    done = client.get(poll_path).json()
    assert done["status"] == "completed"
    assert done["inference_time"] >= 2.0
    image = decode(client.get(done["result_url"]).content)
    assert (image.format, image.size) == ("PNG", (40, 30))


def test_job_seconds_is_configurable(fake_clock: FakeClock) -> None:
    with (
        Sandbox(clock=fake_clock, job_seconds=10) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        ) as http,
    ):
        job_id = http.post("/v1/swap/fast/async", json=swap_body()).json()["request_id"]
        sandbox.advance(9)
        assert http.get(f"/v1/jobs/{job_id}").json()["status"] == "processing"
        sandbox.advance(1)
        assert http.get(f"/v1/jobs/{job_id}").json()["status"] == "completed"


def test_async_validation_errors_are_immediate(client: httpx.Client) -> None:
    flat = b64(image_bytes(flat=True))
    assert client.post("/v1/swap/fast/async", json=swap_body(target_image=flat)).status_code == 400
    assert client.post("/v1/swap/fast/async", json={}).status_code == 422


def test_unknown_job_is_404(client: httpx.Client) -> None:
    response = client.get(f"/v1/jobs/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["detail"] == "Job not found"


def test_jobs_of_another_key_are_404(fake_clock: FakeClock) -> None:
    keys = {"prospolabs": ["prsp-alice", "prsp-bob"]}
    with (
        Sandbox(api_keys=keys, clock=fake_clock) as sandbox,
        httpx.Client(transport=sandbox.transport(), base_url="http://s/prospolabs") as http,
    ):
        alice = {"Authorization": "Bearer prsp-alice"}
        bob = {"Authorization": "Bearer prsp-bob"}
        job_id = http.post("/v1/swap/fast/async", json=swap_body(), headers=alice).json()[
            "request_id"
        ]
        assert http.get(f"/v1/jobs/{job_id}", headers=alice).status_code == 200
        assert http.get(f"/v1/jobs/{job_id}", headers=bob).status_code == 404


# -- credits ------------------------------------------------------------------------------------


def test_credits_run_out_with_the_documented_403(fake_clock: FakeClock) -> None:
    with (
        Sandbox(credits=2, clock=fake_clock) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        ) as http,
    ):
        assert http.post("/v1/swap/fast", json=swap_body()).status_code == 200
        assert http.post("/v1/swap/fast/async", json=swap_body()).status_code == 202
        assert sandbox.credits_left("prospolabs", "prsp-sandbox") == 0
        refused = http.post("/v1/swap/fast", json=swap_body())
        assert refused.status_code == 403
        assert refused.json()["detail"] == "Insufficient credits. Please top up your balance."
        sandbox.reset()
        assert http.post("/v1/swap/fast", json=swap_body()).status_code == 200


def test_rejected_images_cost_no_credit(fake_clock: FakeClock) -> None:
    with (
        Sandbox(credits=1, clock=fake_clock) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        ) as http,
    ):
        flat = b64(image_bytes(flat=True))
        assert http.post("/v1/swap/fast", json=swap_body(source_image=flat)).status_code == 400
        assert http.post("/v1/swap/fast", json={}).status_code == 400
        assert http.post("/v1/swap/fast", json=swap_body()).status_code == 200


# -- rate limits --------------------------------------------------------------------------------


def test_rate_limit_headers_and_429(fake_clock: FakeClock) -> None:
    with (
        Sandbox(rate_limit=(2, 60), clock=fake_clock) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        ) as http,
    ):
        first = http.get("/v1/jobs/none")
        assert first.status_code == 404
        assert first.headers["x-ratelimit-limit"] == "2"
        assert first.headers["x-ratelimit-remaining"] == "1"
        second = http.post("/v1/swap/fast", json=swap_body())
        assert second.headers["x-ratelimit-remaining"] == "0"
        third = http.post("/v1/swap/fast", json=swap_body())
        assert third.status_code == 429
        assert isinstance(third.json()["detail"], str)
        assert third.headers["x-ratelimit-remaining"] == "0"
        reset = int(third.headers["x-ratelimit-reset"])
        assert reset > 1_000_000_000  # epoch seconds by default
        sandbox.advance(60)
        assert http.get("/v1/jobs/none").headers["x-ratelimit-remaining"] == "1"


def test_rate_limit_reset_can_be_seconds(fake_clock: FakeClock) -> None:
    with (
        Sandbox(rate_limit=(5, 30), rate_limit_reset="seconds", clock=fake_clock) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        ) as http,
    ):
        assert http.get("/v1/jobs/none").headers["x-ratelimit-reset"] == "30"
        sandbox.advance(10.5)
        assert http.get("/v1/jobs/none").headers["x-ratelimit-reset"] == "20"


def test_no_rate_limit_headers_by_default(client: httpx.Client) -> None:
    assert "x-ratelimit-limit" not in client.post("/v1/swap/fast", json=swap_body()).headers


def test_requests_are_recorded(sandbox: Sandbox, client: httpx.Client) -> None:
    client.post("/v1/swap/fast", json=swap_body(prompt="smile"))
    [recorded] = sandbox.requests
    assert (recorded.method, recorded.path) == ("POST", "/prospolabs/v1/swap/fast")
    assert recorded.header("authorization") == "Bearer prsp-sandbox"
    assert recorded.json["prompt"] == "smile"


def test_tiny_images_are_fine(client: httpx.Client) -> None:
    one_by_two = io.BytesIO()
    image = Image.new("RGB", (1, 2), "white")
    image.putpixel((0, 1), (0, 0, 0))
    image.save(one_by_two, "PNG")
    body = swap_body(target_image=b64(one_by_two.getvalue()), output_format="webp")
    payload = client.post("/v1/swap/realistic", json=body).json()
    assert decode(client.get(payload["result_url"]).content).size == (1, 2)


# -- the seeds' reading (the defaults) ------------------------------------------------------------


@pytest.fixture
def seeds_client(fake_clock: FakeClock) -> Any:
    with Sandbox(clock=fake_clock) as sandbox:
        http = httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        )
        with http:
            yield http, sandbox


def test_the_seeds_reading_of_a_bad_body_is_400(seeds_client: Any) -> None:
    http, _ = seeds_client
    response = http.post("/v1/swap/realistic", json={"prompt": None})
    assert response.status_code == 400  # seed 001: "invalid request body, missing fields"
    body = response.json()
    assert body["code"] == "validation_error"
    assert "Field required" in body["message"]
    assert isinstance(body["detail"], list)


NO_FACE = swap_body(source_image=b64(image_bytes(flat=True)))
BAD_KEY = {"Authorization": "Bearer x"}


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        (lambda h: h.get("/v1/jobs/x", headers=BAD_KEY), 401, "invalid_api_key"),
        (lambda h: h.get("/v1/jobs/nope"), 404, "job_not_found"),
        (lambda h: h.post("/v1/swap/anime", json=swap_body()), 404, "not_found"),
        (lambda h: h.post("/v1/swap/realistic", json=NO_FACE), 400, "no_face_detected"),
    ],
    ids=["401", "unknown-job", "unknown-model", "no-face"],
)  # fmt: skip
def test_the_seeds_reading_gives_every_error_a_code_and_a_message(
    seeds_client: Any, call: Any, status: int, code: str
) -> None:
    http, _ = seeds_client
    response = call(http)
    assert response.status_code == status
    body = response.json()
    assert (body["code"], body["message"]) == (code, body["detail"])


def test_the_seeds_reading_sends_rate_headers_on_every_answer(seeds_client: Any) -> None:
    http, _ = seeds_client
    first = http.post("/v1/swap/fast", json=swap_body())
    second = http.post("/v1/swap/fast", json=swap_body())
    assert first.headers["x-ratelimit-limit"] == "600"
    remaining = [int(r.headers["x-ratelimit-remaining"]) for r in (first, second)]
    assert remaining == [599, 598]
    assert int(first.headers["x-ratelimit-reset"]) > time.time()


def test_the_seeds_reading_of_a_long_sync_job_is_a_refunded_504(fake_clock: FakeClock) -> None:
    with Sandbox(clock=fake_clock, job_seconds=150.0, credits=5) as sandbox:
        http = httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        )
        with http:
            sync = http.post("/v1/swap/realistic", json=swap_body())
            assert sync.status_code == 504  # "If processing exceeds this, use async mode."
            assert "async" in sync.json()["detail"]
            assert sandbox.credits_left("prospolabs", "prsp-sandbox") == 5
            assert http.post("/v1/swap/realistic/async", json=swap_body()).status_code == 202
