"""A fake clock for the engine and the sandbox: sleeps advance time at once."""

from __future__ import annotations


class FakeClock:
    """A clock whose sleeps advance time instantly; share `monotonic` with the sandbox."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
