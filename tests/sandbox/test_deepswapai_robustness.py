"""Garbage in never breaks the DeepSwapAI emulator: every answer is the documented success body
or an error in the vendor's envelope with one of the sandbox's codes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swapkit.sandbox import FakeClock, Sandbox
from swapkit.sandbox.pytest_plugin import LOOPBACK_ALLOWED_HOSTS
from swapkit.sandbox.vendors.deepswapai.errors import ERROR_CODES

from .helpers import DS_AUTH, b64, decode, image_bytes

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
IMAGE_STRINGS = st.sampled_from(
    [
        b64(image_bytes()),
        b64(image_bytes((30, 20), fmt="JPEG")),
        b64(image_bytes(flat=True)),
        b64(image_bytes(fmt="GIF")),
        "data:image/png;base64," + b64(image_bytes()),
        "data:text/plain,hello",
        "http://127.0.0.1:1/x.png",
        "http://sandbox.test/deepswapai/cdn/results/missing.png",
        "https://example.com/x.png",
        "http://[::1",
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
        "output_format": st.sampled_from(["png", "jpg", "webp", "jpeg", "gif"]) | JSON_VALUES,
        "quality": st.sampled_from(["standard", "high", "4k", "8k"]) | JSON_VALUES,
        "face_index": st.integers(-2, 3) | JSON_VALUES,
    },
)
SWAP_FIELDS = {
    "success",
    "job_id",
    "output_url",
    "output_format",
    "resolution",
    "processing_time",
    "faces_detected",
    "credits_used",
}


def _exchange(content: bytes, path: str = "/v1/image-swap") -> tuple[httpx.Response, Any]:
    """POST `content`; for a success, also the decoded output's size."""
    with (
        Sandbox(clock=FakeClock(), vendor_options={"deepswapai": {"output_scale": 0.02}}) as sb,
        httpx.Client(
            transport=sb.transport(), base_url="http://sandbox.test/deepswapai", headers=DS_AUTH
        ) as http,
    ):
        response = http.post(path, content=content)
        size = None
        if response.status_code == 200:
            size = decode(http.get(response.json()["output_url"]).content).size
        return response, size


def _assert_error(response: httpx.Response) -> str:
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"success", "error"}
    assert body["success"] is False
    assert isinstance(body["error"]["message"], str)
    code: str = body["error"]["code"]
    assert code in ERROR_CODES
    return code


@settings(max_examples=60, deadline=None)
@given(BODIES)
def test_any_json_body_gets_a_documented_answer(body: dict[str, Any]) -> None:
    response, size = _exchange(json.dumps(body).encode())
    if response.status_code != 200:
        _assert_error(response)
        return
    answer = response.json()
    assert set(answer) == SWAP_FIELDS
    assert answer["resolution"] == f"{size[0]}x{size[1]}"
    assert answer["faces_detected"] > (body.get("face_index") or 0)


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_body_gets_a_documented_answer(content: bytes) -> None:
    response, _ = _exchange(content)
    assert _assert_error(response) == "INVALID_REQUEST"


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_any_job_id_gets_a_documented_answer(job_id: str) -> None:
    with (
        Sandbox(clock=FakeClock()) as sandbox,
        httpx.Client(
            transport=sandbox.transport(), base_url="http://s/deepswapai", headers=DS_AUTH
        ) as http,
    ):
        response = http.get(f"/v1/status/{quote(job_id, safe='')}")
        assert response.status_code == 404
        assert response.json()["success"] is False
