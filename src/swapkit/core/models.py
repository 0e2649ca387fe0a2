"""The data that crosses swapkit's public surface: requests, results, templates, attempts, events.

`SwapRequest` is a frozen pydantic model so that a bad field (an `output_quality` of 5, an
unknown style) fails at construction with a clear message, before any provider sees it.  The
result types are frozen dataclasses: they are built only by swapkit, hold raw image bytes and
exceptions, and need no validation.  Image bytes are kept by reference, never copied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from swapkit.core.errors import SwapError
from swapkit.core.http import is_http_url

__all__ = [
    "Attempt",
    "ImageInput",
    "OutputFormat",
    "Quality",
    "Style",
    "SwapRequest",
    "SwapResult",
    "Template",
    "WebhookEvent",
]

#: What a caller may pass as an image: a path, raw bytes, an http(s) URL or a ``data:`` URI.
ImageInput = str | Path | bytes

#: The look of the result. Providers declare which styles they can produce.
Style = Literal["realistic", "cartoon"]

#: Speed/fidelity trade-off, mapped by each provider onto its own models or quality levels.
Quality = Literal["fast", "standard", "high", "max"]

#: Output encodings swapkit can deliver (converting locally when a vendor cannot).
OutputFormat = Literal["jpeg", "png", "webp"]


@dataclasses.dataclass(frozen=True)
class Template:
    """A vendor-side scene (a "filter") that receives the face, used instead of a target image."""

    id: str
    name: str | None = None
    provider: str | None = None


class SwapRequest(BaseModel):
    """One face swap: put the face from `source` into `target`.

    `target` is an image, or a `Template` for template vendors; it may be omitted when a
    `prompt` alone describes the scene.  `deadline`, `max_attempts` and `max_cost_usd` override
    the client's defaults for this swap only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    source: ImageInput
    target: ImageInput | Template | None = None
    style: Style | None = None
    quality: Quality | None = None
    output_format: OutputFormat | None = None
    output_quality: int | None = Field(default=None, ge=10, le=100)
    face_index: int | None = Field(default=None, ge=0)
    prompt: str | None = None
    webhook_url: str | None = None
    options: Mapping[str, Mapping[str, Any]] = Field(default_factory=dict)
    deadline: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_attempts: int | None = Field(default=None, ge=1)
    max_cost_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @field_validator("deadline", "max_attempts", "max_cost_usd", mode="before")
    @classmethod
    def _no_booleans(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be a number, not a bool")
        return value

    @field_validator("output_format", mode="before")
    @classmethod
    def _normalise_format(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.lower()
            return "jpeg" if value == "jpg" else value
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not is_http_url(value):
            raise ValueError("webhook_url must be an http:// or https:// URL with a host")
        return value

    @property
    def target_kind(self) -> Literal["image", "template", "prompt"]:
        """What receives the face: an image, a vendor template, or a prompt alone."""
        if isinstance(self.target, Template):
            return "template"
        if self.target is None:
            return "prompt"
        return "image"

    def options_for(self, provider: str) -> Mapping[str, Any]:
        """The extra vendor fields given for one provider (empty when none)."""
        return self.options.get(provider, {})


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One try at one provider: why it was chosen, how it ended, what it took and cost.

    `charged` says whether the vendor charged for it: True (it accepted a paid job and has
    not refunded it), False (nothing was accepted, or the vendor refunds what failed), None
    (unknown: a submit's answer was lost, or a job that is billed only on success was still
    running).  `cost_usd` follows it: the price when charged or unknown, 0.0 when not charged,
    None when the price itself is unknown.  `job_id` is the vendor's job id, when one was seen.
    """

    provider: str
    model: str | None = None
    reason: str = ""
    error: SwapError | None = None
    elapsed_seconds: float = 0.0
    cost_usd: float | None = 0.0
    #: True when the provider was passed over before anything was sent (`reason` says why).
    skipped: bool = False
    charged: bool | None = False
    job_id: str | None = None
    #: True when the shared state store (``state=``: breakers, pacing) was down during this
    #: try, so they were this process's own: the try went ahead on local state.
    store_degraded: bool = False

    @property
    def ok(self) -> bool:
        """True when this attempt produced the result."""
        return self.error is None and not self.skipped


@dataclasses.dataclass(frozen=True)
class SwapResult:
    """A finished swap: the image and everything known about how it was made.

    Durations are seconds; `expires_at` is an aware UTC datetime; `raw` is the vendor's final
    JSON, kept for debugging.
    """

    provider: str
    image: bytes = dataclasses.field(repr=False)
    media_type: str
    width: int
    height: int
    model: str | None = None
    job_id: str | None = None
    url: str | None = None
    expires_at: datetime | None = None
    processing_seconds: float | None = None
    elapsed_seconds: float = 0.0
    cost_usd: float | None = None
    credits_used: float | None = None
    faces_detected: int | None = None
    attempts: tuple[Attempt, ...] = ()
    raw: Any = dataclasses.field(default=None, repr=False)
    #: What the whole swap may have cost: every attempt's `cost_usd` added up (None when any
    #: is unknown).  `cost_usd` is the serving attempt's alone.
    spent_usd: float | None = None
    #: swapkit's id for this swap (``swp_…``), the same in observer hooks and errors.
    swap_id: str | None = None
    #: True when the result came from the result cache, with no vendor call.
    cached: bool = False

    @property
    def extension(self) -> str:
        """The usual file extension for `media_type`, without the dot (``"png"``)."""
        subtype = self.media_type.partition("/")[2]
        return "jpg" if subtype == "jpeg" else subtype

    def save(self, path: str | Path) -> Path:
        """Write the image bytes to `path` (as they are; see `extension`) and return the path."""
        target = path if isinstance(path, Path) else Path(path)
        target.write_bytes(self.image)
        return target


@dataclasses.dataclass(frozen=True)
class WebhookEvent:
    """A vendor's job notification, verified and normalised.

    `status` is ``"completed"`` or ``"failed"``; `processing_seconds` is always seconds whatever
    unit the vendor used; `timestamp` is an aware UTC datetime when the vendor sent one.
    """

    provider: str
    status: Literal["completed", "failed"]
    job_id: str
    event: str | None = None
    model: str | None = None
    result_url: str | None = None
    processing_seconds: float | None = None
    error: str | None = None
    timestamp: datetime | None = None
    raw: Any = dataclasses.field(default=None, repr=False)
    #: The swapkit job the delivery belongs to (`client.webhooks.handle` sets it).
    swap_id: str | None = None
    #: True when the delivery was received before: answered, without effect.
    duplicate: bool = False
