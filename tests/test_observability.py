"""What an application sees of swapkit: the OpenTelemetry and Prometheus integrations (the docs'
examples, run as they are), spans from both clients, and the swap id in every record."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import pluggy
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

from swapkit import AsyncSwapClient, SwapClient, errors
from swapkit.integrations.otel import OpenTelemetryObserver
from swapkit.integrations.prometheus import PrometheusObserver
from swapkit.sandbox import Fault

from .conftest import make_image

DOCS = Path(__file__).resolve().parent.parent / "docs" / "observability.md"
FACE = make_image((48, 40), (220, 180, 150))
SCENE = make_image((64, 56), (30, 90, 160))


def _python_blocks() -> list[str]:
    text = DOCS.read_text()
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
@pytest.mark.parametrize("index", [1, 2], ids=["otel", "prometheus"])
def test_the_docs_examples_run_as_written(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = [block for block in _python_blocks() if "swapkit.integrations" in block]
    example = blocks[index - 1]
    exec(compile(example, f"docs/observability.md example {index}", "exec"), {"__name__": "docs"})
    assert capsys.readouterr().out.strip()


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    return {"job_seconds": 0.05, "credits": 100}


@pytest.fixture
def options(swapkit_sandbox_server: Any, plugin_manager: pluggy.PluginManager) -> dict[str, Any]:
    server = swapkit_sandbox_server
    return {
        "providers": {
            "prospolabs": {
                "api_key": "prsp-sandbox",
                "base_url": server.base_url("prospolabs"),
                "mode": "async",
                "poll_interval": 0.02,
                "price_usd": 0.5,
            },
            "deepswapai": {
                "api_key": "ds-sandbox",
                "base_url": server.base_url("deepswapai"),
                "poll_interval": 0.02,
                "price_usd": 0.5,
            },
        },
        "plugin_manager": plugin_manager,
    }


def swap(kind: str, options: dict[str, Any]) -> Any:
    if kind == "sync":
        with SwapClient(**options) as client:
            try:
                return client.swap(source=FACE, target=SCENE)
            except errors.SwapError as exc:
                return exc

    async def main() -> Any:
        async with AsyncSwapClient(**options) as client:
            try:
                return await client.swap(source=FACE, target=SCENE)
            except errors.SwapError as exc:
                return exc

    return asyncio.run(main())


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> TracerProvider:
    """A tracer provider that exports every finished span to `exporter`."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_a_span_per_swap_with_an_event_per_attempt(
    kind: str,
    options: dict[str, Any],
    swapkit_sandbox_server: Any,
    exporter: InMemorySpanExporter,
    tracing: TracerProvider,
) -> None:
    sandbox = swapkit_sandbox_server.sandbox
    reader = InMemoryMetricReader()
    observer = OpenTelemetryObserver(
        tracer_provider=tracing, meter_provider=MeterProvider(metric_readers=[reader])
    )
    sandbox.faults.add(Fault(provider="prospolabs", kind="status", status=401, times=1))
    result = swap(kind, {**options, "observers": [observer]})
    assert result.provider == "deepswapai"

    (span,) = exporter.get_finished_spans()
    assert span.name == "swapkit.swap"
    assert span.attributes is not None
    assert span.attributes["swapkit.swap_id"] == result.swap_id
    assert span.attributes["swapkit.provider"] == "deepswapai"
    assert span.attributes["swapkit.spent_usd"] == result.spent_usd
    attempts = [event for event in span.events if event.name == "attempt"]
    assert [event.attributes["swapkit.outcome"] for event in attempts] == [  # type: ignore[index]
        "AuthenticationError",
        "ok",
    ]
    assert attempts[1].attributes["swapkit.job_id"] == result.job_id  # type: ignore[index]
    assert "failover" in [event.name for event in span.events]

    data = reader.get_metrics_data()
    assert data is not None
    names = {
        metric.name
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {"swapkit.attempts", "swapkit.failovers", "swapkit.attempt.duration"} <= names


def test_a_failed_swap_ends_its_span_with_an_error_status(
    kind: str,
    options: dict[str, Any],
    swapkit_sandbox_server: Any,
    exporter: InMemorySpanExporter,
    tracing: TracerProvider,
) -> None:
    sandbox = swapkit_sandbox_server.sandbox
    sandbox.faults.add(Fault(kind="status", status=401))
    error = swap(kind, {**options, "observers": [OpenTelemetryObserver(tracing)]})
    assert isinstance(error, errors.SwapError)
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["swapkit.swap_id"] == error.swap_id
    assert len([e for e in span.events if e.name == "attempt"]) == 2


def test_prometheus_counts_attempts_failovers_and_spend(
    kind: str, options: dict[str, Any], swapkit_sandbox_server: Any
) -> None:
    sandbox = swapkit_sandbox_server.sandbox
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    sandbox.faults.add(Fault(provider="prospolabs", kind="status", status=401, times=1))
    result = swap(kind, {**options, "observers": [observer]})
    value = registry.get_sample_value
    assert (
        value(
            "swapkit_attempts_total", {"provider": "prospolabs", "outcome": "AuthenticationError"}
        )
        == 1
    )
    assert value("swapkit_attempts_total", {"provider": "deepswapai", "outcome": "ok"}) == 1
    assert (
        value(
            "swapkit_failovers_total", {"from_provider": "prospolabs", "to_provider": "deepswapai"}
        )
        == 1
    )
    assert value("swapkit_spend_usd_total", {"provider": "deepswapai"}) == result.spent_usd == 0.5
    assert value("swapkit_swaps_total", {"outcome": "ok"}) == 1
    assert value("swapkit_attempt_seconds_count", {"provider": "deepswapai"}) == 1


def test_every_record_of_a_swap_carries_its_id(
    kind: str, options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="swapkit")
    result = swap(kind, options)
    records = [r for r in caplog.records if r.name == "swapkit"]
    events = [r.event for r in records]  # type: ignore[attr-defined]
    assert {"attempt", "job", "swap"} <= set(events)
    assert {r.swap_id for r in records if hasattr(r, "swap_id")} == {result.swap_id}  # type: ignore[attr-defined]
    states = [r.state for r in records if r.event == "job"]  # type: ignore[attr-defined]
    assert states == ["submitting", "running", "succeeded"]
    for record in records:
        assert "sandbox" not in record.getMessage()  # no key, no base URL
