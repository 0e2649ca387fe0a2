"""swapkit doing the floors' work (`benchmarks.raw`): the same vendors and images, through
`SwapClient` / `AsyncSwapClient`, and `result.save(out)`.

Each vendor is swapkit's built-in provider pointed at the fake vendor with
``providers={name: {"api_key": ..., "base_url": ...}}``, as an application would configure it,
with everything else at its defaults: the installed plugins, a circuit breaker, retries
(stamina's testing mode is never on here), the default deadline.  Only the configuration
file is left out (``config=False``), so a file on the machine cannot change what is measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from swapkit import AsyncSwapClient, SwapClient, Template

from .raw import API_KEY, POLL_SECONDS, TEMPLATE_ID

__all__ = ["VENDORS", "aswap", "async_client", "provider_settings", "swap", "sync_client"]

#: The built-in providers, in the order the benchmarks list them.
VENDORS = ("prospolabs", "deepswapai", "eventstation", "acedata")


def provider_settings(vendor: str, base_url: str) -> dict[str, Any]:
    """A built-in provider's settings for the fake vendor at `base_url`."""
    settings: dict[str, Any] = {"api_key": API_KEY, "base_url": base_url}
    if vendor == "eventstation":
        settings["poll_interval"] = POLL_SECONDS  # as the floor waits before its one poll
    return settings


def _providers(base_urls: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    return {name: provider_settings(name, url) for name, url in base_urls.items()}


def sync_client(base_urls: Mapping[str, str]) -> SwapClient:
    """A `SwapClient` over the providers named in `base_urls` (tried in that order)."""
    return SwapClient(providers=_providers(base_urls), config=False)


def async_client(base_urls: Mapping[str, str]) -> AsyncSwapClient:
    """An `AsyncSwapClient` over the providers named in `base_urls`."""
    return AsyncSwapClient(providers=_providers(base_urls), config=False)


def _fields(vendor: str, source: bytes, target: bytes) -> dict[str, Any]:
    if vendor == "eventstation":
        # a template vendor: the face goes into template 1, for a woman (the v6 API asks)
        return {
            "source": source,
            "target": Template(id=TEMPLATE_ID),
            "options": {"eventstation": {"gender": "female"}},
        }
    return {"source": source, "target": target}


def swap(client: SwapClient, vendor: str, source: bytes, target: bytes, out: Path) -> None:
    """One swap, its result written to `out` (`vendor` shapes the request, as in the floor)."""
    client.swap(**_fields(vendor, source, target)).save(out)


async def aswap(
    client: AsyncSwapClient, vendor: str, source: bytes, target: bytes, out: Path
) -> None:
    """`swap`, with the `AsyncSwapClient`."""
    result = await client.swap(**_fields(vendor, source, target))
    result.save(out)
