"""What swapkit adds to a swap: time per call and peak memory for a large image.

Run: ``python benchmarks/bench_overhead.py``.  The vendor is an in-memory httpx transport that
answers at once, so everything measured is swapkit's own work: loading and encoding the
images, building the request, parsing the answer, downloading and measuring the result.
"""

from __future__ import annotations

import io
import json
import struct
import time
import tracemalloc
import zlib

import httpx
from PIL import Image

from swapkit import SwapClient
from swapkit.core.plugins import make_plugin_manager


def _png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(out, format="PNG")
    return out.getvalue()


RESULT = _png((64, 64))


def _vendor(request: httpx.Request) -> httpx.Response:
    if request.url.path.startswith("/results/"):
        return httpx.Response(200, content=RESULT, headers={"content-type": "image/png"})
    body = {
        "request_id": "r1",
        "status": "completed",
        "model": "realistic",
        "result_url": "https://vendor.invalid/results/r1.png",
        "inference_time": 1.0,
    }
    return httpx.Response(200, content=json.dumps(body).encode())


class _StreamingVendor(httpx.BaseTransport):
    """Reads the request body chunk by chunk, as a socket would (MockTransport joins it)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _chunk in request.stream:  # type: ignore[union-attr]
            pass
        return _vendor(request)


def _client() -> SwapClient:
    return SwapClient(
        providers={"prospolabs": {"api_key": "k", "base_url": "https://vendor.invalid"}},
        plugin_manager=make_plugin_manager(entry_points=False),
        http_client=httpx.Client(transport=_StreamingVendor()),
    )


def per_call_overhead(calls: int = 300) -> float:
    face, scene = _png((256, 256)), _png((512, 512))
    with _client() as client:
        client.swap(source=face, target=scene)  # warm up
        started = time.perf_counter()
        for _ in range(calls):
            client.swap(source=face, target=scene)
        return (time.perf_counter() - started) / calls


def peak_memory_for_large_image(megabytes: int = 9) -> tuple[int, int]:
    # A small PNG carrying a large private chunk: valid (inputs are checked), and only its
    # bytes matter here; the vendor limit is 10 MiB.
    small = _png((8, 8))
    padding = megabytes * 2**20
    chunk = b"swPd" + bytes(padding)
    blob = struct.pack(">I", padding) + chunk + struct.pack(">I", zlib.crc32(chunk))
    large = small[:33] + blob + small[33:]
    with _client() as client:
        tracemalloc.start()
        client.swap(source=large, target=large)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return len(large), peak


if __name__ == "__main__":
    print(f"per-call overhead: {per_call_overhead() * 1000:.2f} ms")
    size, peak = peak_memory_for_large_image()
    print(
        f"peak extra memory swapping a {size / 2**20:.0f} MiB image as source and target: "
        f"{peak / 2**20:.1f} MiB ({peak / size:.2f}x the image)"
    )
