"""DeepSwapAI's swap request: its fields, their choices and defaults, checked by hand.

The vendor documents the fields and nothing about how a bad one is refused; every problem is
`INVALID_REQUEST` with a message naming the field (`BadRequest`), checked in the order the
fields are documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from .images import Quality

__all__ = [
    "OUTPUT_FORMATS",
    "QUALITIES",
    "BadRequest",
    "OutputFormat",
    "SwapParameters",
    "parse_swap",
]

OutputFormat = Literal["png", "jpg", "webp"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("png", "jpg", "webp")
QUALITIES: tuple[Quality, ...] = ("standard", "high", "4k")

_FORMATS: dict[str, OutputFormat] = {name: name for name in OUTPUT_FORMATS}
_QUALITIES: dict[str, Quality] = {name: name for name in QUALITIES}
_T = TypeVar("_T")


@dataclass(frozen=True)
class SwapParameters:
    """A swap request's parameters, checked."""

    source_image: str
    target_image: str
    output_format: OutputFormat
    quality: Quality
    face_index: int


class BadRequest(Exception):
    """A body the vendor refuses with `INVALID_REQUEST`; the message says why."""


def _image_field(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if value is None:
        raise BadRequest(f"{field} is required.")
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{field} must be a base64-encoded image or an image URL.")
    return value


def _choice(body: dict[str, Any], field: str, choices: Mapping[str, _T], default: _T) -> _T:
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, str) or value not in choices:
        quoted = ", ".join(f'"{choice}"' for choice in choices)
        raise BadRequest(f"{field} must be one of {quoted}.")
    return choices[value]


def parse_swap(body: Any, *, accept_jpeg: bool) -> SwapParameters:
    """The swap parameters of a JSON body, or `BadRequest`."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    source = _image_field(body, "source_image")
    target = _image_field(body, "target_image")
    formats = {**_FORMATS, "jpeg": "jpg"} if accept_jpeg else _FORMATS
    output_format = _choice(body, "output_format", formats, "png")
    quality = _choice(body, "quality", _QUALITIES, "high")
    face_index = body.get("face_index")
    if face_index is None:
        face_index = 0
    if isinstance(face_index, bool) or not isinstance(face_index, int) or face_index < 0:
        raise BadRequest("face_index must be a non-negative integer.")
    return SwapParameters(source, target, output_format, quality, face_index)
