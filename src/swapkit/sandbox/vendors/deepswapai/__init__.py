"""The DeepSwapAI emulator, mounted at `/deepswapai/` (see `app` for the contract it follows)."""

from __future__ import annotations

from .app import DEFAULT_API_KEY, RESULT_FOLDER, DeepSwapAIVendor
from .options import MAX_IMAGE_BYTES, DeepSwapAIOptions
from .requests import OUTPUT_FORMATS, QUALITIES, OutputFormat

__all__ = [
    "DEFAULT_API_KEY",
    "MAX_IMAGE_BYTES",
    "OUTPUT_FORMATS",
    "QUALITIES",
    "RESULT_FOLDER",
    "DeepSwapAIOptions",
    "DeepSwapAIVendor",
    "OutputFormat",
]
