"""Retries of one HTTP exchange, and how long to wait when the vendor says so.

The flow retries an exchange itself (`swapkit.core.flow.exchange`), so that every wait runs on
the client's clock, the same clock the deadline is measured on.  The decision comes from
`retry_hook`, built per exchange, which reads swapkit errors only (never ``Exception``) and asks
the swap's `FailoverPolicy` (`swapkit.core.policy`), which holds every rule and limit:

* an error is retried only when the policy's rule for its class and the exchange's phase says
  so and the error says a resend is safe (``retryable``): a submit is never resent once the
  vendor may have accepted it;
* the wait is the vendor's (``Retry-After``, ``X-RateLimit-Reset``) or the policy's back-off
  (exponential, with jitter): a wait that would run past the deadline is not taken, so
  back-off never stretches a swap beyond its deadline;
* retries of an upload or a submit draw from the swap's shared `Budget` (``max_attempts``
  counts every retry and hop together) and are capped per exchange by the caller (while
  another provider remains); reads of an accepted job spend no attempts and are bounded by
  the deadline alone.

stamina stays the application's switchboard for retries: every scheduled retry is logged as a
``retry`` record on the ``swapkit`` logger (`swapkit.core.logs`) and reported to stamina's other
retry hooks (`announce`: its Prometheus integration, or the application's own; not its logging
and structlog hooks, whose bare lines would break an application's output), and while
``stamina.set_testing(True, attempts=N)`` is on the waits are
skipped, as stamina's own are, and an upload or submit is tried at most N times.  Reads of an
accepted job are not capped by it: a job that was paid for is never abandoned because a test
asked for fewer tries (the deadline and `FailoverPolicy.read_retries` still bound them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import logging
import math
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import stamina
from stamina.instrumentation import RetryDetails, get_on_retry_hooks

from swapkit.core.errors import RateLimited
from swapkit.core.logs import log_retry

if TYPE_CHECKING:
    from swapkit.core.policy import FailoverPolicy, Phase

__all__ = ["Budget", "announce", "parse_retry_after", "retry_hook", "waits"]

_log = logging.getLogger("swapkit")

#: stamina's own log hooks, left out: swapkit logs each retry itself.
_STAMINA_LOGGERS = frozenset(
    {"stamina.instrumentation._logging", "stamina.instrumentation._structlog"}
)

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

    `limit` caps this exchange's retries (None: only the budget and the deadline do); it is
    set while another provider remains, and then a certain refusal is not retried at all.
    """
    retries = 0
    others_remain = limit is not None
    spends_attempts = phase in ("upload", "submit")
    if spends_attempts:
        testing = _testing_retries()
        if testing is not None:
            limit = testing if limit is None else min(limit, testing)

    def hook(exc: Exception) -> bool | float:
        nonlocal retries
        if not policy.retries(exc, phase):
            return False
        if others_remain and policy.certain_refusal(exc, phase):
            return False  # fail over at once: another provider can take the swap now
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


def _testing_retries() -> int | None:
    """Under ``stamina.set_testing(True, attempts=N)``, the N - 1 retries it allows (else None).

    stamina exposes the testing attempts only through its configuration object; should that
    ever move, testing mode simply stops capping uploads and submits.
    """
    if not stamina.is_testing():
        return None
    testing = getattr(getattr(stamina, "_config", None), "CONFIG", None)
    get_attempts = getattr(getattr(testing, "testing", None), "get_attempts", None)
    try:
        attempts = get_attempts(None) if callable(get_attempts) else None
    except Exception:  # a changed private API: no cap rather than a crash
        return None
    return max(0, attempts - 1) if isinstance(attempts, int) else None


def waits() -> bool:
    """Whether back-off waits are really waited (not while ``stamina.set_testing`` is on)."""
    return not stamina.is_testing()


def announce(
    what: str,
    retry: int,
    wait: float,
    waited: float,
    error: Exception,
    *,
    provider: str = "",
    swap_id: str | None = None,
) -> None:
    """Report a scheduled retry: a ``retry`` record on the ``swapkit`` log, and stamina's retry
    hooks except its logging and structlog ones (the swapkit record replaces their bare
    ``stamina.retry_scheduled`` line).  A failing hook is not our failure."""
    log_retry(what, retry, wait, error, swap_id, provider)
    details = RetryDetails(
        name=what,
        args=(),
        kwargs={},
        retry_num=retry,
        wait_for=wait,
        waited_so_far=waited,
        caused_by=error,
    )
    for hook in get_on_retry_hooks():
        if getattr(hook, "__module__", "") in _STAMINA_LOGGERS:
            continue
        try:
            result = hook(details)
            if isinstance(result, contextlib.AbstractContextManager):
                with result:
                    pass
        except Exception:  # instrumentation must never break a swap
            _log.exception("swapkit: a stamina retry hook failed")
