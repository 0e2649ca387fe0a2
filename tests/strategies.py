"""Hypothesis strategies for hostile vendor answers and images: one module for every test.

Vendor bodies are built the way a broken or malicious server produces them: a genuine answer
of the vendor (a seed), mutated structurally (a field replaced by something of another type, an
absurd number, a huge or deep value; a field removed), then encoded as JSON that may be cut,
nested past any sane depth, wrapped, or sent in another charset.
"""

from __future__ import annotations

import copy
import io
import json
from typing import Any

from hypothesis import strategies as st
from PIL import Image

__all__ = ["hostile_body", "hostile_headers", "hostile_image", "json_values"]

#: Values a vendor field can turn into.
SPECIAL: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    10**60,
    1.5,
    float("nan"),
    float("inf"),
    -1e308,
    "",
    "NaN",
    "no " * 6000,
    "x" * 20_000,
    "1" * 5000,
    "99999999999x99999999999",
    "2026-13-45T99:99:99Z",
    "data:image/png;base64,!!!",
    "https://",
    [],
    {},
    [[[[[[[]]]]]]],
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(SPECIAL)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=16,
)


@st.composite
def mutated(draw: st.DrawFn, seed: Any) -> Any:
    """`seed` with a few fields replaced, removed or wrapped, at any depth."""
    value = json.loads(json.dumps(seed))
    for _ in range(draw(st.integers(0, 3))):
        value = _mutate_once(draw, value)
    return value


def _mutate_once(draw: st.DrawFn, value: Any) -> Any:
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        action = draw(st.sampled_from(["replace", "delete", "descend"]))
        if action == "delete":
            del value[key]
        elif action == "replace":
            value[key] = copy.deepcopy(draw(json_values))  # never mutate a drawn object
        else:
            value[key] = _mutate_once(draw, value[key])
        return value
    if isinstance(value, list) and value and draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        value[index] = _mutate_once(draw, value[index])
        return value
    return copy.deepcopy(draw(json_values))


@st.composite
def hostile_body(draw: st.DrawFn, seeds: list[Any]) -> bytes:
    """A body derived from one of `seeds`: mutated JSON, possibly cut, nested or garbled."""
    value = draw(mutated(draw(st.sampled_from(seeds))))
    body = json.dumps(value, allow_nan=True).encode()
    shape = draw(
        st.sampled_from(
            ["as is", "as is", "as is", "cut", "deep", "deep detail", "digits", "bytes"]
        )
    )
    if shape == "cut":
        return body[: draw(st.integers(0, max(0, len(body) - 1)))]
    if shape == "deep":
        depth = draw(st.integers(30, 3000))
        return b"[" * depth + body + b"]" * depth
    if shape == "deep detail":
        depth = draw(st.integers(30, 3000))
        return b'{"detail":' + b"[" * depth + b"]" * depth + b"}"
    if shape == "digits":
        return b'{"id": 1' + b"0" * draw(st.integers(20, 6000)) + b"}"
    if shape == "bytes":
        return draw(st.binary(max_size=200))
    return body


hostile_headers = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.sampled_from(
            [
                "application/json; charset=utf-16",
                "application/json; charset=utf-32",
                "application/json; charset=bogus-8",
                "text/html",
            ]
        ),
        "retry-after": st.sampled_from(["1e999", "nan", "-5", "9" * 400, "Fri, 99 Jan 2027"]),
        "x-ratelimit-reset": st.sampled_from(["1e999", "nan", "9" * 400, "-1"]),
    },
)


def _encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@st.composite
def hostile_image(draw: st.DrawFn) -> bytes:
    """Image bytes a vendor or a caller might send: real images in odd modes, cut, or noise."""
    kind = draw(st.sampled_from(["real", "cut", "noise", "magic"]))
    if kind == "noise":
        return draw(st.binary(max_size=300))
    if kind == "magic":
        magic = draw(st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM"]))
        return magic + draw(st.binary(max_size=300))
    mode, fmt = draw(
        st.sampled_from(
            [
                ("RGB", "PNG"),
                ("RGBA", "PNG"),
                ("P", "PNG"),
                ("LA", "PNG"),
                ("I;16", "PNG"),
                ("L", "JPEG"),
                ("CMYK", "JPEG"),
                ("RGB", "WEBP"),
                ("F", "TIFF"),
                ("I", "TIFF"),
                ("1", "BMP"),
                ("RGB", "GIF"),
            ]
        )
    )
    size = (draw(st.integers(1, 24)), draw(st.integers(1, 24)))
    data = _encoded(Image.new(mode, size), fmt)
    if kind == "cut":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    return data
