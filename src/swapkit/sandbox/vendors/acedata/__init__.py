"""The AceDataCloud emulator, mounted at `/acedata/` (see `app` for the contract it follows)."""

from __future__ import annotations

from .app import (
    DEFAULT_TIMEOUT_SECONDS,
    MAX_FILE_BYTES,
    UPLOAD_FOLDER,
    UPLOAD_TTL_SECONDS,
    AceDataVendor,
)
from .options import AceDataOptions, DimensionType

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_FILE_BYTES",
    "UPLOAD_FOLDER",
    "UPLOAD_TTL_SECONDS",
    "AceDataOptions",
    "AceDataVendor",
    "DimensionType",
]
