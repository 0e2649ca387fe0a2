"""The `/_sandbox/*` control routes, over the loopback server and the transport."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from swapkit.sandbox import Fault, Sandbox, SandboxServer

from .helpers import AUTH, swap_body


@pytest.fixture
def control(mode: str, sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """A client for the sandbox root (no key: control routes need none)."""
    if mode == "server":
        server: SandboxServer = request.getfixturevalue("swapkit_sandbox_server")
        http = httpx.Client(base_url=server.url)
    else:
        http = httpx.Client(transport=sandbox.transport(), base_url="http://sandbox.test")
    with http:
        yield http


def test_faults_over_http(sandbox: Sandbox, control: httpx.Client) -> None:
    added = control.post(
        "/_sandbox/faults", json={"provider": "prospolabs", "status": 503, "times": 1}
    )
    assert added.status_code == 201
    assert added.json()["status"] == 503
    assert [f["status"] for f in control.get("/_sandbox/faults").json()] == [503]
    swap = control.post("/prospolabs/v1/swap/fast", json=swap_body(), headers=AUTH)
    assert swap.status_code == 503
    assert control.get("/_sandbox/faults").json() == []


def test_several_faults_at_once_and_clearing(sandbox: Sandbox, control: httpx.Client) -> None:
    faults = [{"kind": "latency", "seconds": 1}, {"kind": "drop", "path": "/v1/jobs/*"}]
    assert len(control.post("/_sandbox/faults", json=faults).json()) == 2
    assert len(sandbox.faults) == 2
    assert control.delete("/_sandbox/faults").json() == {"cleared": 2}
    assert len(sandbox.faults) == 0


def test_invalid_fault_is_422(control: httpx.Client) -> None:
    response = control.post("/_sandbox/faults", json={"kind": "latency"})
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert control.post("/_sandbox/faults", content=b"nope").status_code == 422
    assert control.post("/_sandbox/faults", json={"provider": "nobody"}).status_code == 422


def test_requests_log_and_reset(sandbox: Sandbox, control: httpx.Client) -> None:
    control.post("/prospolabs/v1/swap/fast", json=swap_body(prompt="hi"), headers=AUTH)
    [logged] = control.get("/_sandbox/requests").json()
    assert logged["method"] == "POST"
    assert logged["path"] == "/prospolabs/v1/swap/fast"
    assert logged["json"]["prompt"] == "hi"
    assert logged["headers"]["authorization"] == "Bearer prsp-sandbox"
    sandbox.faults.add(Fault(status=500, path="/nowhere"))
    assert control.post("/_sandbox/reset").json() == {"reset": True}
    assert control.get("/_sandbox/requests").json() == []
    assert len(sandbox.faults) == 0


def test_webhook_log_over_http(sandbox: Sandbox, control: httpx.Client) -> None:
    body = swap_body(webhook_url="https://example.com/hook")
    control.post("/prospolabs/v1/swap/fast", json=body, headers=AUTH)
    sandbox.wait_for_webhooks(1)
    [delivery] = control.get("/_sandbox/webhooks").json()
    assert delivery["url"] == "https://example.com/hook"
    assert delivery["error"].startswith("refused")


def test_index_and_unknown_routes(control: httpx.Client) -> None:
    vendors = ["acedata", "deepswapai", "eventstation", "prospolabs"]
    assert control.get("/_sandbox").json()["vendors"] == vendors
    assert control.get("/").json()["vendors"] == vendors
    assert control.get("/_sandbox/nope").status_code == 404
    assert control.get("/nobody/v1/swap/fast").status_code == 404


def test_control_requests_are_not_recorded(sandbox: Sandbox, control: httpx.Client) -> None:
    control.get("/_sandbox/faults")
    assert sandbox.requests == []
