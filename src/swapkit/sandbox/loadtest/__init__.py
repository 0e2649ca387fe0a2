"""Load test of the sandbox: many concurrent keep-alive connections doing whole swaps.

Run: ``python -m swapkit.sandbox.loadtest --connections 1000 --swaps 3000``.

It serves a sandbox in a child process (or uses `--url` for one already running), opens every
connection at once (which is what tests the listen backlog), has each connection do whole swaps
one after the other until `--swaps` are done, then prints swaps per second, errors, latency, and
the CPU time and peak memory of both processes. The exit status is 1 when anything failed.

Design decisions:

- This package is a *client* of the sandbox, like the tests: `swaps.py` names the vendors whose
  exchanges it drives (written from their contracts, each step checked), which the sandbox's
  shared machinery never does. It imports nothing from the rest of swapkit.
- The client is a minimal HTTP/1.1 client on asyncio streams (`client.py`: `Content-Length`
  bodies only, which is all the sandbox sends), not httpx: on a small machine the load
  generator shares the CPU with the server, and it must cost far less than what it measures.
  Request bodies are built once, like a benchmark sending the same images.
- The inputs are `--images` distinct pairs of JPEG photos of about `--image-kb` KB (blurred
  noise, which compresses like a photo), taken in turn. The sandbox remembers what it derives
  from an input by its content (`image_cache.py`), so a few pairs measure the warm path, and
  `--images` at least `--swaps` a cold decode and render on every swap.
- `--profile FILE` profiles the served sandbox (the CPU time of every thread: `cProfile` with
  `time.thread_time`) into a `pstats` file; `--profile-top N` prints its top N functions.
  Profiling slows pure-Python code far more than Pillow's, so read it for where time goes, not
  for absolute figures.
"""

from __future__ import annotations

from .command import main
from .run import LoadResult, make_photo, run_load
from .swaps import SWAP_KINDS

__all__ = ["SWAP_KINDS", "LoadResult", "main", "make_photo", "run_load"]
