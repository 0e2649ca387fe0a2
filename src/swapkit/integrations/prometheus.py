"""Prometheus metrics for swapkit: attempts, failovers, spend and latency per provider.

    pip install 'swapkit[prometheus]'

    from prometheus_client import start_http_server
    from swapkit import SwapClient
    from swapkit.integrations.prometheus import PrometheusObserver

    start_http_server(9100)
    client = SwapClient(observers=[PrometheusObserver()])

Built on the observer hooks only.  The metrics (in `registry`, the default one unless given):

* ``swapkit_attempts_total{provider, outcome}``: tries (``ok``, ``skipped`` or an error class);
* ``swapkit_failovers_total{from_provider, to_provider}``;
* ``swapkit_spend_usd_total{provider}``: what attempts may have cost;
* ``swapkit_swaps_total{outcome}``: swaps ended (``ok``, an error class, ``handed_off``);
* ``swapkit_attempt_seconds{provider}``: a histogram of how long each try took.

Create one observer per registry: the metric names are registered once.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from swapkit.core.hookspecs import hookimpl
from swapkit.core.logs import outcome_of
from swapkit.core.models import Attempt

__all__ = ["PrometheusObserver"]

#: Buckets for a swap's tries: vendors answer in a second or take minutes.
BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)


class PrometheusObserver:
    """Counters and a histogram from swapkit's observer hooks; pass it in `observers=[...]`."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.attempts = Counter(
            "swapkit_attempts", "Tries at a provider", ["provider", "outcome"], registry=registry
        )
        self.failovers = Counter(
            "swapkit_failovers",
            "Swaps moved on from a provider",
            ["from_provider", "to_provider"],
            registry=registry,
        )
        self.spend = Counter(
            "swapkit_spend_usd",
            "What attempts may have cost (USD)",
            ["provider"],
            registry=registry,
        )
        self.swaps = Counter("swapkit_swaps", "Swaps ended", ["outcome"], registry=registry)
        self.latency = Histogram(
            "swapkit_attempt_seconds",
            "How long a try took",
            ["provider"],
            buckets=BUCKETS,
            registry=registry,
        )

    @hookimpl
    def attempt_finished(self, attempt: Attempt) -> None:
        outcome = "skipped" if attempt.skipped else outcome_of(attempt.error)
        self.attempts.labels(attempt.provider, outcome).inc()
        if not attempt.skipped:
            self.latency.labels(attempt.provider).observe(attempt.elapsed_seconds)
        if attempt.cost_usd:
            self.spend.labels(attempt.provider).inc(attempt.cost_usd)

    @hookimpl
    def failover(self, from_provider: str, to_provider: str) -> None:
        self.failovers.labels(from_provider, to_provider).inc()

    @hookimpl
    def swap_finished(self, result: Any, error: Any) -> None:
        outcome = "handed_off" if result is None and error is None else outcome_of(error)
        self.swaps.labels(outcome).inc()
