"""A fake clock for the engine and the sandbox: the shipped one (`swapkit.testing.FakeClock`)."""

from __future__ import annotations

from swapkit.testing.clock import FakeClock

__all__ = ["FakeClock"]
