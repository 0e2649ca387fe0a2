"""Everything a provider plugin needs, in one import: the base class, the outcomes a provider
returns, the capability declaration and the HTTP helpers.  Nothing else lives here.

    from swapkit.provider import Capabilities, Done, Pending, Provider, VendorResult

A provider is sans-I/O: it builds `httpx.Request` objects and reads `httpx.Response` objects,
and swapkit's engine sends, retries, polls, waits and downloads for every provider alike.  The
errors a provider raises are in `swapkit.errors`; `swapkit.hookimpl` registers the class.  See
docs/plugins.md for a whole plugin, and `swapkit.testing.contract` for the suite that proves it
behaves as the router expects.

When a provider class is registered, its `capabilities` are checked against the methods it
implements: a provider that declares ``"async"`` must implement `Provider.build_poll` and
`Provider.parse_poll`, one that declares ``uploads`` `build_upload` and `parse_upload`, and so on
(`check_provider_class`).
"""

from __future__ import annotations

from swapkit.core.images import LoadedImage
from swapkit.core.provider import (
    Capabilities,
    Done,
    JsonBody,
    Outcome,
    Pending,
    Plan,
    PreparedSwap,
    Provider,
    VendorResult,
    body_text,
    check_provider_class,
    describe_response,
    error_message,
    get_header,
    json_body,
    json_object,
    json_request,
)
from swapkit.core.settings import ProviderSettings

__all__ = [
    "Capabilities",
    "Done",
    "JsonBody",
    "LoadedImage",
    "Outcome",
    "Pending",
    "Plan",
    "PreparedSwap",
    "Provider",
    "ProviderSettings",
    "VendorResult",
    "body_text",
    "check_provider_class",
    "describe_response",
    "error_message",
    "get_header",
    "json_body",
    "json_object",
    "json_request",
]
