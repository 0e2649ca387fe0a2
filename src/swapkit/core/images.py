"""Image inputs and outputs: loading, sniffing, measuring and converting.

Inputs are loaded once per swap into `LoadedImage` and shared by every provider and retry: the
bytes are read once, and a ``bytes`` argument is kept by reference; the same image given as
source and target is held once (`twin`).  Its base64 form (`LoadedImage.encoded`) is produced
once per distinct image when it is small, and for a large image slice by slice while the body
is sent (`Base64Text`), so the encoded body is never held whole: with a 50 MB image that is the
difference between one copy in memory and five.  URLs are passed through untouched; swapkit
never downloads an input image itself.

The media type comes from the bytes (magic numbers), never from a file name.  Width and height
of results come from the image header; a result is also checked whole, from its structure
(`swapkit.core.integrity`), because a vendor that says "done" over a truncated file must fail
over rather than hand the caller a broken image.

Every image is untrusted input, the caller's and the vendor's alike:

* a local path is read only when it is a regular file, at most `MAX_INPUT_BYTES` (checked
  from ``stat`` before reading, and while reading); a NUL byte, a directory, a FIFO, a device or
  an unreadable file is an `InvalidRequest` naming the input, before any network call;
* an input must decode far enough to be checked (its header, and for PNG its chunks): a cut
  file is refused before it is sent;
* no image larger than `MAX_PIXELS` is decoded (a "decompression bomb" declares gigapixels in a
  few kilobytes): a vendor's is `ResultInvalid`, a caller's `UnsupportedImage`;
* Pillow's own exceptions never escape: decoding is the boundary where any failure of a
  third-party decoder on hostile bytes becomes a swapkit error;
* conversion handles every mode Pillow opens (16-bit and float images are scaled to 8 bits,
  CMYK and other colour spaces become RGB, alpha is kept where the format has it).  A result
  that cannot be written in the requested format (a WebP wider than 16383 px) is returned as
  the vendor made it, its `media_type` saying so, rather than lost after it was paid for.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import logging
import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from swapkit.core.errors import ImageTooLarge, InvalidRequest, ResultInvalid, UnsupportedImage
from swapkit.core.http import is_http_url
from swapkit.core.integrity import examine
from swapkit.core.models import ImageInput
from swapkit.core.untrusted import decode_base64

__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_PIXELS",
    "Base64Text",
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

#: The largest local image file swapkit reads (every vendor's own limit is lower).
MAX_INPUT_BYTES = 100 * 1024 * 1024
#: The most pixels an image may declare before swapkit refuses to decode it (about 16k x 16k).
MAX_PIXELS = 256_000_000
#: The most pixels each output format can hold on a side.
_MAX_SIDE = {"JPEG": 65_500, "PNG": 2**31 - 1, "WEBP": 16_383}

_log = logging.getLogger("swapkit")


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


#: Input bytes per slice of a streamed encoding (a multiple of 3: slices join without padding).
_SLICE_BYTES = 3 * 64 * 1024


class Base64Text:
    """The base64 form of some bytes, produced slice by slice when iterated: what a request
    body streams instead of holding a large encoding whole.  ``len()`` is exact without
    encoding anything; ``bytes()`` gives the whole encoding."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __len__(self) -> int:
        return 4 * ((len(self._data) + 2) // 3)

    def __iter__(self) -> Iterator[bytes]:
        view = memoryview(self._data)
        for start in range(0, len(view), _SLICE_BYTES):
            yield base64.b64encode(view[start : start + _SLICE_BYTES])

    def __bytes__(self) -> bytes:
        return base64.b64encode(self._data)

    def __repr__(self) -> str:
        return f"<Base64Text of {len(self._data)} bytes>"


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

    #: The encodings and digest made so far, shared with a `twin` (the same image in another
    #: role), so each is computed once per distinct image.
    _encodings: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the bytes, computed once per distinct image."""
        if self.data is None:
            raise ValueError(f"{self.role} image is a URL, not bytes")
        digest: str | None = self._encodings.get("sha256")
        if digest is None:
            digest = self._encodings["sha256"] = hashlib.sha256(self.data).hexdigest()
        return digest

    @property
    def base64(self) -> bytes:
        """The raw (unprefixed) base64 encoding, computed once per distinct image and shared by
        every attempt.  Request bodies should prefer `encoded`, which streams large images."""
        if self.data is None:
            raise ValueError(f"{self.role} image is a URL, not bytes")
        encoded: bytes | None = self._encodings.get("base64")
        if encoded is None:
            encoded = self._encodings["base64"] = base64.b64encode(self.data)
        return encoded

    @property
    def encoded(self) -> Base64Text:
        """The base64 encoding for a request body (`swapkit.provider.json_request`): a
        `Base64Text`, made as the body is sent and never kept, one per distinct image."""
        if self.data is None:
            raise ValueError(f"{self.role} image is a URL, not bytes")
        text: Base64Text | None = self._encodings.get("text")
        if text is None:
            text = self._encodings["text"] = Base64Text(self.data)
        return text

    def twin(self, role: str, origin: str) -> LoadedImage:
        """This image in another role (the same bytes as source and target): held once, and
        encoded once."""
        return dataclasses.replace(self, role=role, origin=origin)

    def as_data_uri(self) -> bytes:
        """The image as a ``data:`` URI (for vendors that want one)."""
        return f"data:{self.media_type};base64,".encode() + self.base64


_URL_SCHEMES = ("http", "https")


def _scheme(value: str) -> str | None:
    """The lower-cased URL scheme of `value` (``http``, ``data``, ...), or None for a path."""
    head, sep, _ = value.partition(":")
    if sep and head.isascii() and head.isalpha() and len(head) > 1:
        return head.lower()
    return None


def is_file_reference(value: object) -> bool:
    """Whether loading `value` reads a local file (a path, as opposed to bytes, a URL or data:)."""
    if isinstance(value, Path):
        return True
    return isinstance(value, str) and _scheme(value) not in (*_URL_SCHEMES, "data")


def check_url(value: str, what: str) -> str:
    """`value` when it is an absolute http(s) URL with a host; else an `InvalidRequest`."""
    if not is_http_url(value):
        raise InvalidRequest(
            f"{what} {value[:200]!r} is not a usable http(s) URL (it needs a host, e.g. "
            "'https://example.com/image.png')"
        )
    return value


def load_image(value: ImageInput, role: str) -> LoadedImage:
    """Turn a caller's image argument into a `LoadedImage`, or raise a clear input error."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(value) if not isinstance(value, bytes) else value, role, "bytes")
    if isinstance(value, str):
        scheme = _scheme(value)
        if scheme in _URL_SCHEMES:
            url = check_url(value, f"{role} image")
            return LoadedImage(role=role, origin=url, url=url)
        if scheme == "data":
            return _from_bytes(_decode_data_uri(value, role), role, "data: URI")
        if scheme is not None and value[len(scheme) : len(scheme) + 3] == "://":
            raise InvalidRequest(
                f"{role} image {value[:200]!r} uses an unsupported URL scheme; pass {_ACCEPTED}"
            )
    if isinstance(value, (str, Path)):
        return _from_bytes(_read_file(value, role), role, str(value))
    raise InvalidRequest(f"{role} image must be {_ACCEPTED}, not {type(value).__name__}")


def _read_file(value: str | Path, role: str) -> bytes:
    """The bytes of a regular file, at most `MAX_INPUT_BYTES`; an `InvalidRequest` otherwise."""
    shown = repr(str(value)[:300])
    if "\x00" in str(value):
        raise InvalidRequest(f"{role} image path {shown} contains a NUL byte; pass a real path")
    path = Path(value)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InvalidRequest(
            f"{role} image file {shown} does not exist; check the path, or pass {_ACCEPTED}"
        ) from None
    except (OSError, ValueError) as exc:
        raise InvalidRequest(
            f"{role} image file {shown} cannot be read ({_reason(exc)}); check the path"
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise InvalidRequest(f"{role} image {shown} is a directory; pass the path of an image file")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidRequest(
            f"{role} image {shown} is not a regular file (a pipe, socket or device); save the "
            "image to a file, or pass its bytes"
        )
    if info.st_size > MAX_INPUT_BYTES:
        raise _too_large_file(role, shown, info.st_size)
    try:
        # O_NONBLOCK: should the file have been swapped for a FIFO since stat, open does not hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InvalidRequest(
            f"{role} image file {shown} cannot be read ({_reason(exc)}); check its permissions"
        ) from None
    if len(data) > MAX_INPUT_BYTES:
        raise _too_large_file(role, shown, len(data))
    return data


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__


def _too_large_file(role: str, shown: str, size: int) -> ImageTooLarge:
    """The error for a local file over `MAX_INPUT_BYTES`."""
    return ImageTooLarge(
        f"{role} image file {shown} is {size / 2**20:.0f} MB; swapkit reads images of up to "
        f"{MAX_INPUT_BYTES / 2**20:.0f} MB and every vendor takes less: resize or recompress it"
    )


def _decode_data_uri(uri: str, role: str) -> bytes:
    header, sep, payload = uri.partition(",")
    if not sep or not header.lower().endswith(";base64"):
        raise InvalidRequest(
            f"{role} image data: URI must look like 'data:image/png;base64,<data>'"
        )
    try:
        return decode_base64(payload)
    except ValueError:
        raise InvalidRequest(f"{role} image data: URI does not hold valid base64") from None


def _from_bytes(data: bytes, role: str, origin: str) -> LoadedImage:
    media_type = sniff_media_type(data)
    if media_type is None:
        what = "is empty" if not data else "is not an image"
        raise UnsupportedImage(f"{role} image ({origin}) {what}; pass a JPEG, PNG or WebP image")
    problem = _input_problem(data, media_type)
    if problem is not None:
        raise UnsupportedImage(
            f"{role} image ({origin}, {media_type}) {problem}; re-save it as a JPEG or PNG"
        )
    return LoadedImage(role=role, origin=origin, data=data, media_type=media_type)


#: Input formats checked from their structure alone (`swapkit.core.integrity`).  The walk
#: of a JPEG's markers and a PNG's chunk checksums covers what Pillow's header parse and
#: ``verify()`` did, at a tenth of the cost; other formats are opened by Pillow.
_STRUCTURAL_INPUTS = frozenset({"image/jpeg", "image/png"})


def _input_problem(data: bytes, media_type: str) -> str | None:
    """Why an input image cannot be sent (None when it can): damaged, cut short, or declaring
    too many pixels to decode safely."""
    if media_type not in _STRUCTURAL_INPUTS:
        return _undecodable(data, full=False)
    problem, size = examine(data, media_type)
    if problem is not None:
        return f"cannot be decoded (it {problem})"
    if size is None:
        return "cannot be decoded (it declares no width and height)"
    return _too_many_pixels(*size)


def _too_many_pixels(width: int, height: int) -> str | None:
    """Why an image of `width` x `height` must not be decoded (None when it may be)."""
    if width * height > MAX_PIXELS:
        return f"declares {width}x{height} pixels, too many to decode safely"
    return None


def _undecodable(data: bytes, *, full: bool) -> str | None:
    """Why `data` cannot be decoded (None when it can): a full decode, or a check of its
    header (and, for PNG, its chunks).  Nothing Pillow raises escapes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                too_many = _too_many_pixels(*image.size)
                if too_many is not None:
                    return too_many
                if full:
                    image.load()  # a truncated JPEG passes verify() but not this
                else:
                    image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "declares too many pixels to decode safely"
    except Exception as exc:  # a third-party decoder on hostile bytes: anything may come
        return f"cannot be decoded ({type(exc).__name__}: {str(exc)[:200]})"
    return None


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What swapkit reads from a result image's header."""

    media_type: str
    width: int
    height: int


def inspect_image(data: bytes, *, provider: str | None = None) -> ImageInfo:
    """Sniff, measure and check a result image; `ResultInvalid` when it is missing, cut short,
    damaged, unreadable, or too large to decode safely.

    PNG, JPEG, WebP and GIF are checked from their structure (`swapkit.core.integrity`:
    checksums and end markers, at the speed of a checksum); other formats are decoded in full.
    """
    media_type = sniff_media_type(data)
    if media_type is None:
        raise ResultInvalid(
            "the result is not an image" if data else "the result image is empty",
            provider=provider,
        )
    problem, size = examine(data, media_type)
    if problem == "unchecked":
        problem = _undecodable(data, full=True)
    if problem is None and size is None:  # a header this module cannot read: Pillow's
        problem, size = _pillow_size(data)
    if problem is None and size is not None:
        problem = _too_many_pixels(*size)
    if problem is not None or size is None:
        raise ResultInvalid(f"the result image ({media_type}) {problem}", provider=provider)
    return ImageInfo(media_type=media_type, width=size[0], height=size[1])


def _pillow_size(data: bytes) -> tuple[str | None, tuple[int, int] | None]:
    """Why Pillow cannot read the image's header (None when it can), and the size it reads."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return None, image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "declares too many pixels to decode safely", None
    except Exception as exc:  # a third-party decoder on hostile bytes: anything may come
        return f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})", None


def convert_image(data: bytes, output_format: str, quality: int | None = None) -> bytes:
    """Re-encode an image as ``jpeg``, ``png`` or ``webp`` (for vendors that cannot).

    Every mode Pillow opens is handled.  An image the format cannot hold (WebP over 16383 px
    on a side) comes back unchanged, with a warning logged: check the result's media type.
    """
    pil_format = _PIL_FORMATS[output_format]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if max(image.size) > _MAX_SIDE[pil_format]:
                    _log.warning(
                        "swapkit: a %dx%d result cannot be written as %s; returned as it came",
                        *image.size,
                        output_format,
                    )
                    return data
                converted = _for_format(image, pil_format)
                out = io.BytesIO()
                params: dict[str, Any] = {}
                if quality is not None and pil_format != "PNG":
                    params["quality"] = quality
                converted.save(out, format=pil_format, **params)
    except Exception as exc:  # a third-party encoder on an odd image: anything may come
        _log.warning(
            "swapkit: the result could not be converted to %s (%s); returned as it came",
            output_format,
            type(exc).__name__,
        )
        return data
    return out.getvalue()


_KEEPS = {
    "JPEG": {"L", "RGB"},
    "PNG": {"1", "L", "LA", "P", "RGB", "RGBA"},
    "WEBP": {"RGB", "RGBA"},
}


def _for_format(image: Image.Image, pil_format: str) -> Image.Image:
    """`image` in a mode `pil_format` can write: deep images scaled to 8 bits, other colour
    spaces as RGB, alpha kept where the format has it."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        deep = image.convert("F")
        extrema = deep.getextrema()
        low, high = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
        scale = 255.0 / (high - low) if high > low else 1.0
        image = deep.point(lambda value: (value - low) * scale).convert("L")
    if image.mode in _KEEPS[pil_format]:
        return image
    alpha = "A" in image.mode or "a" in image.mode or "transparency" in image.info
    target = "RGBA" if alpha and pil_format != "JPEG" else "RGB"
    if image.mode in ("La", "LA", "PA") or image.mode == "RGBa":
        image = image.convert("RGBA")
    return image.convert(target)
