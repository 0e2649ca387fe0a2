"""The built-in vendor emulators: one subpackage per vendor, each mounted at `/<name>/`.

A vendor's subpackage holds everything that is that vendor's: its `Vendor` subclass and routes
(`app`), its `VendorOptions` model (`options`) and, as the vendor needs them, modules named
after its own concepts (`errors`, `requests`, `tasks`, `jobs`, `filters`, `images`,
`webhooks`). Shared machinery stays one level up, in `swapkit.sandbox`, and names no vendor.

`BUILTIN_VENDORS` is the list a default `Sandbox()` starts from; emulators shipped by other
distributions join it through the `swapkit.sandbox` entry point (`swapkit.sandbox.registry`).
"""

from __future__ import annotations

from ..vendor import Vendor
from .acedata import AceDataVendor
from .deepswapai import DeepSwapAIVendor
from .eventstation import EventStationVendor
from .prospolabs import ProspolabsVendor

__all__ = ["BUILTIN_VENDORS"]

BUILTIN_VENDORS: tuple[type[Vendor], ...] = (
    ProspolabsVendor,
    AceDataVendor,
    EventStationVendor,
    DeepSwapAIVendor,
)
"""The emulators that ship with swapkit, in mount order."""
