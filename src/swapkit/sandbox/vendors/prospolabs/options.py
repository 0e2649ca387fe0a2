"""Prospolabs' options: the emulator's knobs where seeds 000 and 001 leave a choice."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...vendor import VendorOptions

__all__ = ["ProspolabsOptions"]


class ProspolabsOptions(VendorOptions):
    """Prospolabs' options: `Sandbox(vendor_options={"prospolabs": {...}})`."""

    webhook_secret: str = "whsec-sandbox"
    """The webhook signing secret (`X-Prospo-Signature`)."""

    error_codes: bool = True
    """Error bodies carry `"code"` and `"message"` next to `"detail"` (seed 001: "All error
    responses include a JSON body with a machine-readable code and a human-readable message");
    `False` gives the example's `{"detail"}` alone.  The code names are the sandbox's own [I]."""

    validation_status: Literal[400, 422] = 400
    """The status of a body that fails validation: 400 (seed 001's errors table, "invalid request
    body, missing required fields"), or 422 as a FastAPI app answers by default."""

    sync_limit_seconds: float = Field(default=120.0, gt=0)
    """The blocking endpoint's limit (seed 001: "Timeout: 120 seconds max. If processing exceeds
    this, use async mode."): a longer job answers 504, refunded."""

    rate_limit_headers: bool = True
    """`X-RateLimit-*` on every authenticated answer (seed 001). With no `rate_limit` configured
    they advertise `advertised_limit` requests a minute, never enforced."""

    advertised_limit: int = Field(default=600, ge=1)
    """The limit the headers advertise when no `rate_limit` is configured."""
