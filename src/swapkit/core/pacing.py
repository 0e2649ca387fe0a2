"""Per-provider pacing: how many swaps a vendor gets at once, and how fast.

A client's `Pacer` is shared by all its swaps (a batch's items, a web app's requests).  For each
provider it keeps:

* **a concurrency cap**: at most ``max_concurrency`` attempts in flight (a provider setting;
  None: no cap).  An attempt holds its slot from its first request until it ends, polls and
  download included;
* **a start rate**: at most ``requests_per_minute`` attempts begun per minute (a setting; None:
  no limit), spaced evenly;
* **a pause** fed by the vendor: a 429's ``Retry-After`` (or ``X-RateLimit-Reset``), or a
  success whose ``X-RateLimit-Remaining`` is 0, pauses that provider until the time it gives
  (`DEFAULT_PAUSE_SECONDS` when it gives none).  Headers are read as they arrive, so swaps in
  flight elsewhere see the pause at once.

A provider that is saturated or paused is passed over with the reason, like one whose breaker is
open: the swap moves on to the next eligible provider, or (when every provider is waiting) sleeps
until the first may be asked, within its deadline.  A 429 thus slows only that vendor's share.

Alone, the pacer keeps this in the process, on the client's clock.  Given a shared
`swapkit.core.state.StateStore` (the client's ``state=``), every process sharing it shares the
pacing: a slot is a permit among ``max_concurrency`` (leased for `PERMIT_LEASE_SECONDS`, so a
dead process's slots come back), starts are counted in a sliding minute, and a pause learned by
one worker holds for all of them.  Times then are the store's wall clock; admissions say how
long to wait (`Admission.retry_in`), whatever the clock.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from swapkit.core.breaker import Admission
from swapkit.core.retry import parse_retry_after

if TYPE_CHECKING:
    from swapkit.core.state import StateStore

__all__ = ["DEFAULT_PAUSE_SECONDS", "PERMIT_LEASE_SECONDS", "Pacer"]

#: How long a provider rests after a 429 that says nothing about when to come back.
DEFAULT_PAUSE_SECONDS = 1.0
#: How soon a swap waiting for a free slot looks again.
RECHECK_SECONDS = 0.05
#: The longest pause a vendor's headers may impose (a bad header must not park a vendor).
MAX_PAUSE_SECONDS = 600.0
#: How long a shared slot outlives a process that died holding it.
PERMIT_LEASE_SECONDS = 900.0


@dataclasses.dataclass
class _State:
    in_flight: int = 0
    next_start: float = 0.0
    paused_until: float = 0.0


class Pacer:
    """The pacing of one client's providers (see the module docstring).  Thread-safe."""

    def __init__(self, clock: Callable[[], float], state: StateStore | None = None) -> None:
        self.clock = clock
        #: The store shared with other processes (None: this process only).
        self.state = state
        self._states: dict[str, _State] = {}
        self._permits: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def _state(self, provider: str) -> _State:
        return self._states.setdefault(provider, _State())

    def acquire(
        self, provider: str, max_concurrency: int | None, requests_per_minute: float | None
    ) -> Admission:
        """Take a slot at `provider` for an attempt (an `Admission` without a reason), or say
        why not and when to ask again (nothing taken then).  A slot taken must be given back
        with `release`."""
        if self.state is not None:
            return self._acquire_shared(self.state, provider, max_concurrency, requests_per_minute)
        with self._lock:
            state = self._state(provider)
            now = self.clock()
            if now < state.paused_until:
                return Admission(
                    f"rate-limited by the vendor for another {state.paused_until - now:.1f} s",
                    retry_in=state.paused_until - now,
                )
            if max_concurrency is not None and state.in_flight >= max_concurrency:
                return Admission(
                    f"saturated: {state.in_flight} swaps in flight (max_concurrency)",
                    retry_in=RECHECK_SECONDS,
                )
            if requests_per_minute is not None and now < state.next_start:
                return Admission(
                    f"paced to {requests_per_minute:g} swaps a minute (requests_per_minute)",
                    retry_in=state.next_start - now,
                )
            state.in_flight += 1
            if requests_per_minute is not None:
                state.next_start = max(state.next_start, now) + 60.0 / requests_per_minute
            return Admission()

    def _acquire_shared(
        self,
        store: StateStore,
        provider: str,
        max_concurrency: int | None,
        requests_per_minute: float | None,
    ) -> Admission:
        paused = self._shared_pause(store, provider)
        if paused > 0:
            return Admission(
                f"rate-limited by the vendor for another {paused:.1f} s", retry_in=paused
            )
        token = None
        if max_concurrency is not None:
            token = store.acquire_permit(
                f"pacing:slots:{provider}", max_concurrency, PERMIT_LEASE_SECONDS
            )
            if token is None:
                return Admission(
                    f"saturated: {max_concurrency} swaps in flight across processes "
                    "(max_concurrency)",
                    retry_in=RECHECK_SECONDS,
                )
        if requests_per_minute is not None:
            # a whole number of starts in a window that keeps the rate (0.5 a minute: 1 in 120 s)
            limit = max(1, int(requests_per_minute))
            wait = store.take_rate(
                f"pacing:starts:{provider}", limit, 60.0 * limit / requests_per_minute
            )
            if wait > 0:
                if token is not None:
                    store.release_permit(f"pacing:slots:{provider}", token)
                return Admission(
                    f"paced to {requests_per_minute:g} swaps a minute (requests_per_minute)",
                    retry_in=wait,
                )
        with self._lock:
            self._state(provider).in_flight += 1
            if token is not None:
                self._permits.setdefault(provider, []).append(token)
        return Admission()

    @staticmethod
    def _shared_pause(store: StateStore, provider: str) -> float:
        until, _ = store.read(f"pacing:pause:{provider}")
        return max(0.0, float(until) - store.now()) if isinstance(until, int | float) else 0.0

    def release(self, provider: str) -> None:
        with self._lock:
            state = self._state(provider)
            state.in_flight = max(0, state.in_flight - 1)
            tokens = self._permits.get(provider)
            token = tokens.pop() if tokens else None
        if token is not None and self.state is not None:
            self.state.release_permit(f"pacing:slots:{provider}", token)

    def in_flight(self, provider: str) -> int:
        """Attempts this process has in flight at `provider`."""
        with self._lock:
            return self._state(provider).in_flight

    def paused_for(self, provider: str) -> float:
        """Seconds until `provider` may be asked again after a vendor's rate limit (0: now)."""
        if self.state is not None:
            return self._shared_pause(self.state, provider)
        with self._lock:
            return max(0.0, self._state(provider).paused_until - self.clock())

    def observe(self, provider: str, response: httpx.Response) -> None:
        """Read a vendor's answer for rate-limit news: a 429, or no requests remaining."""
        status = response.status_code
        headers = response.headers
        remaining = headers.get("x-ratelimit-remaining", "").strip()
        if status != 429 and remaining != "0":
            return
        wait = parse_retry_after(headers, time.time())
        if wait is None:
            wait = DEFAULT_PAUSE_SECONDS
        self.pause(provider, wait)

    def pause(self, provider: str, seconds: float) -> None:
        """Ask nothing more of `provider` for `seconds` (a pause never shrinks)."""
        seconds = min(max(0.0, seconds), MAX_PAUSE_SECONDS)
        if self.state is not None:
            until = self.state.now() + seconds

            def longer(current: object) -> float:
                earlier = float(current) if isinstance(current, int | float) else 0.0
                return max(earlier, until)

            self.state.update(f"pacing:pause:{provider}", longer)
            return
        with self._lock:
            state = self._state(provider)
            state.paused_until = max(state.paused_until, self.clock() + seconds)
