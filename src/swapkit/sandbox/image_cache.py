"""Checked input images and rendered results, remembered by content: bounded per-swap work.

Design decisions:

- Nearly all of a swap's cost is Pillow's: decoding both inputs (every pixel, so that a corrupt
  or truncated file is refused as the vendor would refuse it), the no-face check (`getextrema`
  over every pixel), a vendor's own analysis (DeepSwapAI counts faces), then compositing and
  encoding the result: about 15 ms for two 100 KB JPEGs, far more for large images. All of it is
  a pure function of the input bytes and the request's parameters, so it is done once per
  distinct input and remembered. A load test, a demo or a test suite that sends the same images
  again pays only for reading the JSON body and one dictionary lookup per image (hashing and
  comparing the base64 string, at memory speed); no Pillow work at all.
- Requests that miss the same key at once wait for one computation (a thousand connections
  sending the same new image decode it once, not a thousand times).
- Nothing a vendor checks changes, and neither does any answer: the remembered values are the
  very ones the checks computed, and only successes are remembered. An input that fails (not
  base64, too large, not an image, too many pixels) is checked again each time and fails the
  same way; the no-face check and a vendor's analysis are memoized on the decoded image
  (`SwapImage.derive`), so a flat image is refused every time without being decoded again.
- Keys are the content itself, never a digest: after the hashes match, a dictionary lookup
  compares the whole key, so two different inputs can never share an entry. A base64 input is
  keyed by its exact string and the size limit it was checked against (the limit decides the
  answer); a fetched or uploaded one by its bytes.
- Rendered results are keyed by the serial numbers of their input entries and the vendor's
  parameters (its name first). A serial is never reused, so an image that was evicted and decoded
  again gets a new one and cannot pick up a stale render. Images that were not remembered have
  no serial, and their results are rendered every time.
- Bounded memory: a cache holds at most `image_bytes` of decoded pixels (plus keys) and
  `result_bytes` of encoded results, least recently used out first, and never remembers an item
  over a quarter of its budget (a 50-megapixel input is decoded every time rather than flush
  everything else). Each `Sandbox` has its own, 128 MiB and 64 MiB by default.
- Remembered images are shared between threads and never modified: every helper in `images.py`
  works on copies (`convert`, `resize`, `ImageOps.fit`).
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from .images import SwapImage, decode_base64_image, open_image

__all__ = ["ImageCache"]

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")

_IMAGE_BYTES = 128 * 1024 * 1024
_RESULT_BYTES = 64 * 1024 * 1024


class _Pending(Generic[_V]):
    """A computation under way; threads wanting the same key wait for it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: _V | None = None


class _LeastRecentlyUsed(Generic[_K, _V]):
    """A thread-safe mapping bounded by the total size of its values, computing each missing
    value once even when many threads want it at once."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[_K, tuple[_V, int]] = OrderedDict()
        self._pending: dict[_K, _Pending[_V]] = {}
        self._size = 0

    def fits(self, size: int) -> bool:
        """Whether a value of `size` is remembered: at most a quarter of the budget."""
        return size <= self.max_bytes // 4

    def get_or_compute(self, key: _K, compute: Callable[[], _V], size: Callable[[_V], int]) -> _V:
        """The value of `key`, computed by `compute()` when missing and remembered if it fits.

        Threads that miss a key while another computes it wait for that result. If the
        computation raises, each of them computes again (and raises its own error: an error
        names the request's own field, and is never remembered).
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry[0]
            pending = self._pending.get(key)
            owner = pending is None
            if pending is None:
                pending = self._pending[key] = _Pending()
        if not owner:
            pending.done.wait()
            return compute() if pending.value is None else pending.value
        try:
            value = pending.value = compute()
            self._put(key, value, size(value))
            return value
        finally:
            with self._lock:
                del self._pending[key]
            pending.done.set()

    def _put(self, key: _K, value: _V, size: int) -> None:
        if not self.fits(size):
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._size -= previous[1]
            self._entries[key] = (value, size)
            self._size += size
            while self._size > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._size -= evicted

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0


class ImageCache:
    """Decoded, checked input images and encoded results of one sandbox (module docstring).

    Thread-safe. Requests that miss the same key at once wait for one computation.
    """

    def __init__(self, *, image_bytes: int = _IMAGE_BYTES, result_bytes: int = _RESULT_BYTES):
        self._images: _LeastRecentlyUsed[tuple[str, int] | bytes, SwapImage] = _LeastRecentlyUsed(
            image_bytes
        )
        self._results: _LeastRecentlyUsed[tuple[Hashable, ...], bytes] = _LeastRecentlyUsed(
            result_bytes
        )
        self._serials = itertools.count(1)

    def decode(self, payload: str, field: str, max_bytes: int) -> SwapImage:
        """`open_image(decode_base64_image(payload, field, max_bytes), field)`, remembered."""
        return self._images.get_or_compute(
            (payload, max_bytes),
            lambda: self._numbered(
                open_image(decode_base64_image(payload, field, max_bytes), field)
            ),
            _image_size,
        )

    def open(self, data: bytes, field: str) -> SwapImage:
        """`open_image(data, field)`, remembered."""
        return self._images.get_or_compute(
            data, lambda: self._numbered(open_image(data, field)), _image_size
        )

    def render(
        self,
        inputs: Sequence[SwapImage],
        parameters: tuple[Hashable, ...],
        render: Callable[[], bytes],
    ) -> bytes:
        """The encoded result of `inputs` with `parameters`: `render()`, remembered.

        `parameters` must name everything the result depends on besides the input images,
        starting with the vendor's name. Inputs that were not remembered (no serial) are
        rendered every time.
        """
        serials = tuple(image.serial for image in inputs)
        if None in serials:
            return render()
        return self._results.get_or_compute((*parameters, serials), render, len)

    def clear(self) -> None:
        """Forget everything (a sandbox reset does not need to: nothing here is state)."""
        self._images.clear()
        self._results.clear()

    def _numbered(self, image: SwapImage) -> SwapImage:
        """`image` with a serial when it will be remembered, else as it is."""
        if not self._images.fits(_image_size(image)):
            return image
        return SwapImage(image=image.image, size_bytes=image.size_bytes, serial=next(self._serials))


def _image_size(image: SwapImage) -> int:
    """What remembering `image` costs: its pixels (4 bytes each at most) and its key (the
    encoded file, or its base64 text: under twice the file's size)."""
    return image.image.width * image.image.height * 4 + 2 * image.size_bytes
