"""The images the benchmarks swap, built deterministically and written once per run.

Inputs and results are real images, because swapkit checks both: an input's header (and a
PNG's chunks) before it is sent, a result fully decoded after it arrives.  Their content is
seeded noise, so a run on any machine swaps the same bytes:

* `noise_jpeg` is a JPEG of about a given size (100 KB, 5 MB): noise compresses so little that
  its size follows its pixel count closely;
* `photo_jpeg` is a JPEG of a given pixel count (11 MP at about 5 MB, the size of a phone
  photo): coarser noise, scaled up, so it compresses like a photograph;
* `padded_png` is a PNG of exactly a given size (50 MiB): an 8 x 8 image carrying private
  chunks, valid for every check, cheap to build, and as heavy on the wire as a real one.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import random
import struct
import zlib
from pathlib import Path

from PIL import Image

__all__ = ["Images", "Sizes", "noise_jpeg", "padded_png", "photo_jpeg"]

#: The JPEG quality every image is saved with (a camera's usual setting).
_QUALITY = 90
#: The size of each padding chunk of `padded_png`.
_PADDING_CHUNK = 64 * 1024


def _noise(width: int, height: int, seed: int) -> Image.Image:
    return Image.frombytes(
        "RGB", (width, height), random.Random(seed).randbytes(width * height * 3)
    )


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=_QUALITY)
    return out.getvalue()


def noise_jpeg(approximate_bytes: int, seed: int) -> bytes:
    """A square JPEG of noise within a few per cent of `approximate_bytes`."""
    side = max(16, round(math.sqrt(approximate_bytes)))  # noise at q90: about 1 byte a pixel
    data = _jpeg(_noise(side, side, seed))
    # one correction from the measured size: the size is near-linear in the pixel count
    side = max(16, round(side * math.sqrt(approximate_bytes / len(data))))
    return _jpeg(_noise(side, side, seed))


def photo_jpeg(width: int, height: int, seed: int) -> bytes:
    """A `width` x `height` JPEG that compresses like a photograph (11 MP: about 5 MB)."""
    coarse = _noise(max(1, width // 4), max(1, height // 4), seed)
    return _jpeg(coarse.resize((width, height), Image.Resampling.BILINEAR))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def padded_png(total_bytes: int) -> bytes:
    """A valid PNG of exactly `total_bytes`: an 8 x 8 image followed by private chunks.

    The padding comes as 64 KiB chunks after the pixel data, where a large PNG keeps its bulk
    (in IDAT chunks of that order): one chunk of the whole size would make Pillow read it
    into memory, twice over, on opening the file, which no real image asks of it.
    """
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 160, 120)).save(out, format="PNG")
    png = out.getvalue()
    padding = total_bytes - len(png)
    if padding != 0 and padding < 12:
        raise ValueError(f"a PNG of {total_bytes} bytes cannot be built from {len(png)}")
    sizes = [_PADDING_CHUNK] * (padding // (12 + _PADDING_CHUNK))
    rest = padding - len(sizes) * (12 + _PADDING_CHUNK)
    if rest >= 12:
        sizes.append(rest - 12)
    elif rest:
        sizes[-1] += rest  # too little left for a chunk of its own
    chunks = b"".join(_chunk(b"swPd", bytes(size)) for size in sizes)
    return png[:-12] + chunks + png[-12:]  # before the closing IEND chunk


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How large each image of a run is (`full()` the issue's sizes, `quick()` a smoke run)."""

    small_bytes: int
    large_input_bytes: int
    photo_pixels: tuple[int, int]
    huge_bytes: int

    @classmethod
    def full(cls) -> Sizes:
        return cls(100_000, 5_000_000, (4000, 2750), 50 * 2**20)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(2_000, 8_000, (64, 48), 64 * 2**10)


class Images:
    """The run's images, each built on first use and kept as a file in `folder`.

    Files, because the fake vendor (another process) serves the results, and each memory
    measurement (another fresh process) reads its inputs from disk.
    """

    def __init__(self, folder: Path, sizes: Sizes) -> None:
        self.folder = folder
        self.sizes = sizes

    def _file(self, name: str, build: functools.partial[bytes]) -> Path:
        path = self.folder / name
        if not path.exists():
            path.write_bytes(build())
        return path

    @property
    def face(self) -> Path:
        """The small source image (100 KB)."""
        return self._file("face.jpg", functools.partial(noise_jpeg, self.sizes.small_bytes, 1))

    @property
    def scene(self) -> Path:
        """The small target image (100 KB)."""
        return self._file("scene.jpg", functools.partial(noise_jpeg, self.sizes.small_bytes, 2))

    @property
    def large_face(self) -> Path:
        """The large source image (5 MB)."""
        size = self.sizes.large_input_bytes
        return self._file("large-face.jpg", functools.partial(noise_jpeg, size, 3))

    @property
    def large_scene(self) -> Path:
        """The large target image (5 MB)."""
        size = self.sizes.large_input_bytes
        return self._file("large-scene.jpg", functools.partial(noise_jpeg, size, 4))

    @property
    def small_result(self) -> Path:
        """The result most swaps get back (100 KB)."""
        return self._file("result.jpg", functools.partial(noise_jpeg, self.sizes.small_bytes, 5))

    @property
    def photo_result(self) -> Path:
        """The large result (11 MP, about 5 MB)."""
        width, height = self.sizes.photo_pixels
        return self._file("result-11mp.jpg", functools.partial(photo_jpeg, width, height, 6))

    @property
    def huge(self) -> Path:
        """The image of the memory case (50 MiB), sent as both source and target."""
        return self._file("huge.png", functools.partial(padded_png, self.sizes.huge_bytes))
