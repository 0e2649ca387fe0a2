"""Retries of one HTTP exchange, and how long to wait when the vendor says so.

Retries go through stamina.  The predicate handed to stamina is built per exchange by
`retry_hook` and decides from swapkit errors only (never ``on=Exception``), by asking the
swap's `FailoverPolicy` (`swapkit.core.policy`), which holds every rule and limit:

* an error is retried only when the policy's rule for its class and the exchange's phase says
  so and the error says a resend is safe (``retryable``): a submit is never resent once the
  vendor may have accepted it;
* the wait is the vendor's (``Retry-After``, ``X-RateLimit-Reset``) or the policy's back-off,
  and it is always returned to stamina explicitly: a wait that would run past the deadline is
  not taken, so back-off never stretches a swap beyond its deadline;
* retries of an upload or a submit draw from the swap's shared `Budget` (``max_attempts``
  counts every retry and hop together) and are capped per exchange by the caller (while
  another provider remains); reads of an accepted job spend no attempts and are bounded by
  the deadline alone.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from swapkit.core.errors import RateLimited

if TYPE_CHECKING:
    from swapkit.core.policy import FailoverPolicy, Phase

__all__ = ["Budget", "parse_retry_after", "retry_hook"]

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
    """What one swap may still spend: attempts (retries and hops together) and wall time."""

    attempts_left: int
    deadline_at: float
    clock: Callable[[], float]

    def remaining_seconds(self) -> float:
        """Seconds until the swap's deadline (never negative)."""
        return max(0.0, self.deadline_at - self.clock())

    def take_attempt(self) -> bool:
        """Spend one attempt; False when none is left."""
        if self.attempts_left <= 0:
            return False
        self.attempts_left -= 1
        return True


def retry_hook(
    budget: Budget,
    policy: FailoverPolicy,
    phase: Phase,
    *,
    limit: int | None,
    jitter: Callable[[], float] = random.random,
) -> Callable[[Exception], bool | float]:
    """The stamina ``on=`` hook for one exchange in `phase` (see the module docstring).

    `limit` caps this exchange's retries (None: only the budget and the deadline do).
    """
    retries = 0
    spends_attempts = phase in ("upload", "submit")

    def hook(exc: Exception) -> bool | float:
        nonlocal retries
        if not policy.retries(exc, phase):
            return False
        if limit is not None and retries >= limit:
            return False
        asked = exc.retry_after if isinstance(exc, RateLimited) else None
        wait = asked if asked is not None else policy.backoff(retries + 1, jitter())
        if wait >= budget.remaining_seconds():
            return False
        if spends_attempts and not budget.take_attempt():
            return False
        retries += 1
        return float(wait)

    return hook
