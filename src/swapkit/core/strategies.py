"""Strategies: the order in which eligible providers are tried.

A strategy ranks the providers that can take a swap and says why each got its place; routing
then tries them in that order, failing over down the list.  Three come with swapkit, and an
application can pass any object with the same two methods::

    SwapClient(providers=[...], strategy="ordered")    # the list order (default)
    SwapClient(providers=[...], strategy="cheapest")   # by expected price; unknown prices last
    SwapClient(providers=[...], strategy="fastest")    # by observed latency

`FastestStrategy` learns: every attempt's elapsed time is fed back through `observe`, and a
provider starts from the typical latency it declares.  A strategy instance belongs to one
client, so what it learns lasts as long as the client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from swapkit.core.errors import ConfigurationError
from swapkit.core.models import Attempt, SwapRequest
from swapkit.core.provider import Provider

__all__ = [
    "CheapestStrategy",
    "FastestStrategy",
    "OrderedStrategy",
    "Strategy",
    "strategy_from",
]

Ranked = list[tuple[Provider, str]]


@runtime_checkable
class Strategy(Protocol):
    """Ranks providers for one swap; may learn from finished attempts."""

    def rank(self, providers: Sequence[Provider], request: SwapRequest) -> Ranked:
        """`providers` (all able to take `request`) in the order to try, each with a reason."""
        ...

    def observe(self, attempt: Attempt) -> None:
        """Called after every attempt that was tried (success or failure), not for skips."""
        ...


class OrderedStrategy:
    """The order the providers were configured in: the fallback order."""

    name = "ordered"

    def rank(self, providers: Sequence[Provider], request: SwapRequest) -> Ranked:
        return [(p, f"position {i + 1} in the fallback order") for i, p in enumerate(providers)]

    def observe(self, attempt: Attempt) -> None:
        return None


class CheapestStrategy:
    """Lowest expected price first; providers with an unknown price last, in list order."""

    name = "cheapest"

    def rank(self, providers: Sequence[Provider], request: SwapRequest) -> Ranked:
        priced = [(p.price_usd(request), i, p) for i, p in enumerate(providers)]
        priced.sort(key=lambda item: (item[0] is None, item[0] or 0.0, item[1]))
        return [
            (p, "price unknown" if price is None else f"expected price ${price:.4f}")
            for price, _, p in priced
        ]

    def observe(self, attempt: Attempt) -> None:
        return None


class FastestStrategy:
    """Lowest observed latency first (an exponential moving average of attempt times).

    Until a provider has been observed, its declared typical latency stands in; providers
    with neither come last.  A failed attempt counts too: a vendor that times out after 30 s is
    slow for this purpose.
    """

    name = "fastest"

    def __init__(self, smoothing: float = 0.3) -> None:
        if not 0 < smoothing <= 1:
            raise ConfigurationError("smoothing must be in (0, 1]")
        self.smoothing = smoothing
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def latency(self, provider: Provider) -> float | None:
        """The current estimate for `provider`, in seconds."""
        with self._lock:
            observed = self._seconds.get(provider.name)
        return observed if observed is not None else provider.capabilities.typical_latency_seconds

    def rank(self, providers: Sequence[Provider], request: SwapRequest) -> Ranked:
        timed = [(self.latency(p), i, p) for i, p in enumerate(providers)]
        timed.sort(key=lambda item: (item[0] is None, item[0] or 0.0, item[1]))
        return [
            (p, "latency unknown" if seconds is None else f"expected latency {seconds:.1f} s")
            for seconds, _, p in timed
        ]

    def observe(self, attempt: Attempt) -> None:
        with self._lock:
            previous = self._seconds.get(attempt.provider)
            now = attempt.elapsed_seconds
            self._seconds[attempt.provider] = (
                now if previous is None else previous + self.smoothing * (now - previous)
            )


_BUILT_IN: dict[str, Callable[[], Strategy]] = {
    "ordered": OrderedStrategy,
    "cheapest": CheapestStrategy,
    "fastest": FastestStrategy,
}


def strategy_from(value: str | Strategy) -> Strategy:
    """A strategy from its name or an object with `rank` and `observe`."""
    if isinstance(value, str):
        if value not in _BUILT_IN:
            raise ConfigurationError(
                f"unknown strategy {value!r}; use one of {', '.join(_BUILT_IN)}, or pass an "
                "object with rank() and observe()"
            )
        return _BUILT_IN[value]()
    if not isinstance(value, Strategy):
        raise ConfigurationError("a strategy needs rank(providers, request) and observe(attempt)")
    return value
