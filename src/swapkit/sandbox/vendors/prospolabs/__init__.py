"""The Prospolabs emulator, mounted at `/prospolabs/` (see `app` for the contract it follows)."""

from __future__ import annotations

from .app import ProspolabsVendor
from .options import ProspolabsOptions
from .requests import MAX_IMAGE_BYTES, MODELS, SwapBody
from .webhooks import sign_webhook

__all__ = [
    "MAX_IMAGE_BYTES",
    "MODELS",
    "ProspolabsOptions",
    "ProspolabsVendor",
    "SwapBody",
    "sign_webhook",
]
