"""One memory measurement, in a fresh process: the peak extra memory of one swap.

The parent (`benchmarks.suite`) starts ``python -m benchmarks.memory ...`` once per sample, for
the floor and for swapkit in turns, so no measurement inherits another's heap.  The child reads
its images, builds its client, runs one whole swap as a warm-up (imports, connection, lazy
state), then measures one more swap twice over:

* **peak RSS** (the number the issue's targets use): the kernel's high-water mark of the
  process's resident memory is reset (``/proc/self/clear_refs``), the swap runs, and the new
  mark minus the resident size before the swap is the extra.  It sees every allocation, Pillow's
  pixel buffers included.  The parent sets ``MALLOC_MMAP_THRESHOLD_`` so that glibc gives every
  large buffer its own mapping and returns it when freed: the warm-up then leaves no freed heap
  behind for the measured swap to reuse unseen.  Where ``/proc`` is missing (macOS), the
  process's lifetime peak (``ru_maxrss``) is used instead, and says so;
* **tracemalloc's peak**: Python's own allocations during the swap (bytes, str, lists), which
  shows *which* copies there are, but misses memory that C libraries allocate themselves.

It prints one JSON object: ``rss_extra`` and ``traced_peak`` in bytes, and the RSS method.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import httpx

__all__ = ["MMAP_THRESHOLD", "main"]

#: glibc's initial mmap threshold, fixed (it otherwise rises to 32 MiB after a large free).
MMAP_THRESHOLD = 128 * 1024
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _reset_peak() -> bool:
    """Reset the high-water mark of the resident set (Linux); False where it cannot be."""
    try:
        _CLEAR_REFS.write_text("5")
        _status_kib("VmHWM")
    except (OSError, LookupError):
        return False
    return True


def _max_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def peak_rss_extra(action: Callable[[], None]) -> tuple[int, str]:
    """The extra resident memory `action` peaks at, and how it was measured."""
    gc.collect()
    if _reset_peak():
        before = _status_kib("VmRSS")
        action()
        return (_status_kib("VmHWM") - before) * 1024, "VmHWM after clear_refs"
    before = _max_rss_bytes()
    action()
    return max(0, _max_rss_bytes() - before), "ru_maxrss (lifetime peak: a lower bound)"


def traced_peak(action: Callable[[], None]) -> int:
    """Python's allocations at their peak during `action` (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        action()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.memory --impl raw|swapkit --vendor V --base-url U --source S
    --target T --out O`` (``--target`` the same path as ``--source``: one image object)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("--impl", choices=("raw", "swapkit"), required=True)
    parser.add_argument("--vendor", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--target", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    source = args.source.read_bytes()
    # the same image as source and target is one bytes object, as a caller would pass it
    target = source if args.target == args.source else args.target.read_bytes()
    vendor, base_url, out = args.vendor, args.base_url, args.out

    if args.impl == "raw":
        from .raw import SYNC_SWAPS

        http = httpx.Client()
        floor = SYNC_SWAPS[vendor]

        def swap() -> None:
            floor(http, base_url, source, target, out)

        close: Callable[[], None] = http.close
    else:
        from . import cases

        client = cases.sync_client({vendor: base_url})

        def swap() -> None:
            cases.swap(client, vendor, source, target, out)

        close = client.close

    swap()  # warm-up: imports, the connection, every lazy first use
    rss_extra, rss_method = peak_rss_extra(swap)
    traced = traced_peak(swap)
    close()
    json.dump({"rss_extra": rss_extra, "traced_peak": traced, "rss_method": rss_method}, sys.stdout)


if __name__ == "__main__":
    main()
