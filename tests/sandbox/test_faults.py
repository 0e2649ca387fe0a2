"""Every fault kind, through both the loopback server and the in-process transport."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from swapkit.sandbox import FakeClock, Fault, Sandbox

from .conftest import ClientFactory
from .helpers import AUTH, swap_body


def test_status_fault_uses_the_vendor_error_body_then_clears(
    sandbox: Sandbox, any_client: httpx.Client
) -> None:
    sandbox.faults.add(Fault(provider="prospolabs", status=503, times=1))
    failed = any_client.post("/v1/swap/realistic", json=swap_body())
    assert failed.status_code == 503
    assert isinstance(failed.json()["detail"], str)
    assert any_client.post("/v1/swap/realistic", json=swap_body()).status_code == 200
    assert len(sandbox.faults) == 0


@pytest.mark.parametrize(("status", "word"), [(500, "internal"), (504, "gpu")])
def test_documented_5xx_bodies(
    sandbox: Sandbox, any_client: httpx.Client, status: int, word: str
) -> None:
    sandbox.faults.add(Fault(provider="prospolabs", status=status, times=1))
    response = any_client.post("/v1/swap/realistic", json=swap_body())
    assert response.status_code == status
    assert word in response.json()["detail"].lower()


def test_injected_429_carries_rate_limit_headers(
    sandbox: Sandbox, any_client: httpx.Client
) -> None:
    sandbox.faults.add(Fault(provider="prospolabs", status=429, times=1))
    response = any_client.get("/v1/jobs/x")
    assert response.status_code == 429
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["x-ratelimit-reset"]) > 0


def test_latency_fault_delays_the_response(sandbox: Sandbox, any_client: httpx.Client) -> None:
    sandbox.faults.add(Fault(provider="prospolabs", kind="latency", seconds=0.15, times=1))
    started = time.perf_counter()
    response = any_client.post("/v1/swap/realistic", json=swap_body())
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_drop_fault_closes_without_a_response(sandbox: Sandbox, any_client: httpx.Client) -> None:
    sandbox.faults.add(Fault(provider="prospolabs", kind="drop", times=1))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        any_client.post("/v1/swap/realistic", json=swap_body())
    assert any_client.post("/v1/swap/realistic", json=swap_body()).status_code == 200


def test_timeout_fault_outlasts_the_client_timeout(
    sandbox: Sandbox, make_client: ClientFactory
) -> None:
    http = make_client(timeout=10)
    sandbox.faults.add(Fault(provider="prospolabs", kind="timeout", times=1))
    with pytest.raises(httpx.ReadTimeout):
        http.post("/v1/swap/realistic", json=swap_body(), timeout=0.2)
    assert http.post("/v1/swap/realistic", json=swap_body()).status_code == 200


def test_html_fault_returns_an_error_page(sandbox: Sandbox, any_client: httpx.Client) -> None:
    sandbox.faults.add(Fault(provider="prospolabs", kind="html", status=502, times=1))
    response = any_client.post("/v1/swap/realistic", json=swap_body())
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html"
    assert response.text.startswith("<html>")


def test_truncated_fault_returns_broken_json(sandbox: Sandbox, any_client: httpx.Client) -> None:
    sandbox.faults.add(Fault(provider="prospolabs", kind="truncated", times=1))
    response = any_client.post("/v1/swap/realistic", json=swap_body())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_never_finish_fault_keeps_the_job_processing(
    sandbox: Sandbox, any_client: httpx.Client
) -> None:
    sandbox.faults.add(Fault(provider="prospolabs", kind="never_finish", times=1))
    assert any_client.post("/v1/swap/fast", json=swap_body()).status_code == 200  # sync: unused
    stuck = any_client.post("/v1/swap/fast/async", json=swap_body()).json()["request_id"]
    normal = any_client.post("/v1/swap/fast/async", json=swap_body()).json()["request_id"]
    sandbox.advance(3600)
    assert any_client.get(f"/v1/jobs/{stuck}").json()["status"] == "processing"
    assert any_client.get(f"/v1/jobs/{normal}").json()["status"] == "completed"


def test_job_failed_fault_fails_the_job_with_an_error(
    sandbox: Sandbox, any_client: httpx.Client
) -> None:
    sandbox.faults.add(Fault(provider="prospolabs", kind="job_failed", times=2))
    job_id = any_client.post("/v1/swap/fast/async", json=swap_body()).json()["request_id"]
    sandbox.advance(2)
    polled = any_client.get(f"/v1/jobs/{job_id}").json()
    assert polled["status"] == "failed"
    assert polled["result_url"] is None
    assert isinstance(polled["error"], str)
    synced = any_client.post("/v1/swap/fast", json=swap_body())
    assert synced.status_code == 200
    assert synced.json()["status"] == "failed"


def test_fraction_faults_are_seeded(fake_clock: FakeClock) -> None:
    def outcomes(seed: int) -> list[int]:
        with (
            Sandbox(clock=fake_clock) as sandbox,
            httpx.Client(
                transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
            ) as http,
        ):
            sandbox.faults.add(Fault(provider="prospolabs", status=500, fraction=0.3, seed=seed))
            return [http.get("/v1/jobs/x").status_code for _ in range(60)]

    first = outcomes(7)
    assert first == outcomes(7)
    assert first != outcomes(8)
    assert 5 <= first.count(500) <= 30
    assert set(first) == {404, 500}


def test_path_glob_limits_a_fault_to_polls(sandbox: Sandbox, any_client: httpx.Client) -> None:
    sandbox.faults.add(Fault(provider="prospolabs", status=500, path="/v1/jobs/*"))
    submitted = any_client.post("/v1/swap/fast/async", json=swap_body())
    assert submitted.status_code == 202
    assert any_client.get(f"/v1/jobs/{submitted.json()['request_id']}").status_code == 500


def test_path_regex_and_method(sandbox: Sandbox, any_client: httpx.Client) -> None:
    sandbox.faults.add(Fault(status=500, path=r"re:/prospolabs/results/.+", method="GET"))
    payload = any_client.post("/v1/swap/fast", json=swap_body()).json()
    assert any_client.get(payload["result_url"]).status_code == 500


def test_faults_for_an_unknown_provider_are_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="prospolab"):
        sandbox.faults.add(Fault(provider="prospolab", status=500))
    assert len(sandbox.faults) == 0


def test_drop_after_processing_still_creates_and_charges_the_job(fake_clock: FakeClock) -> None:
    with (
        Sandbox(clock=fake_clock, credits=5) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        ) as http,
    ):
        sandbox.faults.add(Fault(kind="drop", after_processing=True, times=1))
        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/v1/swap/fast/async", json=swap_body())
        assert sandbox.credits_left("prospolabs", "prsp-sandbox") == 4


def test_injected_5xx_costs_no_credit(fake_clock: FakeClock) -> None:
    with (
        Sandbox(clock=fake_clock, credits=1) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        ) as http,
    ):
        sandbox.faults.add(Fault(status=500, times=1))
        assert http.post("/v1/swap/fast", json=swap_body()).status_code == 500
        assert sandbox.credits_left("prospolabs", "prsp-sandbox") == 1


def test_failed_jobs_are_refunded(fake_clock: FakeClock) -> None:
    with (
        Sandbox(clock=fake_clock, credits=1) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        ) as http,
    ):
        sandbox.faults.add(Fault(kind="job_failed", times=1))
        http.post("/v1/swap/fast/async", json=swap_body())
        assert sandbox.credits_left("prospolabs", "prsp-sandbox") == 0
        sandbox.advance(2)
        assert sandbox.credits_left("prospolabs", "prsp-sandbox") == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "latency"},
        {"kind": "explode"},
        {"status": 42},
        {"fraction": 1.5},
        {"times": 0},
        {"path": "re:("},
        {"kind": "status", "after_processing": True},
        {"unknown": 1},
    ],
)
def test_invalid_faults_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError is a ValueError
        Fault.model_validate(bad)


# -- async clients ------------------------------------------------------------------------------


async def test_async_client_sees_faults(
    sandbox: Sandbox, mode: str, request: pytest.FixtureRequest
) -> None:
    if mode == "server":
        server = request.getfixturevalue("swapkit_sandbox_server")
        http = httpx.AsyncClient(base_url=server.base_url("prospolabs"), headers=AUTH, timeout=10)
    else:
        http = httpx.AsyncClient(
            transport=sandbox.transport(),
            base_url="http://sandbox.test/prospolabs",
            headers=AUTH,
            timeout=10,
        )
    async with http:
        sandbox.faults.add(Fault(kind="latency", seconds=0.05, times=1))
        sandbox.faults.add(Fault(kind="drop", times=1))
        sandbox.faults.add(Fault(kind="timeout", times=1))
        assert (await http.post("/v1/swap/fast", json=swap_body())).status_code == 200
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await http.post("/v1/swap/fast", json=swap_body())
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v1/swap/fast", json=swap_body(), timeout=0.3)
        job = (await http.post("/v1/swap/fast/async", json=swap_body())).json()
        sandbox.advance(2)
        done = (await http.get(f"/v1/jobs/{job['request_id']}")).json()
        assert done["status"] == "completed"
        image = await http.get(done["result_url"])
        assert image.headers["content-type"] == "image/jpeg"
