"""Circuit breakers: stop calling a provider that keeps failing, and find out when it is back.

Each provider has a breaker that is **closed** (calls go through), **open** (calls are skipped
until ``open_until``) or **half-open** (one probe call is let through; its outcome closes or
re-opens the breaker).

* Only failures that say something about the provider are recorded: the swap's
  `FailoverPolicy` decides which (bad input, content refusals and this side's own failures
  never count), and the router calls `record_failure` for those alone.
* The breaker opens after ``failure_threshold`` (default 5) consecutive counted failures, or
  when the half-open probe fails.
* The cooldown never shrinks: ``open_until`` becomes the latest of the current one, now plus the
  base cooldown, and now plus any ``Retry-After`` the vendor sent.  A second failure therefore
  extends an open breaker rather than being ignored.
* The probe is a reservation with an expiry (``probe_until``, ``probe_timeout_seconds``
  after it was granted).  Whatever ends the probing call releases it at once: a success
  closes the breaker, a counted failure re-opens it, anything else (an input error, another
  exception, a cancelled task) hands the probe to the next call.  The expiry only matters
  when the process holding the probe died, with a shared store.

State lives behind `BreakerStore`; `MemoryBreakerStore` keeps it in the process.  A store shared
between processes (Redis, a database) implements the same two methods.  Times are seconds on
the client's monotonic clock, so a shared store must be given a shared clock as well.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Literal, Protocol

from swapkit.core.errors import RateLimited, SwapError

__all__ = [
    "Admission",
    "BreakerState",
    "BreakerStore",
    "CircuitBreaker",
    "MemoryBreakerStore",
]

Status = Literal["closed", "open", "half_open"]


@dataclasses.dataclass(frozen=True)
class BreakerState:
    """One provider's breaker."""

    status: Status = "closed"
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False
    probe_until: float = 0.0


class BreakerStore(Protocol):
    """Where breaker states live; replace `MemoryBreakerStore` to share them."""

    def get(self, provider: str) -> BreakerState:
        """The provider's state (closed when unknown)."""
        ...

    def put(self, provider: str, state: BreakerState) -> None:
        """Save the provider's state."""
        ...


class MemoryBreakerStore:
    """Breaker states in this process."""

    def __init__(self) -> None:
        self._states: dict[str, BreakerState] = {}
        self._lock = threading.Lock()

    def get(self, provider: str) -> BreakerState:
        with self._lock:
            return self._states.get(provider, BreakerState())

    def put(self, provider: str, state: BreakerState) -> None:
        with self._lock:
            self._states[provider] = state


@dataclasses.dataclass(frozen=True)
class Admission:
    """A breaker's answer to "may a call go through?": `reason` is None when it may, and
    `probe` is True when that call is the half-open probe."""

    reason: str | None = None
    probe: bool = False
    #: When a refused call is worth asking about again (an open breaker's end of cooldown; a
    #: short recheck while another call's probe is in flight).
    retry_at: float | None = None


Listener = Callable[[str, BreakerState, BreakerState], None]


class CircuitBreaker:
    """The breakers of one client's providers (see the module docstring)."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        probe_timeout_seconds: float = 120.0,
        store: BreakerStore | None = None,
        clock: Callable[[], float],
        on_change: Listener | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        if not cooldown_seconds >= 0 or not probe_timeout_seconds > 0:
            raise ValueError("cooldown_seconds must be 0 or more, probe_timeout_seconds above 0")
        self.cooldown_seconds = cooldown_seconds
        self.probe_timeout_seconds = probe_timeout_seconds
        #: How often a call waiting on another call's probe looks again.
        self.probe_recheck_seconds = 0.5
        self.store = store or MemoryBreakerStore()
        self.clock = clock
        self.on_change = on_change
        self._lock = threading.Lock()

    def _save(self, provider: str, old: BreakerState, new: BreakerState) -> None:
        self.store.put(provider, new)
        if self.on_change is not None and old.status != new.status:
            self.on_change(provider, old, new)

    def closed_reason(self, provider: str) -> str | None:
        """None when a call may go to `provider` now; otherwise why not (see `admit`)."""
        return self.admit(provider).reason

    def admit(self, provider: str) -> Admission:
        """Whether a call may go to `provider` now, and whether it is the half-open probe.

        Letting a call through a half-open breaker reserves the probe for it, so ask only when
        the call will really be made, and end a probe with `record_success`,
        `record_failure` or `release`.
        """
        with self._lock:
            state = self.store.get(provider)
            now = self.clock()
            if state.status == "closed":
                return Admission()
            if state.status == "open" and now < state.open_until:
                return Admission(
                    f"circuit open for another {state.open_until - now:.1f} s",
                    retry_at=state.open_until,
                )
            if state.probing and now < state.probe_until:
                return Admission(
                    "circuit half-open: a probe call is in flight",
                    retry_at=min(state.probe_until, now + self.probe_recheck_seconds),
                )
            probe = dataclasses.replace(
                state,
                status="half_open",
                probing=True,
                probe_until=now + self.probe_timeout_seconds,
            )
            self._save(provider, state, probe)
            return Admission(probe=True)

    def record_success(self, provider: str) -> None:
        """A call succeeded: the breaker closes."""
        with self._lock:
            state = self.store.get(provider)
            if state != BreakerState():
                self._save(provider, state, BreakerState())

    def record_failure(self, provider: str, error: SwapError | None = None) -> None:
        """A call failed in a way that counts: it may open (or re-open) the breaker."""
        with self._lock:
            state = self.store.get(provider)
            now = self.clock()
            failures = state.failures + 1
            if state.status == "closed" and failures < self.failure_threshold:
                self._save(provider, state, dataclasses.replace(state, failures=failures))
                return
            wait = self.cooldown_seconds
            if isinstance(error, RateLimited) and error.retry_after:
                wait = max(wait, error.retry_after)
            opened = BreakerState(
                status="open",
                failures=failures,
                open_until=max(state.open_until, now + wait),
            )
            self._save(provider, state, opened)

    def release(self, provider: str) -> None:
        """A call ended without a verdict on the provider (a bad input, an exception, a
        cancellation): if it held the probe, the next call may probe."""
        with self._lock:
            state = self.store.get(provider)
            if state.probing:
                self._save(provider, state, dataclasses.replace(state, probing=False))
