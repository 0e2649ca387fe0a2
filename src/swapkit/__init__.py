"""swapkit: one face-swap API over several vendors, with fallback, cost routing and a sandbox.

from swapkit import SwapClient

with SwapClient(providers=["prospolabs"]) as client:
    result = client.swap(source="me.jpg", target="page-3.png", style="cartoon")
    result.save("out.png")
"""

from swapkit import errors
from swapkit.core.client import AsyncSwapClient, SwapClient
from swapkit.core.hookspecs import hookimpl
from swapkit.core.models import Attempt, SwapRequest, SwapResult, Template, WebhookEvent
from swapkit.core.provider import Capabilities, Provider
from swapkit.core.settings import ProviderSettings

__all__ = [
    "AsyncSwapClient",
    "Attempt",
    "Capabilities",
    "Provider",
    "ProviderSettings",
    "SwapClient",
    "SwapRequest",
    "SwapResult",
    "Template",
    "WebhookEvent",
    "errors",
    "hookimpl",
]

__version__ = "0.1.0"
