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

State lives behind `BreakerStore`, whose one write is an atomic `BreakerStore.update`: each of
`admit`, `record_success`, `record_failure` and `release` is a pure transition from the current
state to the next, applied by the store, so two processes can never both take the half-open
probe nor lose each other's failures.  `MemoryBreakerStore` keeps the states in the process;
`StateBreakers` keeps them in a `swapkit.core.state.StateStore` (SQLite on one host, Redis for a
fleet), and a `SqliteLedger` is a store too.  Times are seconds on the breaker's `clock`: in
one process any clock does, but a store shared between processes needs a clock that means the
same in each of them, a wall clock (``time.time``, or the state store's ``now``).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from swapkit.core.errors import RateLimited, SwapError

if TYPE_CHECKING:
    from swapkit.core.state import StateStore

__all__ = [
    "Admission",
    "BreakerState",
    "BreakerStore",
    "CircuitBreaker",
    "MemoryBreakerStore",
    "StateBreakers",
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


Transition = Callable[[BreakerState], BreakerState]
#: A breaker with nothing against its provider (states are immutable: one serves all).
_CLOSED = BreakerState()


class BreakerStore(Protocol):
    """Where breaker states live; replace `MemoryBreakerStore` to share them."""

    def get(self, provider: str) -> BreakerState:
        """The provider's state (closed when unknown)."""
        ...

    def update(self, provider: str, fn: Transition) -> tuple[BreakerState, BreakerState]:
        """Replace the provider's state by ``fn(state)`` atomically; ``(old, new)``.  `fn` is
        pure and may be called more than once (a store that retries a lost write)."""
        ...


class MemoryBreakerStore:
    """Breaker states in this process."""

    def __init__(self) -> None:
        self._states: dict[str, BreakerState] = {}
        self._lock = threading.Lock()

    def get(self, provider: str) -> BreakerState:
        with self._lock:
            return self._states.get(provider, _CLOSED)

    def update(self, provider: str, fn: Transition) -> tuple[BreakerState, BreakerState]:
        with self._lock:
            old = self._states.get(provider, _CLOSED)
            new = fn(old)
            self._states[provider] = new
            return old, new


def _state_of(value: Any) -> BreakerState:
    """A stored breaker state (closed when absent; fields this version does not know are
    ignored, so that processes of two versions can share a store)."""
    if not isinstance(value, dict):
        return _CLOSED
    known = {field.name for field in dataclasses.fields(BreakerState)}
    return BreakerState(**{name: item for name, item in value.items() if name in known})


class StateBreakers:
    """Breaker states in a `swapkit.core.state.StateStore`, as JSON under
    ``breaker:{provider}``, changed by the store's compare-and-set `update`.

    Give the `CircuitBreaker` the store's clock (``clock=state.now``)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<StateBreakers {self.state!r}>"

    @property
    def degraded(self) -> bool:
        """True while the state store answers from local state (see `ResilientStateStore`)."""
        return bool(getattr(self.state, "degraded", False))

    def get(self, provider: str) -> BreakerState:
        return _state_of(self.state.read(f"breaker:{provider}")[0])

    def update(self, provider: str, fn: Transition) -> tuple[BreakerState, BreakerState]:
        def transition(value: Any | None) -> Any:
            return dataclasses.asdict(fn(_state_of(value)))

        old, new = self.state.update(f"breaker:{provider}", transition)
        return _state_of(old), _state_of(new)


@dataclasses.dataclass(frozen=True)
class Admission:
    """A breaker's answer to "may a call go through?": `reason` is None when it may, and
    `probe` is True when that call is the half-open probe."""

    reason: str | None = None
    probe: bool = False
    #: In how many seconds a refused call is worth asking about again (an open breaker's end
    #: of cooldown; a short recheck while another call's probe is in flight).  Relative, so
    #: that it means the same whatever clock the breaker or pacer keeps (a shared store's
    #: wall clock, a client's monotonic one).
    retry_in: float | None = None
    #: The probe's reservation (its expiry on the breaker's clock), which `CircuitBreaker.release`
    #: checks: a probe that outlived its reservation must not release the next caller's.
    probe_until: float | None = None


#: The answer for a call that may go through (not as a probe).
_ADMITTED = Admission()

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

    @property
    def store_degraded(self) -> bool:
        """True while the breakers' store is answering from local state (a shared store that
        is down, behind a `swapkit.core.state.ResilientStateStore`)."""
        return bool(getattr(self.store, "degraded", False))

    def _update(self, provider: str, fn: Transition) -> tuple[BreakerState, BreakerState]:
        old, new = self.store.update(provider, fn)
        if self.on_change is not None and old.status != new.status:
            self.on_change(provider, old, new)
        return old, new

    def closed_reason(self, provider: str) -> str | None:
        """None when a call may go to `provider` now; otherwise why not (see `admit`)."""
        return self.admit(provider).reason

    def admit(self, provider: str) -> Admission:
        """Whether a call may go to `provider` now, and whether it is the half-open probe.

        Letting a call through a half-open breaker reserves the probe for it, so ask only when
        the call will really be made, and end a probe with `record_success`,
        `record_failure` or `release`.
        """
        now = self.clock()
        answer = _ADMITTED

        def transition(state: BreakerState) -> BreakerState:
            nonlocal answer  # the answer of the run whose write won
            answer, after = self._admission(state, now)
            return after

        self._update(provider, transition)
        return answer

    def _admission(self, state: BreakerState, now: float) -> tuple[Admission, BreakerState]:
        """`admit` as a pure function: the answer, and the state after it."""
        if state.status == "closed":
            return _ADMITTED, state
        if state.status == "open" and now < state.open_until:
            reason = f"circuit open for another {state.open_until - now:.1f} s"
            return Admission(reason, retry_in=state.open_until - now), state
        if state.probing and now < state.probe_until:
            return Admission(
                "circuit half-open: a probe call is in flight",
                retry_in=min(state.probe_until - now, self.probe_recheck_seconds),
            ), state
        probe = dataclasses.replace(
            state, status="half_open", probing=True, probe_until=now + self.probe_timeout_seconds
        )
        return Admission(probe=True, probe_until=probe.probe_until), probe

    def record_success(self, provider: str) -> None:
        """A call succeeded: the breaker closes."""
        self._update(provider, lambda state: _CLOSED)

    def record_failure(self, provider: str, error: SwapError | None = None) -> None:
        """A call failed in a way that counts: it may open (or re-open) the breaker."""
        now = self.clock()
        wait = self.cooldown_seconds
        if isinstance(error, RateLimited) and error.retry_after:
            wait = max(wait, error.retry_after)

        def transition(state: BreakerState) -> BreakerState:
            failures = state.failures + 1
            if state.status == "closed" and failures < self.failure_threshold:
                return dataclasses.replace(state, failures=failures)
            return BreakerState(
                status="open", failures=failures, open_until=max(state.open_until, now + wait)
            )

        self._update(provider, transition)

    def release(self, provider: str, admission: Admission) -> None:
        """A call `admission` let through ended without a verdict on the provider (a bad
        input, an exception, a cancellation): if it held the probe, the next call may probe.
        A probe that outlived its reservation (given to another call since) releases nothing."""
        if not admission.probe:
            return

        def transition(state: BreakerState) -> BreakerState:
            if not state.probing or state.probe_until != admission.probe_until:
                return state
            return dataclasses.replace(state, probing=False)

        self._update(provider, transition)
