"""One load run: open the connections at once, swap until done, measure.

Every connection is opened before the first swap, so a server with a short listen backlog shows
it here (refused or reset connections). Then each connection does whole swaps, one at a time,
taking the next prepared swap in turn, until `swaps` have been started. A connection that
breaks is counted once as an error and not used again; a swap that gets a wrong answer is
counted and the connection goes on.
"""

from __future__ import annotations

import asyncio
import io
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from PIL import Image, ImageFilter

from .client import Connection, StepFailed
from .swaps import prepare_swaps, run_swap

__all__ = ["LoadResult", "make_photo", "run_load"]


def make_photo(approx_bytes: int, seed: int) -> bytes:
    """A square JPEG of about `approx_bytes` (within ~10 %) that compresses like a photo
    (blurred noise); the same for the same seed."""
    rng = random.Random(seed)
    side = 64
    for _ in range(8):  # bytes grow with the area: aim the side at the size, then correct
        noise = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        buffer = io.BytesIO()
        noise.filter(ImageFilter.GaussianBlur(1.2)).save(buffer, "JPEG", quality=90)
        ratio = approx_bytes / buffer.tell()
        if 0.95 <= ratio <= 1.05:
            break
        side = max(8, min(8192, round(side * ratio**0.5)))
    return buffer.getvalue()


@dataclass
class LoadResult:
    """What a load run measured."""

    connections: int
    swaps: int = 0
    seconds: float = 0.0
    connect_seconds: float = 0.0
    cpu_seconds: float = 0.0
    """The load generator's own CPU time while connecting and swapping (inputs excluded)."""
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        """Every error, of every kind."""
        return sum(self.errors.values())

    @property
    def swaps_per_second(self) -> float:
        """Completed swaps per second, from the first swap to the last (connecting excluded)."""
        return self.swaps / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """A few lines for a terminal."""
        lines = [
            f"connections: {self.connections} (all open after {self.connect_seconds:.2f} s)",
            f"swaps: {self.swaps} in {self.seconds:.2f} s = {self.swaps_per_second:.0f} swaps/s",
            f"errors: {self.error_count}",
        ]
        lines += [f"  {count} x {kind}" for kind, count in self.errors.most_common(10)]
        if self.latencies:
            ordered = sorted(self.latencies)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            lines.append(
                f"swap latency: median {statistics.median(ordered) * 1000:.0f} ms, "
                f"p99 {p99 * 1000:.0f} ms"
            )
        return "\n".join(lines)


async def run_load(
    url: str,
    *,
    connections: int,
    swaps: int,
    vendor: str = "prospolabs",
    image_kb: float = 100.0,
    images: int = 4,
    timeout: float = 60.0,
) -> LoadResult:
    """Open `connections` at once to the sandbox at `url`, then do `swaps` whole swaps.

    `vendor` is one of `SWAP_KINDS`; the inputs are `images` pairs of photos of about
    `image_kb` KB each. A swap that takes over `timeout` seconds is an error.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    size = int(image_kb * 1024)
    pairs = [(make_photo(size, 2 * i), make_photo(size, 2 * i + 1)) for i in range(images)]
    prepared = prepare_swaps(vendor, pairs)
    result = LoadResult(connections=connections)

    cpu_started = time.process_time()
    started = time.perf_counter()
    opened = await asyncio.gather(
        *(Connection.open(host, port) for _ in range(connections)), return_exceptions=True
    )
    result.connect_seconds = time.perf_counter() - started
    live = []
    for item in opened:
        if isinstance(item, Connection):
            live.append(item)
        else:
            result.errors[f"connect: {type(item).__name__}"] += 1
    started_swaps = 0

    async def work(connection: Connection) -> None:
        nonlocal started_swaps
        try:
            while started_swaps < swaps:
                swap = prepared[started_swaps % len(prepared)]
                started_swaps += 1
                began = time.perf_counter()
                try:
                    await asyncio.wait_for(run_swap(connection, swap), timeout)
                except StepFailed as exc:
                    result.errors[str(exc)] += 1
                    continue
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
                    result.errors[f"{swap.kind}: {type(exc).__name__}"] += 1
                    return  # this connection is broken
                result.latencies.append(time.perf_counter() - began)
                result.swaps += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(work(connection) for connection in live))
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    return result
