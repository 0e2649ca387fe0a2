"""The loopback server: loopback only, clean shutdown, HTTP details, the blocking entry point."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from swapkit.sandbox import Fault, Sandbox, SandboxServer
from swapkit.sandbox.pytest_plugin import LOOPBACK_ALLOWED_HOSTS

from .helpers import AUTH, swap_body


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_non_loopback_hosts_are_refused(sandbox: Sandbox, host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        sandbox.serve(host=host)


def test_url_and_base_url(swapkit_sandbox_server: SandboxServer) -> None:
    server = swapkit_sandbox_server
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.base_url("prospolabs") == f"{server.url}/prospolabs"
    with pytest.raises(KeyError):
        server.base_url("nobody")


def test_result_urls_point_at_the_server(swapkit_sandbox_server: SandboxServer) -> None:
    base = swapkit_sandbox_server.base_url("prospolabs")
    with httpx.Client(base_url=base, headers=AUTH) as http:
        url = http.post("/v1/swap/fast", json=swap_body()).json()["result_url"]
        assert url.startswith(f"{base}/results/")
        assert http.get(url).headers["content-type"] == "image/jpeg"


def test_keep_alive_chunked_and_head(swapkit_sandbox_server: SandboxServer) -> None:
    base = swapkit_sandbox_server.base_url("prospolabs")
    with httpx.Client(base_url=base, headers=AUTH) as http:
        body = httpx.Request("POST", "/", json=swap_body()).content

        def chunks() -> object:
            yield body[:100]
            yield body[100:]

        swapped = http.post("/v1/swap/fast", content=chunks())  # type: ignore[arg-type]
        assert swapped.status_code == 200, swapped.text
        head = http.head(swapped.json()["result_url"])
        assert head.status_code == 200
        assert head.content == b""
        assert int(head.headers["content-length"]) > 0


def test_loopback_image_urls_are_fetched(swapkit_sandbox_server: SandboxServer) -> None:
    base = swapkit_sandbox_server.base_url("prospolabs")
    with httpx.Client(base_url=base, headers=AUTH) as http:
        first = http.post("/v1/swap/fast", json=swap_body(output_format="png")).json()
        result = first["result_url"].replace("127.0.0.1", "localhost")
        assert http.post("/v1/swap/fast", json=swap_body(source_image=result)).status_code == 200
        missing = f"{swapkit_sandbox_server.url}/_sandbox/nothing-here"
        refused = http.post("/v1/swap/fast", json=swap_body(target_image=missing))
        assert refused.status_code == 400
        assert "target_image" in refused.json()["detail"]


def test_close_releases_the_port_and_is_idempotent(sandbox: Sandbox) -> None:
    server = sandbox.serve()
    with httpx.Client() as http:
        assert http.get(f"{server.url}/_sandbox").status_code == 200  # leaves a keep-alive
        started = time.perf_counter()
        server.close()
        server.close()
        assert time.perf_counter() - started < 2
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.port)) != 0


@pytest.mark.block_network(allowed_hosts=list(LOOPBACK_ALLOWED_HOSTS))
def test_close_does_not_wait_for_a_hanging_request() -> None:
    """A test that builds its own server (no sandbox fixture) allows loopback itself."""
    with Sandbox(hang_seconds=60) as sandbox:
        server = sandbox.serve()
        sandbox.faults.add(Fault(kind="timeout"))
        errors: list[Exception] = []

        def call() -> None:
            try:
                httpx.get(f"{server.base_url('prospolabs')}/v1/jobs/x", timeout=10)
            except httpx.HTTPError as exc:
                errors.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        deadline = time.monotonic() + 2
        while not sandbox.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.perf_counter()
        server.close()
        caller.join(timeout=5)
        assert time.perf_counter() - started < 2
        assert len(errors) == 1


def test_serve_forever_runs_until_interrupted(swapkit_sandbox: Sandbox) -> None:
    code = (
        "from swapkit.sandbox import serve_forever\n"
        "serve_forever(port=0, ready=lambda url: print(url, flush=True))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        response = httpx.get(f"{url}/prospolabs/v1/jobs/x", headers=AUTH)
        assert response.json()["detail"] == "Job not found"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert stdout == ""
    assert stderr == ""
