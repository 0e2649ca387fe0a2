"""Image inputs and the fake face swap: decode, check, composite, encode.

Design decisions (vendor-neutral; each vendor module words its own error messages):

- Inputs are raw base64, a `data:` URI (`data:image/png;base64,...`) or an http(s) URL. URL
  fetching is the vendor module's job (it knows the sandbox's own result store); this module only
  classifies the string and decodes base64.
- Size limits count **decoded bytes** (a vendor's "10 MB" is read as 10 MiB, 10 * 1024 * 1024),
  checked before the image is parsed, so a too-large upload is reported as too large even when it
  is not an image at all.
- Accepted input formats are JPEG, PNG and WebP (what the vendors emit). Anything else, bytes
  Pillow cannot decode, or more than 50 megapixels (a decompression bomb) is an invalid format.
- **No-face rule**: an image of one flat colour (every band's `getextrema()` has min == max) has no
  detectable face; any other image has a face (exactly one, except where a vendor counts faces
  itself, in its own subpackage). Deterministic, cheap and easy to produce in a test
  (`Image.new("RGB", (8, 8), "white")`).
- The "swap" pastes the source, cropped square and scaled to 40 % of the target's shorter side,
  into the centre of the target (or around a given point) through an elliptical mask. Output
  size always equals the target size. Cartoon styles posterize the result.
- Every check above decodes every pixel, and rendering is Pillow work proportional to the image:
  this is most of a swap's cost. Vendors therefore read inputs through the sandbox's
  `ImageCache` (`image_cache.py`), which does it once per distinct input and result, and
  memoize the no-face check on the decoded image (`SwapImage.derive(has_face)`). The helpers
  here never modify an image they are given, so one decoded image can serve many requests.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from PIL import Image, ImageDraw, ImageOps

__all__ = [
    "ACCEPTED_INPUT_FORMATS",
    "MAX_PIXELS",
    "MEDIA_TYPES",
    "ImageProblem",
    "ImageProblemKind",
    "SwapImage",
    "check_size",
    "composite",
    "decode_base64_image",
    "encode_image",
    "has_face",
    "open_image",
    "sniff_media_type",
    "split_image_reference",
]

ACCEPTED_INPUT_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
MAX_PIXELS = 50_000_000
"""Larger inputs (decompression bombs, mostly) are refused as invalid images."""
MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}

_T = TypeVar("_T")

ImageProblemKind = Literal["format", "too_large", "no_face", "fetch"]


class ImageProblem(Exception):
    """An input image the vendor would reject; `kind` tells the vendor module which wording."""

    def __init__(self, kind: ImageProblemKind, field: str, detail: str = "") -> None:
        super().__init__(f"{field}: {kind} {detail}".strip())
        self.kind: ImageProblemKind = kind
        self.field = field
        self.detail = detail


@dataclass(frozen=True, eq=False)
class SwapImage:
    """A decoded input image and its encoded size.

    `serial` numbers an image remembered by the sandbox's `ImageCache` (None otherwise), so that
    results rendered from it can be remembered too. `derive(function)` computes a pure function
    of the pixels once per image (`derive(has_face)`); the image itself is never modified, and
    may be shared by several requests at once.
    """

    image: Image.Image
    size_bytes: int
    serial: int | None = None
    _derived: dict[Callable[[Image.Image], Any], Any] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )

    def derive(self, function: Callable[[Image.Image], _T]) -> _T:
        """`function(self.image)`, computed once per image (pass a module-level function)."""
        try:
            value: _T = self._derived[function]
        except KeyError:
            value = self._derived[function] = function(self.image)
        return value


def split_image_reference(value: str) -> tuple[Literal["url", "base64"], str]:
    """Classify an image string: `("url", url)` or `("base64", payload without data: prefix)`."""
    stripped = value.strip()
    lowered = stripped[:8].lower()
    if lowered.startswith(("http://", "https://")):
        return "url", stripped
    if lowered.startswith("data:"):
        header, _, payload = stripped.partition(",")
        if ";base64" not in header.lower():
            return "base64", ""  # a non-base64 data: URI decodes to nothing useful
        return "base64", payload
    return "base64", stripped


def decode_base64_image(payload: str, field: str, max_bytes: int) -> bytes:
    """Decode standard base64 (whitespace tolerated, padding required); check the size limit."""
    compact = "".join(payload.split())
    if not compact:
        raise ImageProblem("format", field, "empty image")
    # Cheap pre-check so a huge string is rejected without decoding it: 4 chars per 3 bytes.
    if (len(compact) // 4) * 3 - compact[-2:].count("=") > max_bytes:
        raise ImageProblem("too_large", field, str((len(compact) // 4) * 3))
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageProblem("format", field, "not valid base64") from exc
    check_size(data, field, max_bytes)
    return data


def check_size(data: bytes, field: str, max_bytes: int) -> None:
    """Raise `too_large` when `data` is over `max_bytes`."""
    if len(data) > max_bytes:
        raise ImageProblem("too_large", field, str(len(data)))


def open_image(data: bytes, field: str) -> SwapImage:
    """Decode `data` with Pillow; JPEG, PNG and WebP only."""
    try:
        image = Image.open(io.BytesIO(data))
        image_format = image.format
        if image_format not in ACCEPTED_INPUT_FORMATS:
            raise ImageProblem("format", field, f"unsupported format {image_format}")
        # Refuse decompression bombs before decoding any pixels.
        if image.width * image.height > MAX_PIXELS:
            raise ImageProblem("format", field, "too many pixels")
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageProblem("format", field, "not a decodable image") from exc
    except Warning as exc:  # DecompressionBombWarning, when warnings are errors (pytest)
        raise ImageProblem("format", field, "too many pixels") from exc
    return SwapImage(image=image, size_bytes=len(data))


def sniff_media_type(data: bytes) -> str | None:
    """The media type of common image bytes, from their magic number (None when unknown)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    return None


