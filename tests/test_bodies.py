"""Request bodies: base64 images streamed slice by slice, held once per distinct image, sent
in a few large writes."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swapkit.core.images import Base64Text
from swapkit.core.models import SwapRequest
from swapkit.core.routing import prepare
from swapkit.provider import JsonBody

from .conftest import make_image, padded_png


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=700_000))
def test_streamed_base64_is_the_encoding(data: bytes) -> None:
    text = Base64Text(data)
    assert b"".join(text) == base64.b64encode(data) == bytes(text)
    assert len(text) == len(base64.b64encode(data))


def test_a_body_is_valid_json_of_exact_length_in_few_writes() -> None:
    large = bytes(range(256)) * 4096  # 1 MiB
    small = b"abc"
    body = JsonBody({"a": Base64Text(large), "b": base64.b64encode(small), "n": 3, "skip": None})
    chunks = list(body)
    joined = b"".join(chunks)
    assert len(joined) == body.length
    assert json.loads(joined) == {
        "a": base64.b64encode(large).decode(),
        "b": base64.b64encode(small).decode(),
        "n": 3,
    }
    assert len(chunks) <= len(joined) // JsonBody.WRITE_BYTES + 2
    assert b"".join(chunks) == b"".join(body)  # iterable again, for a retry


def test_the_same_image_as_source_and_target_is_held_and_encoded_once(tmp_path: object) -> None:
    image = make_image()
    prepared = prepare(SwapRequest(source=image, target=image))
    assert prepared.target is not None
    assert prepared.target.data is prepared.source.data
    assert prepared.target.encoded is prepared.source.encoded  # one encoding, shared
    again = prepare(SwapRequest(source=image, target=bytes(image)))  # equal, not identical
    assert again.target is not None
    assert again.target.data is again.source.data


def test_a_large_image_is_encoded_while_it_is_sent() -> None:
    big = padded_png(3 * 2**20)
    prepared = prepare(SwapRequest(source=big, target=make_image()))
    body = JsonBody({"source": prepared.source.encoded, "style": "cartoon"})
    chunks = list(body)
    assert max(len(chunk) for chunk in chunks) <= 300_000  # slices, never the 4 MB whole
    assert json.loads(b"".join(chunks))["source"] == base64.b64encode(big).decode()


def test_an_image_in_a_body_twice_is_encoded_once_per_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = make_image()
    prepared = prepare(SwapRequest(source=image, target=image))
    assert prepared.target is not None
    encodings: list[int] = []
    original = Base64Text.__bytes__

    def counted(self: Base64Text) -> bytes:
        encodings.append(1)
        return original(self)

    monkeypatch.setattr(Base64Text, "__bytes__", counted)
    body = JsonBody({"source": prepared.source.encoded, "target": prepared.target.encoded})
    (chunk,) = list(body)
    assert json.loads(chunk) == {"source": base64.b64encode(image).decode()} | {
        "target": base64.b64encode(image).decode()
    }
    assert len(encodings) == 1


def test_a_small_body_goes_out_in_one_write() -> None:
    body = JsonBody({"source": base64.b64encode(make_image()), "style": "cartoon"})
    (chunk,) = list(body)
    assert len(chunk) == body.length
