"""The EventStation.ai emulator, mounted at `/eventstation/` (see `app` for the contract it
follows)."""

from __future__ import annotations

from .app import DEFAULT_API_KEY, EventStationVendor
from .filters import DEFAULT_FILTERS, EventStationFilter
from .options import EventStationOptions, OutputFormat, TimingFields

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_FILTERS",
    "EventStationFilter",
    "EventStationOptions",
    "EventStationVendor",
    "OutputFormat",
    "TimingFields",
]
