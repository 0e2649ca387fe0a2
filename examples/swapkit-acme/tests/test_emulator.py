"""The Acme emulator against the vendor's contract (the package README), over plain HTTP.

These tests speak to the emulator the way the vendor's documentation does, without the
adapter, so that a misreading shared by the two would still be caught here or in the contract
suite.  The sandbox is in-process (`Sandbox.transport()`), on a fake clock.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from swapkit.sandbox import Fault, Sandbox, sample_face, sample_scene
from swapkit.testing import FakeClock

from swapkit_acme.emulator import AcmeVendor

KEY = AcmeVendor.default_api_keys[0]
JOB_SECONDS = 4.0


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock, job_seconds=JOB_SECONDS, vendors=(AcmeVendor,), credits=3) as box:
        yield box


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(
        transport=sandbox.transport(), base_url="http://sandbox.test/acme", headers=headers
    ) as client:
        yield client


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def swap_body(**fields: Any) -> dict[str, Any]:
    return {"source_image": b64(sample_face()), "target_image": b64(sample_scene()), **fields}


def png(color: str = "white", size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def credits_left(sandbox: Sandbox) -> int | None:
    return sandbox.credits_left("acme", KEY)


def fetch(sandbox: Sandbox, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """GET `url` from the sandbox with no credentials but `headers`."""
    with httpx.Client(transport=sandbox.transport()) as client:
        return client.get(url, headers=headers)


def test_a_swap_is_queued_then_running_then_succeeded(
    http: httpx.Client, sandbox: Sandbox, clock: FakeClock
) -> None:
    submitted = http.post("/v1/swaps", json=swap_body(output_format="jpeg"))
    assert submitted.status_code == 202
    job = submitted.json()
    assert job["status"] == "queued"
    assert job["id"].startswith("swp_")
    assert submitted.headers["location"] == f"/acme/v1/swaps/{job['id']}"
    assert credits_left(sandbox) == 2  # charged when accepted

    assert http.get(f"/v1/swaps/{job['id']}").json() == {"id": job["id"], "status": "queued"}
    clock.advance(JOB_SECONDS / 2)
    assert http.get(f"/v1/swaps/{job['id']}").json()["status"] == "running"
    clock.advance(JOB_SECONDS / 2)
    done = http.get(f"/v1/swaps/{job['id']}").json()
    assert done["status"] == "succeeded"

    result = fetch(sandbox, done["result_url"])
    assert result.status_code == 200
    assert result.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(result.content)) as image:
        assert image.size == (512, 384)  # the target's size
    clock.advance(60 * 60)
    assert fetch(sandbox, done["result_url"]).status_code == 403  # expired


def test_a_data_uri_is_base64_too(http: httpx.Client) -> None:
    body = swap_body(source_image="data:image/png;base64," + b64(sample_face()))
    assert http.post("/v1/swaps", json=body).status_code == 202


def test_a_failed_job_is_refunded_when_it_fails(
    http: httpx.Client, sandbox: Sandbox, clock: FakeClock
) -> None:
    sandbox.faults.add(Fault(provider="acme", kind="job_failed", times=1))
    job_id = http.post("/v1/swaps", json=swap_body()).json()["id"]
    assert credits_left(sandbox) == 2
    clock.advance(JOB_SECONDS)
    failed = http.get(f"/v1/swaps/{job_id}").json()
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "processing_failed"
    assert "result_url" not in failed
    assert credits_left(sandbox) == 3


def test_a_job_that_never_finishes_stays_running(
    http: httpx.Client, sandbox: Sandbox, clock: FakeClock
) -> None:
    sandbox.faults.add(Fault(provider="acme", kind="never_finish", times=1))
    job_id = http.post("/v1/swaps", json=swap_body()).json()["id"]
    clock.advance(24 * 60 * 60)
    assert http.get(f"/v1/swaps/{job_id}").json()["status"] == "running"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"source_image": "abc"}, 400, "bad_request"),
        (swap_body(output_format="gif"), 400, "bad_request"),
        (swap_body(output_format=["png"]), 400, "bad_request"),
        (swap_body(source_image="https://example.test/face.png"), 400, "bad_request"),
        (swap_body(target_image=b64(b"GIF89a not really")), 415, "bad_image"),
        (swap_body(source_image="!!not base64!!"), 415, "bad_image"),
        (swap_body(source_image=b64(b"\0" * (8 * 1024 * 1024 + 1))), 413, "image_too_large"),
        (swap_body(target_image=b64(png())), 422, "no_face"),
    ],
)
def test_a_refused_swap_names_its_code_and_costs_nothing(
    http: httpx.Client, sandbox: Sandbox, body: Any, status: int, code: str
) -> None:
    answer = http.post("/v1/swaps", json=body)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]
    assert credits_left(sandbox) == 3


def test_a_body_that_is_not_json_is_a_bad_request(http: httpx.Client) -> None:
    answer = http.post("/v1/swaps", content=b"{not json")
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "bad_request")


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", f"Basic {KEY}", KEY])
def test_a_missing_or_wrong_key_is_401(http: httpx.Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    if authorization is None:
        del http.headers["Authorization"]
    answer = http.post("/v1/swaps", json=swap_body(), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["error"]["code"] == "unauthorized"


def test_no_credits_is_402(http: httpx.Client) -> None:
    for _ in range(3):
        assert http.post("/v1/swaps", json=swap_body()).status_code == 202
    answer = http.post("/v1/swaps", json=swap_body())
    assert (answer.status_code, answer.json()["error"]["code"]) == (402, "insufficient_credits")


def test_a_rate_limit_is_429_with_retry_after(clock: FakeClock) -> None:
    with Sandbox(clock=clock, vendors=(AcmeVendor,), rate_limit=(1, 30.0)) as sandbox:
        headers = {"Authorization": f"Bearer {KEY}"}
        url = "http://sandbox.test/acme/v1/swaps/swp_unknown"
        assert fetch(sandbox, url, headers).status_code == 404
        clock.advance(10)
        limited = fetch(sandbox, url, headers)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "20"
        assert limited.json()["error"]["code"] == "rate_limited"


def test_another_keys_job_is_not_found(clock: FakeClock) -> None:
    with Sandbox(clock=clock, vendors=(AcmeVendor,), api_keys={"acme": [KEY, "k2"]}) as sandbox:
        url = "http://sandbox.test/acme/v1/swaps"
        with httpx.Client(transport=sandbox.transport()) as client:
            submitted = client.post(
                url, json=swap_body(), headers={"Authorization": f"Bearer {KEY}"}
            )
        answer = fetch(sandbox, f"{url}/{submitted.json()['id']}", {"Authorization": "Bearer k2"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")


def test_routes_are_checked_before_the_key(http: httpx.Client) -> None:
    del http.headers["Authorization"]
    missing = http.get("/v2/swaps")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "no_such_route")
    wrong_method = http.get("/v1/swaps")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault(provider="acme", status=503), 503, "unavailable"),
        (Fault(provider="acme", status=500), 500, "internal_error"),
        (Fault(provider="acme", status=401), 401, "unauthorized"),
        (Fault(provider="acme", status=418), 418, "bad_request"),
        (Fault(provider="acme", code="insufficient_credits"), 402, "insufficient_credits"),
        (Fault(provider="acme", status=400, code="no_face"), 400, "no_face"),
    ],
)
def test_a_status_fault_answers_in_acmes_envelope(
    http: httpx.Client, sandbox: Sandbox, fault: Fault, status: int, code: str
) -> None:
    sandbox.faults.add(fault)
    answer = http.post("/v1/swaps", json=swap_body())
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert credits_left(sandbox) == 3
