"""Image inputs and outputs: every accepted form, and a clear error for everything else."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from swapkit import errors
from swapkit.core.images import convert_image, inspect_image, load_image, sniff_media_type

from .conftest import make_image


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_media_type_is_sniffed_from_bytes(fmt: str, media_type: str) -> None:
    assert sniff_media_type(make_image(fmt=fmt)) == media_type


def test_bytes_are_kept_by_reference(face_png: bytes) -> None:
    loaded = load_image(face_png, "source")
    assert loaded.data is face_png
    assert loaded.kind == "bytes"
    assert loaded.base64 is loaded.base64  # computed once
    assert base64.b64decode(loaded.base64) == face_png


def test_path_and_str_path(tmp_path: Path, face_png: bytes) -> None:
    path = tmp_path / "face.bin"  # the name says nothing; the bytes decide
    path.write_bytes(face_png)
    assert load_image(path, "source").media_type == "image/png"
    assert load_image(str(path), "source").data == face_png


def test_url_passes_through_untouched() -> None:
    loaded = load_image("https://example.com/a.jpg?x=1", "target")
    assert loaded.kind == "url"
    assert loaded.url == "https://example.com/a.jpg?x=1"
    assert loaded.data is None


def test_data_uri(face_png: bytes) -> None:
    uri = "data:image/png;base64," + base64.b64encode(face_png).decode()
    assert load_image(uri, "source").data == face_png


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        ("/no/such/face.jpg", errors.InvalidRequest, "does not exist"),
        (b"hello, not an image", errors.UnsupportedImage, "is not an image"),
        (b"", errors.UnsupportedImage, "is empty"),
        ("data:image/png;base64,@@@", errors.InvalidRequest, "valid base64"),
        ("data:image/png,plain", errors.InvalidRequest, "data:image/png;base64"),
        ("ftp://example.com/a.jpg", errors.InvalidRequest, "unsupported URL scheme"),
    ],
)
def test_bad_inputs_say_what_to_do(value: object, error: type, words: str) -> None:
    with pytest.raises(error, match=words) as info:
        load_image(value, "source")  # type: ignore[arg-type]
    assert "source" in str(info.value)


def test_directory_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidRequest, match="directory"):
        load_image(tmp_path, "target")


def test_inspect_reads_size_and_type() -> None:
    info = inspect_image(make_image((33, 21), fmt="JPEG"))
    assert (info.media_type, info.width, info.height) == ("image/jpeg", 33, 21)


@pytest.mark.parametrize(
    "data",
    [b"", b"<html>oops</html>", make_image()[:40], make_image((64, 64), fmt="JPEG")[:-300]],
    ids=["empty", "html", "cut-png", "cut-jpeg"],
)
def test_inspect_rejects_missing_or_broken_results(data: bytes) -> None:
    with pytest.raises(errors.ResultInvalid):
        inspect_image(data, provider="x")


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_convert(fmt: str) -> None:
    converted = convert_image(make_image(fmt="PNG"), fmt, 80)
    assert sniff_media_type(converted) == f"image/{fmt}"
