"""Garbage in never breaks the emulator: every answer is a documented status with a JSON body."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from swapkit.sandbox import FakeClock, Sandbox

from .helpers import AUTH, b64, image_bytes

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
