"""A controllable clock for tests.

Design: the sandbox reads time only through a `clock` callable returning monotonic seconds
(`time.monotonic` by default). `FakeClock` is such a callable that only moves when told to, so a
test can walk an async job from `processing` to `completed`, or a result URL past its expiry,
without sleeping. `Sandbox.advance(seconds)` moves a `FakeClock` and runs whatever became due.
"""

from __future__ import annotations

import threading

__all__ = ["FakeClock"]


class FakeClock:
    """A monotonic clock that moves only on `advance()`. Thread-safe."""

    def __init__(self, start: float = 1000.0) -> None:
        self._lock = threading.Lock()
        self._now = float(start)

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` (never backwards); returns the new time."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        with self._lock:
            self._now += seconds
            return self._now
