"""A controllable clock for tests, shared by the sandbox and swapkit's clients.

Design: the sandbox reads time only through a `clock` callable returning monotonic seconds
(`time.monotonic` by default), and the engine reads a `Clock` (``monotonic()``, ``sleep()``,
``asleep()``).  `FakeClock` is both: a callable that only moves when told to, by `advance()` or
by a client's sleeps.  So one `FakeClock` given to ``Sandbox(clock=...)`` and
``SwapClient(clock=...)`` walks an async job from `processing` to `completed`, or a result URL
past its expiry, in no real time; `Sandbox.advance(seconds)` moves it and runs whatever became
due.  It is exported as `swapkit.testing.FakeClock` too.
"""

from __future__ import annotations

import threading

__all__ = ["FakeClock"]


class FakeClock:
    """A monotonic clock that moves only on `advance()` or a sleep.  Thread-safe.

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
