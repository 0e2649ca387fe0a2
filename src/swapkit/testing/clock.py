"""`FakeClock`: time that moves only when something sleeps or a test advances it.

One object serves both sides of a test: the engine reads `monotonic()` and calls `sleep()` /
`asleep()` (so polls, back-off and deadlines cost no real time), and the sandbox takes the clock
itself as its ``clock`` callable (so its jobs finish when the engine's sleeps say so)::

    clock = FakeClock()
    with Sandbox(clock=clock) as sandbox, SwapClient(..., clock=clock) as client:
        ...

It is the sandbox's own clock (`swapkit.sandbox.FakeClock`), so ``Sandbox.advance`` accepts it.
"""

from __future__ import annotations

from swapkit.sandbox.clock import FakeClock

__all__ = ["FakeClock"]
