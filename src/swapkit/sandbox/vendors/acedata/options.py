"""AceDataCloud's options: one per reading its documents disagree on."""

from __future__ import annotations

from typing import Literal

from ...vendor import VendorOptions
from .errors import AceDataEnvelope

__all__ = ["AceDataOptions", "DimensionType"]

DimensionType = Literal["int", "str"]
"""How `image_width`/`image_height` are sent: JSON integers or strings."""


class AceDataOptions(VendorOptions):
    """AceDataCloud's options: `Sandbox(vendor_options={"acedata": {...}})`.

    Each picks one of the readings the vendor's documents disagree on; the defaults follow the
    face-swap guide.
    """

    error_envelope: AceDataEnvelope = "standard"
    """The error body of every API error (`Fault(envelope=...)` overrides it for one answer)."""

    dimension_type: DimensionType = "int"
    """`image_width`/`image_height` as JSON integers (the examples) or strings (the OAS)."""

    async_success: bool = False
    """Answer an async submit with `{"success": true, "task_id"}` instead of `{"task_id"}`."""

    task_status_words: bool = True
    """Add `"status": "processing" | "succeeded" | "failed"` to task records (the vendor SDK
    reads a status word before anything else; `False` gives records with none)."""

    token_mismatched_status: Literal[400, 401] = 400
    """The status of `token_mismatched`: 400 (seed 002's error list) or 401 (the responses
    concept page)."""

    result_ttl_seconds: float = 30 * 24 * 60 * 60.0
    """How long result URLs stay valid (30 days, like the vendor's other image services)."""