def has_face(image: Image.Image) -> bool:
    """The sandbox's face detector: any image that is not one flat colour has a face."""
    extrema = image.getextrema()
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    return any(low != high for low, high in bands)


def composite(
    source: Image.Image,
    target: Image.Image,
    *,
    posterize: bool = False,
    centre: tuple[float, float] | None = None,
) -> Image.Image:
    """Paste `source` into `target` through an elliptical mask.

    The face is centred on `centre` (fractions of the width and height; default the middle),
    moved inwards where it would cross an edge.
    """
    has_alpha = target.mode in ("RGBA", "LA") or "transparency" in target.info
    base = target.convert("RGBA" if has_alpha else "RGB")
    side = max(1, int(min(base.size) * 0.4))
    face = ImageOps.fit(source.convert(base.mode), (side, side))
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, side - 1, side - 1), fill=255)
    if centre is None:
        left = (base.width - side) // 2
        top = (base.height - side) // 2
    else:
        left = min(max(0, round(centre[0] * base.width - side / 2)), base.width - side)
        top = min(max(0, round(centre[1] * base.height - side / 2)), base.height - side)
    base.paste(face, (left, top), mask)
    if posterize:
        if has_alpha:
            alpha = base.getchannel("A")
            base = ImageOps.posterize(base.convert("RGB"), 3)
            base.putalpha(alpha)
        else:
            base = ImageOps.posterize(base, 3)
    return base


def encode_image(image: Image.Image, output_format: str, quality: int) -> bytes:
    """Encode as `jpeg` / `png` / `webp`; `quality` applies to the lossy formats."""
    buffer = io.BytesIO()
    pil_format = _PIL_FORMATS[output_format]
    if pil_format == "JPEG":
        image.convert("RGB").save(buffer, "JPEG", quality=quality)
    elif pil_format == "WEBP":
        image.save(buffer, "WEBP", quality=quality)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()
