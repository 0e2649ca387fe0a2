"""Per-key accounting: credits and rate-limit windows.

Design decisions:

- Both are per vendor *and* per API key, so two keys of one vendor never share a budget.
- Credits: `None` is unlimited. A vendor charges one credit when it accepts a swap and refunds it
  when the swap fails on its side (the vendors promise refunds on server errors); injected 5xx
  faults never reach the vendor, so they never cost a credit. A vendor whose requests cost
  several credits charges them at once, all or nothing.
- Rate limits: a fixed window of `window_seconds` on the sandbox clock, opened by the first
  request. Refused (429) requests do not count. The reset value is either the window's end as
  wall-clock epoch seconds (`"epoch"`, the default) or the seconds left until then
  (`"seconds"`), both rounded up to an integer, because vendors that document the header rarely
  say which one they use.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Accounts", "RateDecision", "ResetFormat"]

ResetFormat = Literal["epoch", "seconds"]


@dataclass(frozen=True)
class RateDecision:
    """The outcome of one rate-limit check."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float  # until the window ends
    reset_value: int  # what goes in the reset header

    def headers(self, prefix: str = "x-ratelimit-") -> tuple[tuple[str, str], ...]:
        """`X-RateLimit-Limit/Remaining/Reset` (or another prefix)."""
        return (
            (f"{prefix}limit", str(self.limit)),
            (f"{prefix}remaining", str(self.remaining)),
            (f"{prefix}reset", str(self.reset_value)),
        )


class Accounts:
    """Credits and rate-limit counters. Thread-safe."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        credits: int | None,
        rate_limit: tuple[int, float] | None,
        reset_format: ResetFormat,
    ) -> None:
        self._clock = clock
        self._credits = credits
        self._rate_limit = rate_limit
        self._reset_format = reset_format
        self._lock = threading.Lock()
        self._spent: dict[tuple[str, str], int] = {}
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    @property
    def rate_limited(self) -> bool:
        """Whether a rate limit is configured."""
        return self._rate_limit is not None

    def check_rate(self, vendor: str, key: str) -> RateDecision | None:
        """Count one request; None when no limit is configured."""
        if self._rate_limit is None:
            return None
        limit, window = self._rate_limit
        now = self._clock()
        with self._lock:
            start, count = self._windows.get((vendor, key), (now, 0))
            if now >= start + window:
                start, count = now, 0
            allowed = count < limit
            if allowed:
                count += 1
            self._windows[(vendor, key)] = (start, count)
        left = max(0.0, start + window - now)
        if self._reset_format == "epoch":
            reset_value = math.ceil(time.time() + left)
        else:
            reset_value = math.ceil(left)
        return RateDecision(allowed, limit, max(0, limit - count), left, reset_value)

    def charge(self, vendor: str, key: str, amount: int = 1) -> bool:
        """Take `amount` credits at once; False (and nothing taken) when fewer are left."""
        with self._lock:
            spent = self._spent.get((vendor, key), 0)
            if self._credits is not None and spent + amount > self._credits:
                return False
            self._spent[(vendor, key)] = spent + amount
            return True

    def refund(self, vendor: str, key: str, amount: int = 1) -> None:
        """Give `amount` credits back."""
        with self._lock:
            spent = self._spent.get((vendor, key), 0)
            self._spent[(vendor, key)] = max(0, spent - amount)

    def credits_left(self, vendor: str, key: str) -> int | None:
        """Credits left for the key, or None when unlimited."""
        if self._credits is None:
            return None
        with self._lock:
            return self._credits - self._spent.get((vendor, key), 0)

    def reset(self) -> None:
        """Restore every credit and open fresh rate-limit windows."""
        with self._lock:
            self._spent.clear()
            self._windows.clear()
