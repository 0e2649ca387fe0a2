"""Garbage in never breaks the emulator: every answer is a documented status with a JSON body."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swapkit.sandbox import FakeClock, Sandbox
from swapkit.sandbox.pytest_plugin import LOOPBACK_ALLOWED_HOSTS

from .helpers import AUTH, b64, image_bytes

# The bodies point at loopback URLs (http://127.0.0.1:1/...) that must fail as refused
# connections: pytest-recording's guard raises RuntimeError from connect(), which
# socket.create_connection does not handle, leaking the socket (a ResourceWarning).
pytestmark = pytest.mark.block_network(allowed_hosts=list(LOOPBACK_ALLOWED_HOSTS))

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
IMAGE_STRINGS = st.sampled_from(
    [
        b64(image_bytes()),
        b64(image_bytes(flat=True)),
        "data:image/png;base64," + b64(image_bytes()),
        "data:text/plain,hello",
        "http://127.0.0.1:1/x.png",
        "ftp://example.com/x.png",
        "",
        "====",
    ]
)
BODIES = st.fixed_dictionaries(
    {},
    optional={
        "source_image": IMAGE_STRINGS | JSON_VALUES,
        "target_image": IMAGE_STRINGS | JSON_VALUES,
        "prompt": JSON_VALUES,
        "output_format": st.sampled_from(["jpeg", "png", "webp", "gif"]) | JSON_VALUES,
        "output_quality": st.integers(-5, 120) | JSON_VALUES,
    },
)


def _post(content: bytes) -> httpx.Response:
    with (
        Sandbox(clock=FakeClock()) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/prospolabs", headers=AUTH
        ) as http,
    ):
        return http.post("/v1/swap/fast/async", content=content)


@settings(max_examples=60, deadline=None)
@given(BODIES)
def test_any_json_body_gets_a_documented_answer(body: dict[str, Any]) -> None:
    response = _post(json.dumps(body).encode())
    assert response.status_code in (202, 400, 422)
    assert "detail" in response.json() or response.status_code == 202


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_body_gets_a_documented_answer(content: bytes) -> None:
    response = _post(content)
    assert response.status_code in (400, 422)
    assert "detail" in response.json()


# -- AceDataCloud ---------------------------------------------------------------------------------

ACE_CODES = {"bad_request", "api_error", "timeout"}
ACE_URLS = st.sampled_from(
    [
        "<source>",
        "<flat>",
        "<text>",
        "http://sandbox.test/acedata/cdn/uploads/missing.png",
        "http://127.0.0.1:1/x.png",
        "https://example.com/x.png",
        "data:image/png;base64," + b64(image_bytes()),
        b64(image_bytes()),
        "ftp://example.com/x.png",
        "http://[::1",
        "http://127.0.0.1:abc/x.png",
        "http://localhost/\x00",
        "",
    ]
)
ACE_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "source_image_url": ACE_URLS | JSON_VALUES,
        "target_image_url": ACE_URLS | JSON_VALUES,
        "callback_url": st.sampled_from(["http://127.0.0.1:1/hook?t=1", "nope"]) | JSON_VALUES,
        "async": st.booleans() | JSON_VALUES,
        "timeout": st.floats(allow_nan=True, allow_infinity=True) | JSON_VALUES,
    },
)


def _ace_exchange(body: Any, path: str = "/face/swap") -> httpx.Response:
    with (
        Sandbox(clock=FakeClock(), job_seconds=0) as sandbox,
        httpx.Client(
            transport=sandbox.transport(),
            base_url="http://sandbox.test/acedata",
            headers={"Authorization": "Bearer acedata-sandbox"},
        ) as http,
    ):
        urls = {
            name: http.post("/files/upload", files={"file": ("f", data)}).json()["url"]
            for name, data in [
                ("<source>", image_bytes()),
                ("<flat>", image_bytes(flat=True)),
                ("<text>", b"not an image"),
            ]
        }
        if isinstance(body, dict):
            body = {
                key: urls.get(value, value) if isinstance(value, str) else value
                for key, value in body.items()
            }
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return http.post(path, content=content)


def _assert_ace_answer(response: httpx.Response, statuses: set[int]) -> dict[str, Any]:
    assert response.status_code in statuses
    payload: dict[str, Any] = response.json()
    if response.status_code >= 400:
        assert set(payload) == {"error", "trace_id"}
        assert isinstance(payload["error"]["message"], str)
    return payload


@settings(max_examples=60, deadline=None)
@given(ACE_BODIES)
def test_acedata_any_swap_body_gets_a_documented_answer(body: dict[str, Any]) -> None:
    payload = _assert_ace_answer(_ace_exchange(body), {200, 400, 500})
    if "error" in payload:
        assert payload["error"]["code"] in ACE_CODES
    else:
        assert isinstance(payload["task_id"], str)


@settings(max_examples=30, deadline=None)
@given(JSON_VALUES | st.binary(max_size=64))
def test_acedata_any_task_query_or_upload_gets_a_documented_answer(body: Any) -> None:
    _assert_ace_answer(_ace_exchange(body, "/face/tasks"), {200, 400, 404})
    payload = _assert_ace_answer(_ace_exchange(body, "/files/upload"), {400})
    assert payload["error"]["code"] == "bad_request"
