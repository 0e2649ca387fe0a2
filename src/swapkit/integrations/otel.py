"""OpenTelemetry for swapkit: a span per swap, an event per attempt, and metrics.

    pip install 'swapkit[otel]'

    from swapkit import SwapClient
    from swapkit.integrations.otel import OpenTelemetryObserver

    client = SwapClient(observers=[OpenTelemetryObserver()])

Built on the observer hooks only.  Each swap is a ``swapkit.swap`` span (a child of the span
current when the swap began, so it sits under the application's request span), with an
``attempt`` event per try (provider, model, outcome, charged, cost, the vendor's job id,
elapsed), ``failover`` and ``accepted`` events, and on its end the provider that served it,
what it spent and, for an error, an ERROR status with the error's class.  Metrics:
``swapkit.attempts`` (counter, by provider and outcome), ``swapkit.failovers`` (counter),
``swapkit.spend`` (counter, USD, by provider) and ``swapkit.attempt.duration`` (histogram,
seconds, by provider).  The tracer and meter come from the global providers unless given.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, Status, StatusCode

from swapkit.core.hookspecs import hookimpl
from swapkit.core.logs import outcome_of
from swapkit.core.models import Attempt

__all__ = ["OpenTelemetryObserver"]

_SCOPE = "swapkit"


class OpenTelemetryObserver:
    """Spans and metrics from swapkit's observer hooks; pass it in `observers=[...]`."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self._tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)
        self._attempts = meter.create_counter(
            "swapkit.attempts", description="tries at a provider, by outcome"
        )
        self._failovers = meter.create_counter(
            "swapkit.failovers", description="swaps moved on from a provider"
        )
        self._spend = meter.create_counter(
            "swapkit.spend", unit="USD", description="what attempts may have cost"
        )
        self._duration = meter.create_histogram(
            "swapkit.attempt.duration", unit="s", description="how long a try took"
        )
        self._spans: dict[str, Span] = {}
        self._lock = threading.Lock()

    def _span(self, swap_id: str) -> Span | None:
        with self._lock:
            return self._spans.get(swap_id)

    @hookimpl
    def swap_started(self, swap_id: str) -> None:
        span = self._tracer.start_span("swapkit.swap", attributes={"swapkit.swap_id": swap_id})
        with self._lock:
            self._spans[swap_id] = span

    @hookimpl
    def attempt_finished(self, attempt: Attempt, swap_id: str) -> None:
        outcome = "skipped" if attempt.skipped else outcome_of(attempt.error)
        labels = {"provider": attempt.provider, "outcome": outcome}
        self._attempts.add(1, labels)
        if not attempt.skipped:
            self._duration.record(attempt.elapsed_seconds, {"provider": attempt.provider})
        if attempt.cost_usd:
            self._spend.add(attempt.cost_usd, {"provider": attempt.provider})
        span = self._span(swap_id)
        if span is None:
            return
        attributes: dict[str, Any] = {
            "swapkit.provider": attempt.provider,
            "swapkit.outcome": outcome,
            "swapkit.elapsed_seconds": attempt.elapsed_seconds,
            "swapkit.charged": "unknown" if attempt.charged is None else str(attempt.charged),
        }
        if attempt.model:
            attributes["swapkit.model"] = attempt.model
        if attempt.cost_usd is not None:
            attributes["swapkit.cost_usd"] = attempt.cost_usd
        if attempt.job_id:
            attributes["swapkit.job_id"] = attempt.job_id
        if attempt.skipped:
            attributes["swapkit.reason"] = attempt.reason
        span.add_event("attempt", attributes)

    @hookimpl
    def failover(self, from_provider: str, to_provider: str, error: Any, swap_id: str) -> None:
        self._failovers.add(1, {"from_provider": from_provider, "to_provider": to_provider})
        span = self._span(swap_id)
        if span is not None:
            span.add_event(
                "failover",
                {
                    "swapkit.from_provider": from_provider,
                    "swapkit.to_provider": to_provider,
                    "swapkit.error": type(error).__name__,
                },
            )

    @hookimpl
    def job_accepted(self, provider: str, job_id: str | None, swap_id: str) -> None:
        span = self._span(swap_id)
        if span is not None:
            attributes = {"swapkit.provider": provider}
            if job_id:
                attributes["swapkit.job_id"] = job_id
            span.add_event("accepted", attributes)

    @hookimpl
    def swap_finished(self, swap_id: str, result: Any, error: Any) -> None:
        with self._lock:
            span = self._spans.pop(swap_id, None)
        if span is None:
            return
        source = result if result is not None else error
        provider = getattr(result, "provider", None) or getattr(error, "provider", None)
        if provider:
            span.set_attribute("swapkit.provider", provider)
        spent = getattr(source, "spent_usd", None)
        if spent is not None:
            span.set_attribute("swapkit.spent_usd", spent)
        if error is not None:
            span.set_attribute("swapkit.error", type(error).__name__)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        elif result is None:
            span.set_attribute("swapkit.handed_off", True)
        span.end()
