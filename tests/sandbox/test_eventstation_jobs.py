"""EventStation jobs against the vendor's contract (plain httpx, fake clock).

The v6, v1 (and its older alias) and self-prompt flows through every status word, base64
results of the ratio's (scaled) size and the chosen format, RunPod's timing fields, input
problems (FAILED, or COMPLETED with no images), job and status faults (from Python and over the
HTTP fault API), generations kept apart, retention, and an async client.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from swapkit.sandbox import FakeClock, Fault, Sandbox

from .conftest import ClientFactory
from .helpers import ES_AUTH, ES_KEY, FileServer, b64, face_b64, image_bytes

SCALE = 0.05  # portrait 60x90, landscape 90x60, square 64x64
UUID_FILTER = "3f6c2a9e-8b1d-4e57-9a0c-5d2e7b41f8a3"


@pytest.fixture
def swapkit_sandbox_config(fake_clock: FakeClock) -> dict[str, Any]:
    return {
        "clock": fake_clock,
        "hang_seconds": 5.0,
        "vendor_options": {"eventstation": {"result_scale": SCALE}},
    }


@pytest.fixture
def es(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with _client(sandbox) as http:
        yield http


@pytest.fixture
def any_es(make_client: ClientFactory) -> httpx.Client:
    return make_client(provider="eventstation")


def _client(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(
        transport=sandbox.transport(), base_url="http://sandbox.test/eventstation", headers=ES_AUTH
    )


def _sandbox(
    fake_clock: FakeClock, settings: dict[str, Any] | None = None, **options: Any
) -> Sandbox:
    """A sandbox with small results (`settings`: more `Sandbox` keywords)."""
    options.setdefault("result_scale", SCALE)
    return Sandbox(clock=fake_clock, vendor_options={"eventstation": options}, **(settings or {}))


def v6_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"base64": face_b64(), "gender": 1, "filter_id": 12}
    body.update(overrides)
    return body


def _submit(http: httpx.Client, path: str, body: dict[str, Any]) -> str:
    response = http.post(path, json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def _image(encoded: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(encoded, validate=True)))
    image.load()
    return image


# -- the flows ----------------------------------------------------------------------------------


def test_v6_flow_through_every_word(sandbox: Sandbox, any_es: httpx.Client) -> None:
    submitted = any_es.post("/v6/run/face_swap", json=v6_body())
    assert submitted.status_code == 200
    job_id = submitted.json()["id"]
    assert submitted.json() == {"id": job_id, "status": "IN_QUEUE"}
    assert job_id.endswith("-u1")
    assert any_es.post(f"/v6/status/{job_id}").json() == {"id": job_id, "status": "IN_QUEUE"}
    sandbox.advance(1.0)  # half of job_seconds (2.0): out of the queue
    running = any_es.post(f"/v6/status/{job_id}").json()
    assert running == {"id": job_id, "status": "IN_PROGRESS", "delayTime": 1000}
    sandbox.advance(1.0)
    done = any_es.post(f"/v6/status/{job_id}").json()
    assert set(done) == {"id", "status", "output", "delayTime", "executionTime"}
    assert (done["status"], done["delayTime"], done["executionTime"]) == ("COMPLETED", 1000, 1000)
    [encoded] = done["output"]["images"]
    image = _image(encoded)
    assert (image.format, image.size) == ("PNG", (60, 90))


@pytest.mark.parametrize(
    ("ratio", "size"), [("portrait", (60, 90)), ("landscape", (90, 60)), ("square", (64, 64))]
)
def test_results_have_the_ratios_scaled_size(
    sandbox: Sandbox, es: httpx.Client, ratio: str, size: tuple[int, int]
) -> None:
    job_id = _submit(es, "/v6/run/face_swap", v6_body(ratio=ratio))
    sandbox.advance(2)
    [encoded] = es.post(f"/v6/status/{job_id}").json()["output"]["images"]
    assert _image(encoded).size == size


def test_full_size_results_by_default(fake_clock: FakeClock) -> None:
    with Sandbox(clock=fake_clock, job_seconds=0) as sandbox, _client(sandbox) as http:
        job_id = _submit(http, "/v6/run/face_swap", v6_body(ratio="landscape"))
        [encoded] = http.post(f"/v6/status/{job_id}").json()["output"]["images"]
    assert _image(encoded).size == (1800, 1200)


@pytest.mark.parametrize(("output_format", "pil_format"), [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_output_format_option(fake_clock: FakeClock, output_format: str, pil_format: str) -> None:
    with _sandbox(fake_clock, output_format=output_format) as sandbox, _client(sandbox) as http:
        job_id = _submit(http, "/v6/run/face_swap", v6_body(ratio="square"))
        sandbox.advance(2)
        [encoded] = http.post(f"/v6/status/{job_id}").json()["output"]["images"]
    image = _image(encoded)
    assert (image.format, image.size) == (pil_format, (64, 64))


def test_the_face_is_composited_into_the_filters_scene(sandbox: Sandbox, es: httpx.Client) -> None:
    red = _submit(es, "/v6/run/face_swap", v6_body(base64=face_b64((250, 0, 0))))
    blue = _submit(es, "/v6/run/face_swap", v6_body(base64=face_b64((0, 0, 250))))
    other_filter = _submit(es, "/v6/run/face_swap", v6_body(filter_id=34))
    sandbox.advance(2)
    images = [
        _image(es.post(f"/v6/status/{job}").json()["output"]["images"][0]).convert("RGB")
        for job in (red, blue, other_filter)
    ]
    centre = (30, 45)
    assert images[0].getpixel(centre)[0] > 200  # type: ignore[index]
    assert images[1].getpixel(centre)[2] > 200  # type: ignore[index]
    assert images[0].getpixel((1, 1)) == images[1].getpixel((1, 1))  # same scene
    assert images[0].getpixel((1, 1)) != images[2].getpixel((1, 1))  # another filter


def test_v1_flow_through_every_word(sandbox: Sandbox, any_es: httpx.Client) -> None:
    body = {"filter_id": 34, "base64": face_b64(), "gender": 0, "ratio": "square"}
    submitted = any_es.post("/v1/run/faceswap", json=body)
    job_id = submitted.json()["id"]
    assert submitted.json() == {"id": job_id, "status": "QUEUED"}
    words = []
    for _ in range(3):
        words.append(any_es.post(f"/v2/status/{job_id}").json())
        sandbox.advance(1.0)
    assert [w["status"] for w in words] == ["QUEUED", "RUNNING", "COMPLETED"]
    assert all("delayTime" not in w and "executionTime" not in w for w in words)
    assert list(words[2]) == ["id", "status", "output"]
    assert _image(words[2]["output"]["images"][0]).size == (64, 64)


def test_the_older_filter_id_path_is_a_v1_alias(sandbox: Sandbox, es: httpx.Client) -> None:
    job_id = _submit(es, "/v2/run/filter_id/", {"filter_id": 12, "base64": face_b64()})
    sandbox.advance(2)
    assert es.post(f"/v2/status/{job_id}").json()["status"] == "COMPLETED"


def test_self_prompt_flow(sandbox: Sandbox, any_es: httpx.Client) -> None:
    prompt = {"prompt": "A cinematic portrait of a person in neon city lights"}
    plain = any_es.post("/v2/run/self-prompt", json=prompt).json()
    assert plain["status"] == "QUEUED"
    again = _submit(any_es, "/v2/run/self-prompt", prompt)
    with_face = _submit(any_es, "/v2/run/self-prompt", {**prompt, "base64": face_b64((0, 250, 0))})
    other = _submit(any_es, "/v2/run/self-prompt", {"prompt": "a quiet forest", "ratio": "square"})
    sandbox.advance(1)
    assert any_es.post(f"/v2/status/{plain['id']}").json()["status"] == "RUNNING"
    sandbox.advance(1)
    images = {}
    for name, job_id in [("plain", plain["id"]), ("again", again), ("face", with_face)]:
        done = any_es.post(f"/v2/status/{job_id}").json()
        assert done["status"] == "COMPLETED"
        images[name] = _image(done["output"]["images"][0]).convert("RGB")
    assert images["plain"].size == (60, 90)
    assert images["plain"].tobytes() == images["again"].tobytes()  # the prompt's hash decides
    assert images["face"].getpixel((30, 45))[1] > 200  # type: ignore[index]
    other_done = any_es.post(f"/v2/status/{other}").json()
    assert _image(other_done["output"]["images"][0]).size == (64, 64)


@pytest.mark.parametrize(("option", "v1", "v6"), [("all", True, True), ("none", False, False)])
def test_timing_fields_option(fake_clock: FakeClock, option: str, v1: bool, v6: bool) -> None:
    with _sandbox(fake_clock, timing_fields=option) as sandbox, _client(sandbox) as http:
        old = _submit(http, "/v2/run/self-prompt", {"prompt": "p"})
        new = _submit(http, "/v6/run/face_swap", v6_body())
        sandbox.advance(2)
        assert ("executionTime" in http.post(f"/v2/status/{old}").json()) is v1
        assert ("delayTime" in http.post(f"/v6/status/{new}").json()) is v6


def test_job_seconds_zero_finishes_at_once(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, {"job_seconds": 0}) as sandbox, _client(sandbox) as http:
        answer = http.post("/v6/run/face_swap", json=v6_body()).json()
        assert answer["status"] == "IN_QUEUE"
        done = http.post(f"/v6/status/{answer['id']}").json()
    assert (done["status"], done["delayTime"], done["executionTime"]) == ("COMPLETED", 0, 0)


def test_photos_by_url_and_data_uri(sandbox: Sandbox, es: httpx.Client) -> None:
    with FileServer(image_bytes((20, 20), (200, 150, 120))) as host:
        by_url = _submit(es, "/v6/run/face_swap", v6_body(base64=host.url))
    data_uri = _submit(
        es, "/v6/run/face_swap", v6_body(base64="data:image/png;base64," + face_b64())
    )
    remote = _submit(es, "/v6/run/face_swap", v6_body(base64="https://example.com/me.jpg"))
    sandbox.advance(2)
    assert es.post(f"/v6/status/{by_url}").json()["status"] == "COMPLETED"
    assert es.post(f"/v6/status/{data_uri}").json()["status"] == "COMPLETED"
    failed = es.post(f"/v6/status/{remote}").json()
    assert failed["status"] == "FAILED"
    assert "download" in failed["error"]


# -- input problems -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("photo", "words"),
    [
        (face_b64(flat=True), "no face"),
        ("not base64!", "could not be read"),
        (b64(b"plain text, not an image"), "could not be read"),
        (b64(image_bytes(fmt="GIF")), "could not be read"),
    ],
)
def test_an_unusable_photo_fails_the_job(
    sandbox: Sandbox, es: httpx.Client, photo: str, words: str
) -> None:
    job_id = _submit(es, "/v6/run/face_swap", v6_body(base64=photo))
    sandbox.advance(1)
    assert es.post(f"/v6/status/{job_id}").json()["status"] == "IN_PROGRESS"
    sandbox.advance(1)
    failed = es.post(f"/v6/status/{job_id}").json()
    assert set(failed) == {"id", "status", "error", "delayTime", "executionTime"}
    assert failed["status"] == "FAILED"
    assert words in failed["error"].lower()


def test_no_face_fails_v1_and_prompt_jobs_too(sandbox: Sandbox, es: httpx.Client) -> None:
    flat = face_b64(flat=True)
    v1 = _submit(es, "/v1/run/faceswap", {"filter_id": 12, "base64": flat})
    prompt = _submit(es, "/v2/run/self-prompt", {"prompt": "p", "base64": flat})
    sandbox.advance(2)
    for job_id in (v1, prompt):
        assert es.post(f"/v2/status/{job_id}").json() == {
            "id": job_id,
            "status": "FAILED",
            "error": "No face detected in the input image.",
        }


def test_invalid_input_outcome_empty(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, invalid_input_outcome="empty") as sandbox, _client(sandbox) as http:
        job_id = _submit(http, "/v6/run/face_swap", v6_body(base64=face_b64(flat=True)))
        sandbox.advance(2)
        done = http.post(f"/v6/status/{job_id}").json()
    assert done["status"] == "COMPLETED"
    assert done["output"] == {"images": []}
    assert "error" not in done


# -- job faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "word", "extra"),
    [
        (None, "FAILED", {"error"}),
        ("FAILED", "FAILED", {"error"}),
        ("CANCELLED", "CANCELLED", set()),
        ("TIMED_OUT", "TIMED_OUT", set()),
        ("timed_out", "TIMED_OUT", set()),
        ("COMPLETED", "COMPLETED", {"output"}),
        ("CUDA out of memory", "FAILED", {"error"}),
    ],
)
def test_job_failed_faults_end_jobs_with_the_codes_word(
    sandbox: Sandbox, es: httpx.Client, code: str | None, word: str, extra: set[str]
) -> None:
    sandbox.faults.add(Fault(provider="eventstation", kind="job_failed", code=code, times=1))
    job_id = _submit(es, "/v6/run/face_swap", v6_body())
    normal = _submit(es, "/v6/run/face_swap", v6_body())
    sandbox.advance(1)
    assert es.post(f"/v6/status/{job_id}").json()["status"] == "IN_PROGRESS"
    sandbox.advance(1)
    ended = es.post(f"/v6/status/{job_id}").json()
    assert ended["status"] == word
    assert set(ended) == {"id", "status", "delayTime", "executionTime", *extra}
    if "output" in extra:
        assert ended["output"] == {"images": []}
    if code == "CUDA out of memory":
        assert ended["error"] == code
    assert es.post(f"/v6/status/{normal}").json()["status"] == "COMPLETED"


def test_job_faults_apply_to_v1_words_too(sandbox: Sandbox, es: httpx.Client) -> None:
    sandbox.faults.add(Fault(kind="job_failed", code="CANCELLED", times=1))
    job_id = _submit(es, "/v2/run/self-prompt", {"prompt": "p"})
    sandbox.advance(2)
    assert es.post(f"/v2/status/{job_id}").json() == {"id": job_id, "status": "CANCELLED"}


def test_an_unusable_photo_does_not_use_up_a_job_fault(sandbox: Sandbox, es: httpx.Client) -> None:
    sandbox.faults.add(Fault(kind="job_failed", code="CANCELLED", times=1))
    flat = _submit(es, "/v6/run/face_swap", v6_body(base64=face_b64(flat=True)))
    cancelled = _submit(es, "/v6/run/face_swap", v6_body())
    sandbox.advance(2)
    assert es.post(f"/v6/status/{flat}").json()["status"] == "FAILED"
    assert es.post(f"/v6/status/{cancelled}").json()["status"] == "CANCELLED"


def test_never_finish_keeps_the_job_running(sandbox: Sandbox, es: httpx.Client) -> None:
    sandbox.faults.add(Fault(provider="eventstation", kind="never_finish", times=2))
    stuck = _submit(es, "/v6/run/face_swap", v6_body())
    stuck_v1 = _submit(es, "/v1/run/faceswap", {"filter_id": 12, "base64": face_b64()})
    assert es.post(f"/v6/status/{stuck}").json()["status"] == "IN_QUEUE"
    sandbox.advance(24 * 3600)
    running = es.post(f"/v6/status/{stuck}").json()
    assert running == {"id": stuck, "status": "IN_PROGRESS", "delayTime": 1000}
    assert es.post(f"/v2/status/{stuck_v1}").json()["status"] == "RUNNING"


# -- lookups ------------------------------------------------------------------------------------


def test_unknown_jobs_are_404(any_es: httpx.Client) -> None:
    for path in ("/v6/status/job-id-123", "/v2/status/job-id-123"):
        response = any_es.post(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Job not found"}


def test_each_generation_sees_only_its_own_jobs(sandbox: Sandbox, es: httpx.Client) -> None:
    v6 = _submit(es, "/v6/run/face_swap", v6_body())
    v1 = _submit(es, "/v1/run/faceswap", {"filter_id": 12, "base64": face_b64()})
    assert es.post(f"/v2/status/{v6}").status_code == 404
    assert es.post(f"/v6/status/{v1}").status_code == 404
    assert es.post(f"/v6/status/{v6}").status_code == 200


def test_another_keys_jobs_are_unknown(fake_clock: FakeClock) -> None:
    keys = {"eventstation": [ES_KEY, "es-second"]}
    with _sandbox(fake_clock, {"api_keys": keys}) as sandbox, _client(sandbox) as http:
        job_id = _submit(http, "/v6/run/face_swap", v6_body())
        other = http.post(f"/v6/status/{job_id}", headers={"Authorization": "Bearer es-second"})
        assert other.status_code == 404


def test_finished_jobs_are_forgotten_after_30_minutes(sandbox: Sandbox, es: httpx.Client) -> None:
    job_id = _submit(es, "/v6/run/face_swap", v6_body())
    sandbox.advance(2 + 1799)
    assert es.post(f"/v6/status/{job_id}").json()["status"] == "COMPLETED"
    sandbox.advance(1)
    assert es.post(f"/v6/status/{job_id}").status_code == 404


def test_job_ttl_none_keeps_jobs(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, job_ttl_seconds=None) as sandbox, _client(sandbox) as http:
        job_id = _submit(http, "/v6/run/face_swap", v6_body())
        sandbox.advance(7 * 24 * 3600)
        assert http.post(f"/v6/status/{job_id}").json()["status"] == "COMPLETED"


def test_reset_forgets_jobs(sandbox: Sandbox, es: httpx.Client) -> None:
    job_id = _submit(es, "/v6/run/face_swap", v6_body())
    sandbox.reset()
    assert es.post(f"/v6/status/{job_id}").status_code == 404


# -- request faults -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (500, "Internal Server Error"),
        (503, "Service Unavailable"),
        (402, "Insufficient credits"),
        (429, "Rate limit exceeded"),
    ],
)
def test_status_faults_answer_fastapi_details(
    sandbox: Sandbox, any_es: httpx.Client, status: int, detail: str
) -> None:
    sandbox.faults.add(Fault(provider="eventstation", status=status, times=1))
    response = any_es.post("/v6/run/face_swap", json=v6_body())
    assert response.status_code == status
    assert response.json() == {"detail": detail}
    assert any_es.post("/v6/run/face_swap", json=v6_body()).status_code == 200


def test_status_fault_code_is_the_detail_and_401_names_the_scheme(
    sandbox: Sandbox, es: httpx.Client
) -> None:
    sandbox.faults.add(Fault(provider="eventstation", status=502, code="upstream down", times=1))
    sandbox.faults.add(Fault(provider="eventstation", status=401, times=1))
    assert es.get("/v1/filters/").json() == {"detail": "upstream down"}
    unauthorised = es.get("/v1/filters/")
    assert unauthorised.json() == {"detail": "Not authenticated"}
    assert unauthorised.headers["www-authenticate"] == "Bearer"


def test_a_status_fault_costs_no_credit_and_creates_no_job(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, {"credits": 2}) as sandbox, _client(sandbox) as http:
        sandbox.faults.add(Fault(status=500, path="/v6/run/*", times=1))
        assert http.post("/v6/run/face_swap", json=v6_body()).status_code == 500
        assert sandbox.credits_left("eventstation", ES_KEY) == 2


def test_drop_after_processing_charges_the_job(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, {"credits": 3}) as sandbox, _client(sandbox) as http:
        sandbox.faults.add(Fault(kind="drop", after_processing=True, times=1))
        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/v6/run/face_swap", json=v6_body())
        assert sandbox.credits_left("eventstation", ES_KEY) == 1


def test_poll_faults_by_path(sandbox: Sandbox, any_es: httpx.Client) -> None:
    job_id = _submit(any_es, "/v6/run/face_swap", v6_body())
    sandbox.faults.add(Fault(provider="eventstation", kind="html", path="/v6/status/*", times=1))
    sandbox.faults.add(Fault(provider="eventstation", kind="truncated", times=1))
    page = any_es.post(f"/v6/status/{job_id}")
    assert (page.status_code, page.headers["content-type"]) == (502, "text/html")
    truncated = any_es.post(f"/v6/status/{job_id}")
    assert truncated.status_code == 200
    with pytest.raises(ValueError):  # noqa: PT011 - json.JSONDecodeError
        truncated.json()
    assert any_es.post(f"/v6/status/{job_id}").json()["status"] == "IN_QUEUE"


def test_faults_over_the_http_api(sandbox: Sandbox, swapkit_sandbox_server: Any) -> None:
    base = swapkit_sandbox_server.url
    faults = [
        {"provider": "eventstation", "kind": "job_failed", "code": "TIMED_OUT", "times": 1},
        {"provider": "eventstation", "status": 503, "path": "/v1/filters/", "times": 1},
    ]
    with httpx.Client(base_url=f"{base}/eventstation", headers=ES_AUTH) as http:
        added = http.post(f"{base}/_sandbox/faults", json=faults)
        assert added.status_code == 201
        assert added.json()[0]["code"] == "TIMED_OUT"
        assert http.get("/v1/filters/").json() == {"detail": "Service Unavailable"}
        job_id = _submit(http, "/v6/run/face_swap", v6_body())
        sandbox.advance(2)
        assert http.post(f"/v6/status/{job_id}").json()["status"] == "TIMED_OUT"


async def test_an_async_client_polls_to_completion(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url="http://sandbox.test/eventstation", headers=ES_AUTH
    ) as http:
        submitted = await http.post("/v6/run/face_swap", json=v6_body(ratio="square"))
        job_id = submitted.json()["id"]
        sandbox.advance(2)
        done = (await http.post(f"/v6/status/{job_id}")).json()
    assert _image(done["output"]["images"][0]).size == (64, 64)
