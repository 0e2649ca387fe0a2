"""Garbage in never breaks the EventStation emulator: every answer is a documented status with a
FastAPI body, and every accepted job ends in one of the vendor's terminal words."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swapkit.sandbox import FakeClock, Sandbox
from swapkit.sandbox.pytest_plugin import LOOPBACK_ALLOWED_HOSTS

from .helpers import ES_AUTH, b64, image_bytes

# The bodies point at a loopback URL that must fail as a refused connection (see
# test_robustness.py for why the guard needs loopback allowed).
pytestmark = pytest.mark.block_network(allowed_hosts=list(LOOPBACK_ALLOWED_HOSTS))

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
RUN_PATHS = ("/v6/run/face_swap", "/v1/run/faceswap", "/v2/run/filter_id/", "/v2/run/self-prompt")
STATUS_PATH = {
    "/v6/run/face_swap": "/v6/status/",
    "/v1/run/faceswap": "/v2/status/",
    "/v2/run/filter_id/": "/v2/status/",
    "/v2/run/self-prompt": "/v2/status/",
}
TERMINAL = {"COMPLETED", "FAILED"}
PHOTOS = st.sampled_from(
    [
        b64(image_bytes()),
        b64(image_bytes(flat=True)),
        "data:image/png;base64," + b64(image_bytes()),
        "data:text/plain,hello",
        "http://127.0.0.1:1/x.png",
        "https://example.com/x.png",
        "",
        "====",
    ]
)
FILTER_IDS = st.sampled_from(
    [12, "34", 99, -1, 2**70, "3f6c2a9e-8b1d-4e57-9a0c-5d2e7b41f8a3", "nope", "", True]
)
BODIES = st.fixed_dictionaries(
    {},
    optional={
        "base64": PHOTOS | JSON_VALUES,
        "gender": st.integers(-2, 6) | JSON_VALUES,
        "filter_id": FILTER_IDS | JSON_VALUES,
        "ratio": st.sampled_from(["portrait", "landscape", "square", "wide"]) | JSON_VALUES,
        "quality_mode": st.sampled_from(["v6", "v6.1", "v5"]) | JSON_VALUES,
        "prompt": st.text(max_size=12) | JSON_VALUES,
    },
)


def _exchange(path: str, content: bytes) -> tuple[httpx.Response, dict[str, Any] | None]:
    """POST `content` to `path`; for an accepted job, also its status once it is over."""
    with (
        Sandbox(
            clock=FakeClock(), vendor_options={"eventstation": {"result_scale": 0.01}}
        ) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/eventstation", headers=ES_AUTH
        ) as http,
    ):
        response = http.post(path, content=content)
        if response.status_code != 200:
            return response, None
        sandbox.advance(2)
        status = http.post(STATUS_PATH[path] + response.json()["id"])
        assert status.status_code == 200
        return response, status.json()


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(RUN_PATHS), BODIES)
def test_any_json_body_gets_a_documented_answer(path: str, body: dict[str, Any]) -> None:
    response, final = _exchange(path, json.dumps(body).encode())
    assert response.status_code in (200, 404, 422)
    payload = response.json()
    if response.status_code != 200:
        assert set(payload) == {"detail"}
        return
    assert payload["status"] in ("QUEUED", "IN_QUEUE")
    assert final is not None
    assert final["status"] in TERMINAL
    if final["status"] == "COMPLETED":
        assert len(final["output"]["images"]) == 1
    else:
        assert isinstance(final["error"], str)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(RUN_PATHS), st.binary(max_size=64))
def test_any_bytes_body_gets_a_documented_answer(path: str, content: bytes) -> None:
    response, _ = _exchange(path, content)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
