"""What a swap leaves behind: no HTTP response for the garbage collector to find.

httpx's response and the stream it binds to it refer to each other.  A swap that left such a
pair behind kept its body (a result of megabytes) alive until a collection ran, and the
allocator grew the heap around it, gave it back and faulted it in again on every swap.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import httpx
import pluggy

from swapkit import AsyncSwapClient, SwapClient

from .conftest import make_image

PROVIDER = "prospolabs"


def test_a_swap_leaves_no_response_cycle(
    kind: str, settings: dict[str, Any], plugin_manager: pluggy.PluginManager
) -> None:
    source, target = make_image((48, 40), (200, 150, 90)), make_image((64, 56))
    options = {"providers": {PROVIDER: settings}, "plugin_manager": plugin_manager}

    def swap_twice() -> list[bytes]:
        if kind == "sync":
            with SwapClient(**options) as client:
                return [client.swap(source=source, target=target).image for _ in range(2)]

        async def run() -> list[bytes]:
            async with AsyncSwapClient(**options) as client:
                return [(await client.swap(source=source, target=target)).image for _ in range(2)]

        return asyncio.run(run())

    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        images = swap_twice()
        gc.collect()
        left = [item for item in gc.garbage if isinstance(item, httpx.Response)]
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        gc.enable()
    assert all(images)
    assert left == []
