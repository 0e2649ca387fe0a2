"""Image inputs and outputs: loading, sniffing, measuring and converting.

Inputs are loaded once per swap into `LoadedImage` and shared by every provider and retry: the
bytes are read once, their base64 form is computed at most once, and a ``bytes`` argument is
kept by reference.  With a 50 MB image that is the difference between one copy in memory and
five.  URLs are passed through untouched; swapkit never downloads an input image itself.

The media type comes from the bytes (magic numbers), never from a file name.  Width and height
of results come from the image header; a result is also decoded once, fully, because a vendor
that says "done" over a truncated file must fail over rather than hand the caller a broken
image (the decode costs milliseconds next to the seconds of a swap).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import io
from pathlib import Path
from typing import Literal

from PIL import Image, UnidentifiedImageError

from swapkit.core.errors import InvalidRequest, ResultInvalid, UnsupportedImage
from swapkit.core.models import ImageInput

__all__ = [
    "ImageInfo",
    "LoadedImage",
    "convert_image",
    "inspect_image",
    "is_file_reference",
    "load_image",
    "sniff_media_type",
]

_ACCEPTED = "a path to an image file, image bytes, an http(s):// URL or a data: URI"

_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


def sniff_media_type(data: bytes | memoryview) -> str | None:
    """The image media type of `data` from its first bytes, or None when it is not an image."""
    head = bytes(data[:32])
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"BM"):
        return "image/bmp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "image/heic"
    return None


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedImage:
    """One input image, ready to send: either bytes (with a sniffed media type) or a URL."""

    role: str
    origin: str
    data: bytes | None = dataclasses.field(default=None, repr=False)
    url: str | None = None
    media_type: str | None = None

    @property
    def kind(self) -> Literal["bytes", "url"]:
        """``"url"`` for a pass-through URL, ``"bytes"`` for everything loaded locally."""
        return "url" if self.url is not None else "bytes"

    @property
    def size(self) -> int | None:
        """Size in bytes, when the image is held locally."""
        return None if self.data is None else len(self.data)

    @functools.cached_property
    def base64(self) -> bytes:
        """The raw (unprefixed) base64 encoding, computed once and shared by every attempt."""
        if self.data is None:
            raise ValueError(f"{self.role} image is a URL, not bytes")
        return base64.b64encode(self.data)

    def as_data_uri(self) -> bytes:
        """The image as a ``data:`` URI (for vendors that want one)."""
        return f"data:{self.media_type};base64,".encode() + self.base64


_URL_PREFIXES = ("http://", "https://")


def is_file_reference(value: object) -> bool:
    """Whether loading `value` reads a local file (a path, as opposed to bytes, a URL or data:)."""
    if isinstance(value, Path):
        return True
    return isinstance(value, str) and not value.startswith((*_URL_PREFIXES, "data:"))


def load_image(value: ImageInput, role: str) -> LoadedImage:
    """Turn a caller's image argument into a `LoadedImage`, or raise a clear input error."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(value) if not isinstance(value, bytes) else value, role, "bytes")
    if isinstance(value, str):
        if value.startswith(_URL_PREFIXES):
            return LoadedImage(role=role, origin=value, url=value)
        if value.startswith("data:"):
            return _from_bytes(_decode_data_uri(value, role), role, "data: URI")
        scheme, sep, _ = value.partition("://")
        if sep and scheme.isalnum():
            raise InvalidRequest(
                f"{role} image {value!r} uses an unsupported URL scheme; pass {_ACCEPTED}"
            )
    if isinstance(value, (str, Path)):
        return _from_bytes(_read_file(Path(value), role), role, str(value))
    raise InvalidRequest(f"{role} image must be {_ACCEPTED}, not {type(value).__name__}")


def _read_file(path: Path, role: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidRequest(
            f"{role} image file {str(path)!r} does not exist; check the path, or pass {_ACCEPTED}"
        ) from None
    except IsADirectoryError:
        raise InvalidRequest(
            f"{role} image {str(path)!r} is a directory; pass the path of an image file"
        ) from None
    except OSError as exc:
        raise InvalidRequest(
            f"{role} image file {str(path)!r} cannot be read ({exc.strerror}); "
            "check its permissions"
        ) from exc


def _decode_data_uri(uri: str, role: str) -> bytes:
    header, sep, payload = uri.partition(",")
    if not sep or not header.endswith(";base64"):
        raise InvalidRequest(
            f"{role} image data: URI must look like 'data:image/png;base64,<data>'"
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{role} image data: URI does not hold valid base64") from None


def _from_bytes(data: bytes, role: str, origin: str) -> LoadedImage:
    media_type = sniff_media_type(data)
    if media_type is None:
        what = "is empty" if not data else "is not an image"
        raise UnsupportedImage(f"{role} image ({origin}) {what}; pass a JPEG, PNG or WebP image")
    return LoadedImage(role=role, origin=origin, data=data, media_type=media_type)


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What swapkit reads from a result image's header."""

    media_type: str
    width: int
    height: int


def inspect_image(data: bytes, *, provider: str | None = None) -> ImageInfo:
    """Sniff and measure a result image; `ResultInvalid` when it is missing or unreadable."""
    media_type = sniff_media_type(data)
    if media_type is None:
        raise ResultInvalid(
            "the result is not an image" if data else "the result image is empty",
            provider=provider,
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.load()  # a full decode: a truncated JPEG passes verify() but not this
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ResultInvalid(
            f"the result image ({media_type}) cannot be decoded: {exc}", provider=provider
        ) from exc
    return ImageInfo(media_type=media_type, width=width, height=height)


def convert_image(data: bytes, output_format: str, quality: int | None = None) -> bytes:
    """Re-encode an image as ``jpeg``, ``png`` or ``webp`` (for vendors that cannot)."""
    with Image.open(io.BytesIO(data)) as image:
        pil_format = _PIL_FORMATS[output_format]
        converted = image.convert("RGB") if pil_format == "JPEG" else image
        out = io.BytesIO()
        params = {} if quality is None or pil_format == "PNG" else {"quality": quality}
        converted.save(out, format=pil_format, **params)
    return out.getvalue()
