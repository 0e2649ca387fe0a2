"""swapkit: one face-swap API over several vendors, with fallback, cost routing and a sandbox.

    from swapkit import SwapClient

    with SwapClient(providers=["prospolabs"]) as client:
        result = client.swap(source="me.jpg", target="page-3.png", style="cartoon")
        result.save("out.png")

The names below are imported on first use: swapkit's pytest plugin (the sandbox fixtures) is
loaded into every pytest run of a project that installs swapkit, and should not pay for
httpx, pydantic and Pillow unless a test uses them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swapkit import errors
    from swapkit.core.batch import BatchItem, BatchProgress
    from swapkit.core.breaker import CircuitBreaker
    from swapkit.core.client import AsyncSwapClient, SwapClient
    from swapkit.core.handles import AsyncSwapJob, SwapJob
    from swapkit.core.hookspecs import hookimpl
    from swapkit.core.http import deadline_transport
    from swapkit.core.jobs import JobStatus
    from swapkit.core.models import Attempt, SwapRequest, SwapResult, Template, WebhookEvent
    from swapkit.core.policy import FailoverPolicy, Rule
    from swapkit.core.provider import Capabilities, Provider
    from swapkit.core.settings import ProviderSettings
    from swapkit.core.strategies import Strategy
    from swapkit.core.uploads import Uploader

__all__ = [
    "AsyncSwapClient",
    "AsyncSwapJob",
    "Attempt",
    "BatchItem",
    "BatchProgress",
    "Capabilities",
    "CircuitBreaker",
    "FailoverPolicy",
    "JobStatus",
    "Provider",
    "ProviderSettings",
    "Rule",
    "Strategy",
    "SwapClient",
    "SwapJob",
    "SwapRequest",
    "SwapResult",
    "Template",
    "Uploader",
    "WebhookEvent",
    "deadline_transport",
    "errors",
    "hookimpl",
]

__version__ = "0.1.0"

_HOMES = {
    "AsyncSwapClient": "swapkit.core.client",
    "AsyncSwapJob": "swapkit.core.handles",
    "Attempt": "swapkit.core.models",
    "BatchItem": "swapkit.core.batch",
    "BatchProgress": "swapkit.core.batch",
    "Capabilities": "swapkit.core.provider",
    "CircuitBreaker": "swapkit.core.breaker",
    "FailoverPolicy": "swapkit.core.policy",
    "JobStatus": "swapkit.core.jobs",
    "Provider": "swapkit.core.provider",
    "ProviderSettings": "swapkit.core.settings",
    "Rule": "swapkit.core.policy",
    "SwapClient": "swapkit.core.client",
    "SwapJob": "swapkit.core.handles",
    "SwapRequest": "swapkit.core.models",
    "SwapResult": "swapkit.core.models",
    "Strategy": "swapkit.core.strategies",
    "Template": "swapkit.core.models",
    "Uploader": "swapkit.core.uploads",
    "WebhookEvent": "swapkit.core.models",
    "deadline_transport": "swapkit.core.http",
    "hookimpl": "swapkit.core.hookspecs",
}


def __getattr__(name: str) -> Any:
    if name == "errors":
        value: Any = importlib.import_module("swapkit.errors")
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'swapkit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
