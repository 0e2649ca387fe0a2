"""Circuit breakers: stop calling a provider that keeps failing, and find out when it is back.

Each provider has a breaker that is **closed** (calls go through), **open** (calls are skipped
until ``open_until``) or **half-open** (one probe call is let through; its outcome closes or
re-opens the breaker).

* Only failures that say something about the provider count: `InvalidRequest` (bad input,
  no face) and `ContentRefused` (a policy refusal) never do, whatever the vendor.
* The breaker opens after ``failure_threshold`` (default 5) consecutive counted failures, or
  when the half-open probe fails.
* The cooldown never shrinks: ``open_until`` becomes the latest of the current one, now plus the
  base cooldown, and now plus any ``Retry-After`` the vendor sent.  A second failure therefore
  extends an open breaker rather than being ignored.

State lives behind `BreakerStore`; `MemoryBreakerStore` keeps it in the process.  A store shared
between processes (Redis, a database) implements the same two methods.  Times are seconds on
the client's monotonic clock, so a shared store must be given a shared clock as well.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Literal, Protocol

from swapkit.core.errors import ContentRefused, InvalidRequest, RateLimited, SwapError

__all__ = [
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


Listener = Callable[[str, BreakerState, BreakerState], None]


class CircuitBreaker:
    """The breakers of one client's providers (see the module docstring)."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        store: BreakerStore | None = None,
        clock: Callable[[], float],
        on_change: Listener | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self.store = store or MemoryBreakerStore()
        self.clock = clock
        self.on_change = on_change
        self._lock = threading.Lock()

    def _save(self, provider: str, old: BreakerState, new: BreakerState) -> None:
        self.store.put(provider, new)
        if self.on_change is not None and old.status != new.status:
            self.on_change(provider, old, new)

    def closed_reason(self, provider: str) -> str | None:
        """None when a call may go to `provider` now; otherwise why not.

        Letting a call through a half-open breaker marks it as the probe, so ask only when the
        call will really be made.
        """
        with self._lock:
            state = self.store.get(provider)
            now = self.clock()
            if state.status == "closed":
                return None
            if state.status == "open" and now < state.open_until:
                return f"circuit open for another {state.open_until - now:.1f} s"
            if state.probing:
                return "circuit half-open: a probe call is in flight"
            self._save(
                provider, state, dataclasses.replace(state, status="half_open", probing=True)
            )
            return None

    def reopens_at(self, provider: str) -> float | None:
        """When an open breaker lets a probe through, or None when it is not open."""
        state = self.store.get(provider)
        return state.open_until if state.status == "open" else None

    def record_success(self, provider: str) -> None:
        """A call succeeded: the breaker closes."""
        with self._lock:
            state = self.store.get(provider)
            if state != BreakerState():
                self._save(provider, state, BreakerState())

    def record_failure(self, provider: str, error: SwapError) -> None:
        """A call failed; counted failures may open (or re-open) the breaker."""
        if isinstance(error, (InvalidRequest, ContentRefused)):
            self.release(provider)
            return
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
        """A probe ended without telling anything (a bad input): let the next call probe."""
        with self._lock:
            state = self.store.get(provider)
            if state.probing:
                self._save(provider, state, dataclasses.replace(state, probing=False))
