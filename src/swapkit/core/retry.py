"""Retry policy: which failures are retried, and how long to wait when the vendor says so.

Retries go through stamina.  The predicate handed to stamina is built per HTTP exchange by
`retry_hook`, and it decides from swapkit errors only (never ``on=Exception``):

* a read (a poll, a download) is retried on any `ProviderError` whose class is transient
  (`RateLimited`, `ProviderUnavailable`, `ProviderTimeout`);
* a submit is retried only when the error says the vendor cannot have accepted the job
  (``retryable``: a 429, a refunded 5xx, a connection that never reached the vendor), so a paid
  swap is never sent twice;
* a wait the vendor asked for (``Retry-After``, ``X-RateLimit-Reset``) is honoured by returning
  it to stamina, unless it would overrun the deadline, in which case the error surfaces now.

Every retry also draws from the swap's shared `Budget`, so retries inside one provider and hops
between providers add up to ``max_attempts`` in total instead of multiplying.  While another
provider is still to be tried, one exchange is retried at most ``retry_cap`` times, so a vendor
that is down cannot spend the whole budget before failover; the last provider may use all that
is left.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
from collections.abc import Callable, Mapping

from swapkit.core.errors import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

__all__ = ["Budget", "parse_retry_after", "retry_hook"]

_TRANSIENT = (RateLimited, ProviderUnavailable, ProviderTimeout)

#: Epoch values above this are absolute times; below it, seconds to wait.
_EPOCH_THRESHOLD = 1_000_000_000


def parse_retry_after(headers: Mapping[str, str], now_epoch: float) -> float | None:
    """Seconds to wait before retrying, from ``Retry-After`` or ``X-RateLimit-Reset``.

    ``Retry-After`` is seconds or an HTTP date (RFC 9110).  ``X-RateLimit-Reset`` is either
    epoch seconds (the common GitHub-style reading), epoch milliseconds, or seconds remaining:
    vendors differ and rarely say which, so the magnitude decides.  Returns None when
    neither header holds a usable value; never a negative number.
    """
    retry_after = headers.get("retry-after")
    if retry_after:
        seconds = _number(retry_after)
        if seconds is None:
            try:
                when = email.utils.parsedate_to_datetime(retry_after)
            except (TypeError, ValueError):
                when = None
            if when is not None and when.tzinfo is not None:
                seconds = when.timestamp() - now_epoch
        if seconds is not None:
            return max(0.0, seconds)
    reset = _number(headers.get("x-ratelimit-reset", ""))
    if reset is not None:
        if reset > _EPOCH_THRESHOLD * 1000:
            reset = reset / 1000 - now_epoch
        elif reset > _EPOCH_THRESHOLD:
            reset = reset - now_epoch
        return max(0.0, reset)
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclasses.dataclass
class Budget:
    """What one swap may still spend: attempts (all retries and hops) and wall time."""

    attempts_left: int
    deadline_at: float
    clock: Callable[[], float]
    #: Retries allowed per exchange at the current provider (None: only the budget limits).
    retry_cap: int | None = None

    def remaining_seconds(self) -> float:
        """Seconds until the swap's deadline (never negative)."""
        return max(0.0, self.deadline_at - self.clock())

    def take_attempt(self) -> bool:
        """Spend one attempt; False when none is left."""
        if self.attempts_left <= 0:
            return False
        self.attempts_left -= 1
        return True


def retry_hook(budget: Budget, *, idempotent: bool) -> Callable[[Exception], bool | float]:
    """The stamina ``on=`` hook for one HTTP exchange (see the module docstring)."""

    retries = 0

    def hook(exc: Exception) -> bool | float:
        nonlocal retries
        if not isinstance(exc, ProviderError):
            return False
        if budget.retry_cap is not None and retries >= budget.retry_cap:
            return False
        if idempotent:
            if not isinstance(exc, _TRANSIENT):
                return False
        elif not exc.retryable:
            return False
        wait = exc.retry_after if isinstance(exc, RateLimited) else None
        if wait is not None and wait >= budget.remaining_seconds():
            return False
        if not budget.take_attempt():
            return False
        retries += 1
        return True if wait is None else wait

    return hook
