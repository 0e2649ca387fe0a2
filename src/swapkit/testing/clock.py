"""`FakeClock`: time that moves only when something sleeps or a test advances it.

One object serves both sides of a test: the engine reads `monotonic()` and calls `sleep()` /
`asleep()` (so polls, back-off and deadlines cost no real time), and the sandbox takes the clock
itself as its ``clock`` callable (so its jobs finish when the engine's sleeps say so)::

    clock = FakeClock()
    with Sandbox(clock=clock) as sandbox, SwapClient(..., clock=clock) as client:
        ...
"""

from __future__ import annotations

import threading

__all__ = ["FakeClock"]


class FakeClock:
    """A monotonic clock whose sleeps advance it at once.  Thread-safe.

    `now` is the current time, `slept` every sleep asked for, in order.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._lock = threading.Lock()
        self.now = float(start)
        self.slept: list[float] = []

    def monotonic(self) -> float:
        """The current time."""
        with self._lock:
            return self.now

    __call__ = monotonic

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` (never backwards); returns the new time."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        with self._lock:
            self.now += seconds
            return self.now

    def sleep(self, seconds: float) -> None:
        """Record the sleep and advance by it, without waiting."""
        with self._lock:
            self.slept.append(seconds)
            self.now += max(seconds, 0.0)

    async def asleep(self, seconds: float) -> None:
        """`sleep`, for the async client."""
        self.sleep(seconds)
