"""DeepSwapAI's images: how many faces a target has, the output size of each quality, the swap.

Design decisions (the vendor documents `faces_detected`, `face_index` and the three qualities
but not how they behave; docs/sandbox.md lists the same rules):

- **Faces.** The shared no-face rule holds: an image of one flat colour has no face. Any other
  image has at least one. To make `face_index` testable, a target can have several: when one
  colour (the most common, give or take 64 per channel, which absorbs most JPEG artefacts)
  covers at least half of the image, that colour is the *background* and every separate region
  of other pixels (8-connected) is one face, numbered in reading order (the order in which a
  scan row by row, left to right, first meets them). An image without such a background (a
  photo) has one face, in the middle. At most 50 faces are counted (the vendor's "up to 50
  faces" [D: D-ABOUT]). The count runs on a copy scaled down to fit 128x128 (nearest
  neighbour), so it stays cheap on large images; regions smaller than 1/128 of the image may
  then be missed (never below one face). Pillow finds the background and the foreground pixels
  (`getcolors`, `ImageChops`); only the region walk is Python, and the vendor memoizes the
  count per target image (`SwapImage.derive`). A test checks it against the rule applied one
  pixel at a time.
- **Sizes.** `high` keeps the target's size, reduced to fit 3840x2160 if larger (the documented
  maximum is 4K); `4k` scales the target up or down to fit 3840x2160; `standard` reduces it to
  fit 1280x720 (never enlarges it). The boxes turn with the image (2160x3840 for a portrait
  target) and keep the aspect ratio; each side is rounded, at least 1 px. The `output_scale`
  option multiplies both boxes, so tests can ask for `4k` without encoding 8 megapixels.
- **The swap.** The target is resized to the output size, then the source (cropped square, 40 %
  of the shorter side) is pasted through an ellipse, centred on the chosen face.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageChops

from ...images import composite, has_face

__all__ = [
    "BOX_4K",
    "BOX_STANDARD",
    "MAX_FACES",
    "Face",
    "Quality",
    "detect_faces",
    "output_size",
    "swap_face",
]

Quality = Literal["standard", "high", "4k"]

BOX_4K = (3840, 2160)
BOX_STANDARD = (1280, 720)
MAX_FACES = 50
_ANALYSIS_SIDE = 128
_TOLERANCE = 64


@dataclass(frozen=True)
class Face:
    """A detected face: the centre of its region, as fractions of the width and height."""

    centre_x: float
    centre_y: float


_MIDDLE = Face(0.5, 0.5)
_FOREGROUND_TABLE = [255 if value > _TOLERANCE else 0 for value in range(256)]
"""`Image.point` table: a channel difference over the tolerance marks a foreground pixel."""


def detect_faces(image: Image.Image) -> list[Face]:
    """The faces of `image` under the sandbox's rule (module docstring), in reading order."""
    if not has_face(image):
        return []
    rgb = image.convert("RGB")
    if max(rgb.size) > _ANALYSIS_SIDE:
        factor = _ANALYSIS_SIDE / max(rgb.size)
        size = (max(1, round(rgb.width * factor)), max(1, round(rgb.height * factor)))
        rgb = rgb.resize(size, Image.Resampling.NEAREST)
    width, height = rgb.size
    # Pillow does the per-pixel work (this runs once per target image: callers memoize it with
    # `SwapImage.derive`): the most common colour, largest colour value on a tie, as the
    # background; then a pixel is foreground when a channel differs from it by more than the
    # tolerance.
    colours = rgb.getcolors(width * height)  # never None: there are no more colours than pixels
    assert colours is not None
    background = max(colours)[1]
    assert isinstance(background, tuple)
    difference = ImageChops.difference(rgb, Image.new("RGB", rgb.size, background))
    red, green, blue = difference.split()
    farthest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    foreground = farthest.point(_FOREGROUND_TABLE)
    if 2 * foreground.histogram()[0] < width * height:
        return [_MIDDLE]  # no background colour: a photo, one face
    faces = _regions(foreground.tobytes(), width, height)
    return faces or [_MIDDLE]


def _regions(foreground: bytes, width: int, height: int) -> list[Face]:
    """The 8-connected regions of `foreground` (non-zero bytes, row by row), in reading order
    (at most `MAX_FACES`)."""
    seen = [False] * len(foreground)
    faces: list[Face] = []
    for start, is_face in enumerate(foreground):
        if not is_face or seen[start]:
            continue
        seen[start] = True
        stack = [start]
        left, top, right, bottom = width, height, -1, -1
        while stack:
            index = stack.pop()
            y, x = divmod(index, width)
            left, top, right, bottom = min(left, x), min(top, y), max(right, x), max(bottom, y)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    nx, ny = x + dx, y + dy
                    if 0 <= nx < width and 0 <= ny < height:
                        neighbour = ny * width + nx
                        if foreground[neighbour] and not seen[neighbour]:
                            seen[neighbour] = True
                            stack.append(neighbour)
        faces.append(Face((left + right + 1) / 2 / width, (top + bottom + 1) / 2 / height))
        if len(faces) == MAX_FACES:
            break
    return faces


def output_size(size: tuple[int, int], quality: Quality, scale: float = 1.0) -> tuple[int, int]:
    """The result's size for a target of `size` (module docstring); `scale` shrinks the boxes."""
    width, height = size
    long_side, short_side = BOX_STANDARD if quality == "standard" else BOX_4K
    box_width, box_height = (long_side, short_side) if width >= height else (short_side, long_side)
    box_width = max(1, round(box_width * scale))
    box_height = max(1, round(box_height * scale))
    factor = min(box_width / width, box_height / height)
    if quality != "4k":
        factor = min(1.0, factor)
    return max(1, round(width * factor)), max(1, round(height * factor))


def swap_face(
    source: Image.Image, target: Image.Image, face: Face, size: tuple[int, int]
) -> Image.Image:
    """The target at `size` with the source pasted on `face`."""
    has_alpha = target.mode in ("RGBA", "LA") or "transparency" in target.info
    base = target.convert("RGBA" if has_alpha else "RGB")
    if base.size != size:
        base = base.resize(size, Image.Resampling.BICUBIC)
    return composite(source, base, centre=(face.centre_x, face.centre_y))
