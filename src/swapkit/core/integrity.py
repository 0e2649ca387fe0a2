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
here raises.
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["declared_size", "structural_problem"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG markers without a length (standalone): TEM, RST0-7, SOI, EOI.
_STANDALONE = {0x01, *range(0xD0, 0xD8), 0xD8, 0xD9}
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def structural_problem(data: bytes, media_type: str) -> str | None:
    """What is wrong with the structure of `data` (None when it is whole), or ``"unchecked"``
    for a format this module does not know (decode it instead)."""
    check = _CHECKS.get(media_type)
    if check is None:
        return "unchecked"
    try:
        return check(memoryview(data))
    except (struct.error, IndexError, ValueError):  # pragma: no cover - bounds are checked
        return "is damaged"


def _png(data: memoryview) -> str | None:
    if bytes(data[:8]) != _PNG_SIGNATURE:
        return "does not start with the PNG signature"
    offset, first, seen_data = 8, True, False
    end = len(data)
    while offset + 12 <= end:
        length, kind = struct.unpack_from(">I4s", data, offset)
        body_end = offset + 8 + length
        if body_end + 4 > end:
            return f"is cut short inside its {kind.decode('latin-1')!r} chunk"
        (crc,) = struct.unpack_from(">I", data, body_end)
        if zlib.crc32(data[offset + 4 : body_end]) != crc:
            return f"is damaged (its {kind.decode('latin-1')!r} chunk fails its checksum)"
        if first and kind != b"IHDR":
            return "does not begin with an IHDR chunk"
        first = False
        seen_data = seen_data or kind == b"IDAT"
        offset = body_end + 4
        if kind == b"IEND":
            return None if seen_data else "has no image data (no IDAT chunk)"
    return "is cut short (no IEND chunk)"


def _jpeg(data: memoryview) -> str | None:
    return _jpeg_walk(data)[0]


def _jpeg_walk(data: memoryview) -> tuple[str | None, tuple[int, int] | None]:
    """What is wrong with a JPEG's structure (None when whole), and the size its frame header
    declares (None when there is none)."""
    end = len(data)
    if end < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return "does not start with a JPEG start-of-image marker", None
    offset, size = 2, None
    while offset + 4 <= end:
        if data[offset] != 0xFF:
            return "is damaged (a marker is missing where one must be)", size
        marker = data[offset + 1]
        if marker == 0xFF:  # fill bytes before a marker
            offset += 1
            continue
        if marker in _STANDALONE:
            if marker == 0xD9:
                return "ends before its image data", size
            offset += 2
            continue
        (length,) = struct.unpack_from(">H", data, offset + 2)
        if length < 2 or offset + 2 + length > end:
            return "is cut short inside a header segment", size
        if marker in _SOF and length >= 7 and size is None:
            height, width = struct.unpack_from(">HH", data, offset + 5)
            size = (width, height) if width and height else None
        offset += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data, then (maybe more scans and) EOI
            if size is None:
                return "has no frame header", None
            # 0xFF 0xD9 cannot occur inside entropy-coded data (0xFF is always stuffed), so
            # the last one is the end of the image; trailing bytes after it are tolerated
            whole = data.obj if isinstance(data.obj, bytes) else bytes(data)
            if whole.rfind(b"\xff\xd9", offset) < 0:
                return "is cut short (no end-of-image marker)", size
            return None, size
    return "is cut short before its image data", size


def _webp(data: memoryview) -> str | None:
    end = len(data)
    if end < 20 or bytes(data[:4]) != b"RIFF" or bytes(data[8:12]) != b"WEBP":
        return "does not start with a WebP header"
    (size,) = struct.unpack_from("<I", data, 4)
    if size + 8 != end:
        return f"is {'cut short' if size + 8 > end else 'followed by extra bytes'} (RIFF size)"
    offset = 12
    while offset + 8 <= end:
        (length,) = struct.unpack_from("<I", data, offset + 4)
        offset += 8 + length + (length & 1)
    return None if offset == end else "is damaged (its chunks do not fill the file)"


def _gif(data: memoryview) -> str | None:
    if bytes(data[:6]) not in (b"GIF87a", b"GIF89a"):
        return "does not start with a GIF header"
    return None if bytes(data[-1:]) == b";" else "is cut short (no trailer)"


_CHECKS = {"image/png": _png, "image/jpeg": _jpeg, "image/webp": _webp, "image/gif": _gif}


def declared_size(data: bytes, media_type: str) -> tuple[int, int] | None:
    """Width and height as the header declares them, for a file `structural_problem` found
    whole (None when this module cannot read them: ask Pillow)."""
    try:
        if media_type == "image/png":
            width, height = struct.unpack_from(">II", data, 16)
        elif media_type == "image/gif":
            width, height = struct.unpack_from("<HH", data, 6)
        elif media_type == "image/jpeg":
            return _jpeg_walk(memoryview(data))[1]
        elif media_type == "image/webp":
            return _webp_size(data)
        else:
            return None
    except struct.error:
        return None
    return (width, height) if width and height else None


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
        return width & 0x3FFF, height & 0x3FFF
    return None
