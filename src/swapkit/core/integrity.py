"""Whether an image arrived whole, read from its structure instead of decoding every pixel.

A vendor's result must be refused when it is cut short or damaged in transit (`ResultInvalid`),
but decoding an 11-megapixel result only to throw the pixels away cost more than the whole
exchange.  Each format carries enough structure to tell a complete file from a cut or corrupted
one, at the speed of a checksum:

* **PNG**: every chunk's length and CRC-32 (computed by zlib), ``IHDR`` first, at least one
  ``IDAT``, and ``IEND`` last with nothing cut.  A flipped bit anywhere fails a CRC.
* **JPEG**: the marker segments up to the scan (each length within the file, a frame header
  present), then the end-of-image marker at the end of the data.
* **WebP**: the RIFF size equals the file's, and the chunks tile it exactly.
* **GIF**: the header, and the trailer byte at the end.

What this cannot see is damage that keeps the structure intact, such as JPEG entropy data
altered without changing its length.  No transport produces that, and a vendor that sends it
has sent a valid file of bad pixels, which no decode would catch either.  Other formats are
decoded in full (`swapkit.core.images`).  All reads are bounded by the data's length; nothing
here raises.  `examine` checks a file and reads its declared size in the same pass.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

__all__ = ["Examined", "examine"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG markers without a length (standalone): TEM, RST0-7, SOI, EOI.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8, 0xD9})
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
#: A marker segment's start (0xFF, the marker, the length), and a frame header's height, width.
_SEGMENT = struct.Struct(">BBH")
_SIZE = struct.Struct(">HH")

#: What `examine` finds: the problem (None when the file is whole, ``"unchecked"`` for a format
#: this module does not know) and the width and height its header declares (None when unread).
Examined = tuple[str | None, tuple[int, int] | None]


def examine(data: bytes, media_type: str) -> Examined:
    """The structure of `data` checked and its declared size read, in one pass.

    The problem is None for a whole file and ``"unchecked"`` for a format this module does not
    know (decode it instead); the size is None when the header does not declare one that this
    module can read (ask Pillow)."""
    check = _CHECKS.get(media_type)
    if check is None:
        return "unchecked", None
    try:
        return check(data)
    except (struct.error, IndexError, ValueError):  # pragma: no cover - bounds are checked
        return "is damaged", None


def _sized(width: int, height: int) -> tuple[int, int] | None:
    return (width, height) if width and height else None


def _png(data: bytes) -> Examined:
    if data[:8] != _PNG_SIGNATURE:
        return "does not start with the PNG signature", None
    view = memoryview(data)
    offset, first, seen_data = 8, True, False
    end = len(data)
    while offset + 12 <= end:
        length, kind = struct.unpack_from(">I4s", data, offset)
        body_end = offset + 8 + length
        if body_end + 4 > end:
            return f"is cut short inside its {kind.decode('latin-1')!r} chunk", None
        (crc,) = struct.unpack_from(">I", data, body_end)
        if zlib.crc32(view[offset + 4 : body_end]) != crc:
            return f"is damaged (its {kind.decode('latin-1')!r} chunk fails its checksum)", None
        if first and kind != b"IHDR":
            return "does not begin with an IHDR chunk", None
        first = False
        seen_data = seen_data or kind == b"IDAT"
        offset = body_end + 4
        if kind == b"IEND":
            if not seen_data:
                return "has no image data (no IDAT chunk)", None
            return None, _sized(*struct.unpack_from(">II", data, 16))
    return "is cut short (no IEND chunk)", None


def _jpeg(data: bytes) -> Examined:
    """A JPEG's marker segments walked up to its scan, and its frame header's size."""
    end = len(data)
    if end < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return "does not start with a JPEG start-of-image marker", None
    offset, size = 2, None
    segment = _SEGMENT.unpack_from
    while offset + 4 <= end:
        prefix, marker, length = segment(data, offset)
        if prefix != 0xFF:
            return "is damaged (a marker is missing where one must be)", size
        if marker == 0xFF:  # fill bytes before a marker
            offset += 1
        elif marker in _STANDALONE:
            if marker == 0xD9:
                return "ends before its image data", size
            offset += 2
        elif length < 2 or offset + 2 + length > end:
            return "is cut short inside a header segment", size
        elif marker == 0xDA:  # start of scan: entropy-coded data, maybe more scans, then EOI
            if size is None:
                return "has no frame header", None
            # 0xFF 0xD9 cannot occur inside entropy-coded data (0xFF is always stuffed), so
            # the last one is the end of the image; trailing bytes after it are tolerated
            if data.rfind(b"\xff\xd9", offset + 2 + length) < 0:
                return "is cut short (no end-of-image marker)", size
            return None, size
        else:
            if size is None and marker in _SOF and length >= 7:
                height, width = _SIZE.unpack_from(data, offset + 5)
                size = _sized(width, height)
            offset += 2 + length
    return "is cut short before its image data", size


def _webp(data: bytes) -> Examined:
    end = len(data)
    if end < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return "does not start with a WebP header", None
    (size,) = struct.unpack_from("<I", data, 4)
    if size + 8 != end:
        how = "cut short" if size + 8 > end else "followed by extra bytes"
        return f"is {how} (RIFF size)", None
    offset = 12
    while offset + 8 <= end:
        (length,) = struct.unpack_from("<I", data, offset + 4)
        offset += 8 + length + (length & 1)
    if offset != end:
        return "is damaged (its chunks do not fill the file)", None
    return None, _webp_size(data)


def _gif(data: bytes) -> Examined:
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        return "does not start with a GIF header", None
    if data[-1:] != b";":
        return "is cut short (no trailer)", None
    return None, _sized(*struct.unpack_from("<HH", data, 6)) if len(data) >= 10 else None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return _sized(width & 0x3FFF, height & 0x3FFF)
    return None


_CHECKS: dict[str, Callable[[bytes], Examined]] = {
    "image/png": _png,
    "image/jpeg": _jpeg,
    "image/webp": _webp,
    "image/gif": _gif,
}
