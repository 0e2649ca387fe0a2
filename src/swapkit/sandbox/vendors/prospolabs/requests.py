"""Prospolabs' swap request: its models, its body and the image limit (seeds 000 and 001)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CARTOON_MODELS", "MAX_IMAGE_BYTES", "MODELS", "SwapBody"]

MODELS = ("realistic", "cartoon", "fast", "cartoon-lite")
"""The `{model}` of `POST /v1/swap/{model}`; any other is 404."""

CARTOON_MODELS = frozenset({"cartoon", "cartoon-lite"})
"""Models whose results are posterized, so they look unlike the realistic ones."""

MAX_IMAGE_BYTES = 10 * 1024 * 1024
"""The documented "10 MB" limit, read as 10 MiB of decoded image bytes per image."""


class SwapBody(BaseModel):
    """The documented request body of `POST /v1/swap/{model}`."""

    model_config = ConfigDict(extra="ignore")

    source_image: str
    target_image: str
    prompt: str | None = None
    output_format: Literal["jpeg", "png", "webp"] = "jpeg"
    output_quality: int = Field(default=95, ge=10, le=100)
    webhook_url: str | None = None
