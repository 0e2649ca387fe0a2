"""A result image is checked from its structure: every cut and every damaged PNG byte is
refused, without decoding pixels (`swapkit.core.integrity`)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from swapkit import errors
from swapkit.core.images import inspect_image
from swapkit.core.integrity import examine


def _image(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.new("RGB", size, (200, 120, 80))
    for x in range(0, size[0], 3):
        image.putpixel((x, x % size[1]), (x % 256, 30, 200))
    out = io.BytesIO()
    image.save(out, format=fmt, **({"progressive": True} if fmt == "JPEG" else {}))
    return out.getvalue()


FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
IMAGES = {fmt: _image(fmt) for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_whole_image_passes(fmt: str) -> None:
    assert examine(IMAGES[fmt], FORMATS[fmt])[0] is None
    info = inspect_image(IMAGES[fmt])
    assert (info.width, info.height) == (64, 48)


@settings(max_examples=300, deadline=None)
@given(fmt=st.sampled_from(sorted(FORMATS)), data=st.data())
def test_every_cut_is_refused(fmt: str, data: st.DataObject) -> None:
    image = IMAGES[fmt]
    cut = data.draw(st.integers(min_value=1, max_value=len(image) - 1))
    with pytest.raises(errors.ResultInvalid):
        inspect_image(image[:cut])


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_every_damaged_png_byte_is_refused(data: st.DataObject) -> None:
    image = bytearray(IMAGES["PNG"])
    where = data.draw(st.integers(min_value=8, max_value=len(image) - 1))
    image[where] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(errors.ResultInvalid):
        inspect_image(bytes(image))


def test_a_jpeg_with_bytes_after_its_end_marker_is_accepted() -> None:
    assert inspect_image(IMAGES["JPEG"] + b"\x00" * 10 + b"trailer").width == 64


def test_an_image_declaring_too_many_pixels_is_refused_without_decoding() -> None:
    huge = _image("PNG", (1, 1))
    # rewrite IHDR's width and height and its CRC: structurally whole, absurd in size
    import struct
    import zlib

    body = b"IHDR" + struct.pack(">II", 100_000, 100_000) + huge[24:29]
    patched = huge[:8] + struct.pack(">I", 13) + body + struct.pack(">I", zlib.crc32(body))
    patched += huge[33:]
    with pytest.raises(errors.ResultInvalid, match="too many"):
        inspect_image(patched)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
def test_other_formats_are_decoded_in_full(fmt: str) -> None:
    image = _image(fmt)
    assert examine(image, f"image/{fmt.lower()}")[0] == "unchecked"


@settings(max_examples=80, deadline=None)
@given(
    fmt=st.sampled_from(["PNG", "JPEG", "GIF", "WEBP-lossy", "WEBP-lossless", "WEBP-alpha"]),
    width=st.integers(min_value=1, max_value=300),
    height=st.integers(min_value=1, max_value=300),
)
def test_the_declared_size_is_the_size_pillow_reads(fmt: str, width: int, height: int) -> None:
    mode = "RGBA" if fmt == "WEBP-alpha" else "RGB"
    image = Image.new(mode, (width, height), (10, 200, 30, 128)[: len(mode)])
    out = io.BytesIO()
    if fmt.startswith("WEBP"):
        image.save(out, format="WEBP", lossless=fmt == "WEBP-lossless")
        media_type = "image/webp"
    else:
        image.save(out, format=fmt)
        media_type = f"image/{fmt.lower()}"
    data = out.getvalue()
    problem, found = examine(data, media_type)
    assert problem is None
    assert found in (None, Image.open(io.BytesIO(data)).size)
    assert (inspect_image(data).width, inspect_image(data).height) == (width, height)
