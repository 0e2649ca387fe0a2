"""Time, in one replaceable object, so tests of polling and deadlines never really wait.

The engine reads ``monotonic()`` for deadlines and elapsed times and calls ``sleep`` /
``asleep`` between polls and before retries.  `SystemClock` is the real thing; tests pass a
fake whose sleeps advance its own time.  Back-off waits are also skipped while
``stamina.set_testing`` is on.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """What the engine needs of time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for `seconds`."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Wait `seconds` without blocking the event loop."""
        ...


class SystemClock:
    """The real clock (its methods are the `time` module's own: read several times a swap)."""

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
