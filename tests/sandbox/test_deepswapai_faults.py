"""Every fault kind against the DeepSwapAI emulator, from Python and over the HTTP fault API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from swapkit.sandbox import FakeClock, Fault, Sandbox, SandboxServer

from .conftest import ClientFactory
from .helpers import DS_AUTH, DS_KEY, decode, swap_body

SWAP = "/v1/image-swap"


@pytest.fixture
def ds(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=sandbox.transport(), base_url="http://sandbox.test/deepswapai", headers=DS_AUTH
    ) as http:
        yield http


def _sandbox(fake_clock: FakeClock, **options: Any) -> Sandbox:
    return Sandbox(clock=fake_clock, credits=5, vendor_options={"deepswapai": options})


def _client(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(
        transport=sandbox.transport(), base_url="http://s/deepswapai", headers=DS_AUTH
    )


def _code(response: httpx.Response) -> Any:
    """The error code, wherever the envelope puts it."""
    body = response.json()
    assert body["success"] is False
    if "code" in body:
        return body["code"]
    return body["error"]["code"] if isinstance(body["error"], dict) else body["error"]


# -- status faults ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (500, "INTERNAL_ERROR"),
        (503, "SERVICE_UNAVAILABLE"),
        (504, "PROCESSING_TIMEOUT"),
        (502, "INTERNAL_ERROR"),
        (400, "INVALID_REQUEST"),
        (413, "IMAGE_TOO_LARGE"),
        (415, "INVALID_FORMAT"),
        (422, "NO_FACE_DETECTED"),
        (402, "INSUFFICIENT_CREDITS"),
        (429, "RATE_LIMIT_EXCEEDED"),
        (418, "INVALID_REQUEST"),
    ],
)
def test_status_faults_answer_in_the_vendor_envelope(
    sandbox: Sandbox, ds: httpx.Client, status: int, code: str
) -> None:
    sandbox.faults.add(Fault(provider="deepswapai", status=status, times=1))
    response = ds.post(SWAP, json=swap_body())
    assert response.status_code == status
    assert set(response.json()) == {"success", "error"}
    assert _code(response) == code
    assert ds.post(SWAP, json=swap_body()).status_code == 200


def test_an_injected_403_follows_credits_status(fake_clock: FakeClock) -> None:
    for credits_status, code in [(402, "FORBIDDEN"), (403, "INSUFFICIENT_CREDITS")]:
        with (
            _sandbox(fake_clock, credits_status=credits_status) as sandbox,
            _client(sandbox) as http,
        ):
            sandbox.faults.add(Fault(status=403, times=1))
            response = http.post(SWAP, json=swap_body())
            assert (response.status_code, _code(response)) == (403, code)


def test_an_injected_401_names_the_scheme(sandbox: Sandbox, ds: httpx.Client) -> None:
    sandbox.faults.add(Fault(status=401, times=1))
    response = ds.get("/v1/status/job_x")
    assert (response.status_code, _code(response)) == (401, "INVALID_API_KEY")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("statuses", "code", "expected"),
    [
        ("400", "NO_FACE_DETECTED", 400),
        ("specific", "NO_FACE_DETECTED", 422),
        ("specific", "IMAGE_TOO_LARGE", 413),
        ("specific", "INVALID_FORMAT", 415),
        ("400", "RATE_LIMIT_EXCEEDED", 429),
        ("400", "SOMETHING_NEW", 500),
    ],
)
def test_a_code_fault_answers_with_the_status_of_its_code(
    fake_clock: FakeClock, statuses: str, code: str, expected: int
) -> None:
    with _sandbox(fake_clock, error_statuses=statuses) as sandbox, _client(sandbox) as http:
        sandbox.faults.add(Fault(provider="deepswapai", code=code, times=1))
        response = http.post(SWAP, json=swap_body())
        assert (response.status_code, _code(response)) == (expected, code)
        assert sandbox.credits_left("deepswapai", DS_KEY) == 5


def test_code_status_and_envelope_together(sandbox: Sandbox, ds: httpx.Client) -> None:
    sandbox.faults.add(Fault(code="NO_FACE_DETECTED", status=422, envelope="flat", times=1))
    response = ds.post(SWAP, json=swap_body())
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"success", "error", "message"}
    assert body["error"] == "NO_FACE_DETECTED"
    sandbox.faults.add(Fault(status=503, envelope="top_level", times=1))
    response = ds.post(SWAP, json=swap_body())
    assert response.json() == {
        "success": False,
        "code": "SERVICE_UNAVAILABLE",
        "message": response.json()["message"],
    }


def test_another_vendors_envelope_gives_the_configured_one(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, error_envelope="top_level") as sandbox, _client(sandbox) as http:
        sandbox.faults.add(Fault(status=500, envelope="bare", times=1))
        response = http.post(SWAP, json=swap_body())
        assert set(response.json()) == {"success", "code", "message"}
        # and AceDataCloud answers a DeepSwapAI envelope name in its own default shape
        sandbox.faults.add(Fault(status=500, envelope="flat", times=1))
        ace = http.post("http://s/acedata/face/swap", json={})
        assert set(ace.json()) == {"error", "trace_id"}


def test_errors_in_200_apply_to_code_faults_but_not_to_statuses(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock, errors_in_200=True) as sandbox, _client(sandbox) as http:
        sandbox.faults.add(Fault(code="INVALID_FORMAT", times=1))
        in_200 = http.post(SWAP, json=swap_body())
        assert (in_200.status_code, _code(in_200)) == (200, "INVALID_FORMAT")
        sandbox.faults.add(Fault(status=503, times=1))
        assert http.post(SWAP, json=swap_body()).status_code == 503


# -- job faults ---------------------------------------------------------------------------------


def test_job_failed_answers_processing_failed_and_costs_nothing(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock) as sandbox, _client(sandbox) as http:
        sandbox.faults.add(Fault(provider="deepswapai", kind="job_failed", times=1))
        failed = http.post(SWAP, json=swap_body())
        assert (failed.status_code, _code(failed)) == (500, "PROCESSING_FAILED")
        sandbox.faults.add(Fault(kind="job_failed", code="NO_FACE_DETECTED", times=1))
        coded = http.post(SWAP, json=swap_body())
        assert (coded.status_code, _code(coded)) == (400, "NO_FACE_DETECTED")
        assert sandbox.credits_left("deepswapai", DS_KEY) == 5
        assert http.post(SWAP, json=swap_body()).status_code == 200
        assert sandbox.credits_left("deepswapai", DS_KEY) == 4


def test_never_finish_is_a_processing_timeout(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock) as sandbox, _client(sandbox) as http:
        sandbox.faults.add(Fault(provider="deepswapai", kind="never_finish", times=1))
        response = http.post(SWAP, json=swap_body())
        assert (response.status_code, _code(response)) == (504, "PROCESSING_TIMEOUT")
        assert sandbox.credits_left("deepswapai", DS_KEY) == 5


def test_job_faults_wait_for_a_valid_request(sandbox: Sandbox, ds: httpx.Client) -> None:
    sandbox.faults.add(Fault(provider="deepswapai", kind="job_failed", times=1))
    assert _code(ds.post(SWAP, json={})) == "INVALID_REQUEST"
    assert _code(ds.post(SWAP, json=swap_body())) == "PROCESSING_FAILED"


# -- transport-level faults ---------------------------------------------------------------------


def test_transport_level_faults(sandbox: Sandbox, make_client: ClientFactory) -> None:
    http = make_client(provider="deepswapai", timeout=10)
    sandbox.faults.add(Fault(provider="deepswapai", kind="html", times=1))
    page = http.post(SWAP, json=swap_body())
    assert (page.status_code, page.headers["content-type"]) == (502, "text/html")
    sandbox.faults.add(Fault(provider="deepswapai", kind="truncated", times=1))
    truncated = http.post(SWAP, json=swap_body())
    assert truncated.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        truncated.json()
    sandbox.faults.add(Fault(provider="deepswapai", kind="drop", times=1))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.post(SWAP, json=swap_body())
    sandbox.faults.add(Fault(provider="deepswapai", kind="timeout", times=1))
    with pytest.raises(httpx.ReadTimeout):
        http.get("/v1/status/job_x", timeout=0.2)
    sandbox.faults.add(Fault(provider="deepswapai", kind="latency", seconds=0.05, times=1))
    started = time.perf_counter()
    assert http.post(SWAP, json=swap_body()).status_code == 200
    assert time.perf_counter() - started >= 0.05


def test_drop_after_processing_charges_the_swap(fake_clock: FakeClock) -> None:
    with _sandbox(fake_clock) as sandbox, _client(sandbox) as http:
        sandbox.faults.add(Fault(provider="deepswapai", kind="drop", after_processing=True))
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(SWAP, json=swap_body())
        assert sandbox.credits_left("deepswapai", DS_KEY) == 4


def test_path_glob_limits_faults_to_output_downloads(sandbox: Sandbox, ds: httpx.Client) -> None:
    sandbox.faults.add(Fault(provider="deepswapai", status=503, path="/cdn/results/*"))
    url = ds.post(SWAP, json=swap_body()).json()["output_url"]
    assert ds.get(url).status_code == 503


def test_faults_over_the_http_api(sandbox: Sandbox, swapkit_sandbox_server: SandboxServer) -> None:
    with httpx.Client(base_url=swapkit_sandbox_server.url) as control:
        fault = {
            "provider": "deepswapai",
            "code": "IMAGE_TOO_LARGE",
            "envelope": "top_level",
            "times": 1,
        }
        added = control.post("/_sandbox/faults", json=fault)
        assert added.status_code == 201
        assert added.json()["envelope"] == "top_level"
        response = control.post(f"/deepswapai{SWAP}", json=swap_body(), headers=DS_AUTH)
        assert response.status_code == 400
        assert response.json() == {
            "success": False,
            "code": "IMAGE_TOO_LARGE",
            "message": response.json()["message"],
        }
        job_fault = {"provider": "deepswapai", "kind": "job_failed", "code": "GPU_LOST"}
        assert control.post("/_sandbox/faults", json=job_fault).status_code == 201
        failed = control.post(f"/deepswapai{SWAP}", json=swap_body(), headers=DS_AUTH)
        assert (failed.status_code, _code(failed)) == (500, "GPU_LOST")
        assert control.post("/_sandbox/faults", json={"envelope": "nestled"}).status_code == 422
        assert control.delete("/_sandbox/faults").json() == {"cleared": 1}


async def test_async_client(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url="http://sandbox.test/deepswapai", headers=DS_AUTH
    ) as http:
        sandbox.faults.add(Fault(provider="deepswapai", status=503, times=1))
        assert (await http.post(SWAP, json=swap_body())).status_code == 503
        body = (await http.post(SWAP, json=swap_body(output_format="jpg"))).json()
        status = (await http.get(f"/v1/status/{body['job_id']}")).json()
        assert status["status"] == "completed"
        image = await http.get(status["output_url"])
        assert image.headers["content-type"] == "image/jpeg"
        assert decode(image.content).size == (40, 30)
