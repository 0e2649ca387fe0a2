"""DeepSwapAI's options: the emulator's readings where the vendor documents nothing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...vendor import VendorOptions
from .errors import DeepSwapAIEnvelope, ErrorStatuses

__all__ = ["MAX_IMAGE_BYTES", "DeepSwapAIOptions"]

MAX_IMAGE_BYTES = 50 * 1024 * 1024
"""The documented "50MB", read as 50 MiB of decoded bytes per image (as the other vendors)."""


class DeepSwapAIOptions(VendorOptions):
    """DeepSwapAI's options: `Sandbox(vendor_options={"deepswapai": {...}})`.

    The vendor documents no error envelope or status; each default is the sandbox's reading.
    """

    error_envelope: DeepSwapAIEnvelope = "nested"
    """The error body: `nested`, `flat` or `top_level` (`Fault(envelope=...)` for one answer)."""

    error_statuses: ErrorStatuses = "400"
    """`"400"`: every input error is 400; `"specific"`: 422 / 413 / 415 for the three codes."""

    errors_in_200: bool = False
    """Answer every endpoint error with HTTP 200 (the body still says `success: false`)."""

    credits_status: Literal[402, 403] = 402
    """The status of `INSUFFICIENT_CREDITS`."""

    accept_jpeg: bool = False
    """Take `output_format: "jpeg"` as `jpg` instead of refusing it."""

    output_scale: float = Field(default=1.0, gt=0, le=1)
    """Scale of the quality boxes (4K 3840x2160, standard 1280x720); tests use small values."""

    max_image_bytes: int = Field(default=MAX_IMAGE_BYTES, ge=1)
    """The input limit per image, in decoded bytes (50 MiB)."""
