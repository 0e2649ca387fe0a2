"""EventStation's options: the emulator's readings where the vendor leaves things unknown."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...vendor import VendorOptions
from .filters import DEFAULT_FILTERS, EventStationFilter, FilterKey

__all__ = ["EventStationOptions", "OutputFormat", "TimingFields"]

OutputFormat = Literal["png", "jpeg", "webp"]
TimingFields = Literal["v6", "all", "none"]
"""Which status bodies carry `delayTime`/`executionTime`: v6 only, both generations, none."""

_HEADER_TOKEN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"


class EventStationOptions(VendorOptions):
    """EventStation's options: `Sandbox(vendor_options={"eventstation": {...}})`.

    The vendor leaves most of these unknown; each default is the sandbox's reading.
    """

    auth_header: str = Field(default="Authorization", pattern=_HEADER_TOKEN)
    """The header that carries the API key (any case on the wire)."""

    auth_scheme: str = Field(default="Bearer", pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]*$")
    """The word before the key (`Bearer <key>`), matched case-insensitively; "" = the bare key."""

    invalid_key_status: Literal[401, 403] = 403
    """The status of a well-formed but unknown key (`{"detail": "Invalid API key"}`)."""

    filters: tuple[EventStationFilter, ...] = DEFAULT_FILTERS
    """The filter catalogue (`GET /v1/filters/` lists the `listed` ones; all are usable)."""

    output_format: OutputFormat = "png"
    """The encoding of the result images (PNG, like ComfyUI's SaveImage [I])."""

    result_scale: float = Field(default=1.0, gt=0, le=1)
    """Scale of the result size (1.0: 1200x1800 portrait); tests use small values."""

    timing_fields: TimingFields = "v6"
    """Which status bodies carry RunPod's `delayTime`/`executionTime` (milliseconds)."""

    invalid_input_outcome: Literal["failed", "empty"] = "failed"
    """A job whose photo is unusable ends `FAILED` with `error`, or `COMPLETED` with no images."""

    job_ttl_seconds: float | None = Field(default=30 * 60.0, gt=0)
    """How long a finished job stays visible (RunPod's 30 minutes [I]); None: forever."""

    max_concurrent_jobs: int | None = Field(default=None, ge=1)
    """Jobs of one key waiting or running at once before 429 (the plans allow 3-4); None: any."""

    @model_validator(mode="after")
    def _unique_filter_ids(self) -> EventStationOptions:
        seen: set[FilterKey] = set()
        for entry in self.filters:
            if entry.key in seen:
                raise ValueError(f"two filters have the id {entry.id!r}")
            seen.add(entry.key)
        return self
