"""EventStation's filter (template) catalogue, and the images the sandbox renders for its jobs.

Design decisions:

- A filter is `{"id", "name"}` as `GET /v1/filters/` shows it: `id` is a **string**, numeric for
  the public catalogue (`"12"`) or a UUID for paid, self-created and alias filters [D]. The
  catalogue is the vendor option `filters` (default `DEFAULT_FILTERS`: the documentation's two
  examples, two more numeric ones and one UUID alias filter). `listed=False` keeps a filter out
  of the listing while it stays usable by id (the default for the UUID filter: alias and
  self-created filters come from the Filter Creator, not the public catalogue [I]).
- A filter's scene is drawn, not stored: a vertical gradient between two colours taken from the
  SHA-256 of its id, a "sun" disc and a ground band, at the size of the request's `ratio`
  (portrait 1200x1800, landscape 1800x1200, square 1280x1280 [D]) times the `result_scale`
  option. A prompt's scene is a radial gradient coloured from the prompt's hash. Both are cheap
  (a 256x256 gradient resized, a point operation, two shapes) and deterministic.
- The result is the scene with the user's face composited in (`images.composite`: an ellipse
  in the centre, 40 % of the shorter side); a prompt job without a face is the scene alone.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Literal

from PIL import Image, ImageDraw, ImageOps
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...images import composite, encode_image

__all__ = [
    "DEFAULT_FILTERS",
    "RATIOS",
    "EventStationFilter",
    "FilterKey",
    "Ratio",
    "filter_key",
    "filter_scene",
    "prompt_scene",
    "render_result",
    "result_size",
]

Ratio = Literal["portrait", "landscape", "square"]
RATIOS: dict[str, tuple[int, int]] = {
    "portrait": (1200, 1800),
    "landscape": (1800, 1200),
    "square": (1280, 1280),
}
"""The documented output size (width, height) of each `ratio`."""

FilterKey = int | str
"""How a filter id is compared: an int for catalogue ids, the canonical UUID string otherwise."""


def filter_key(value: int | str | uuid.UUID) -> FilterKey:
    """The comparable form of a filter id (`"12"` and `12` agree, UUIDs in any case agree)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int):
        return value
    if value.isascii() and value.isdigit():
        return int(value)
    return str(uuid.UUID(value))


class EventStationFilter(BaseModel):
    """One filter of the catalogue (`Sandbox(vendor_options={"eventstation": {"filters": [...]}})`).

    `id` is a numeric string (`"12"`) or a UUID; a UUID is stored in its canonical lower-case
    form. `listed=False` hides the filter from `GET /v1/filters/` without disabling it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    listed: bool = True

    @field_validator("id")
    @classmethod
    def _numeric_or_uuid(cls, value: str) -> str:
        if value.isascii() and value.isdigit():
            return str(int(value))
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError("a filter id is a numeric string or a UUID") from None

    @property
    def is_uuid(self) -> bool:
        """Whether this is a UUID filter (paid, self-created or alias)."""
        return not self.id.isdigit()

    @property
    def key(self) -> FilterKey:
        """The id in the form `filter_key` gives."""
        return filter_key(self.id)


DEFAULT_FILTERS: tuple[EventStationFilter, ...] = (
    EventStationFilter(id="12", name="Cyberpunk Neon"),
    EventStationFilter(id="34", name="Vintage Portrait"),
    EventStationFilter(id="56", name="Superhero Comic"),
    EventStationFilter(id="78", name="Beach Sunset"),
    EventStationFilter(
        id="3f6c2a9e-8b1d-4e57-9a0c-5d2e7b41f8a3", name="Company Gala (alias)", listed=False
    ),
)
"""The built-in catalogue: the documentation's examples plus a few more, and one UUID filter."""


def result_size(ratio: str, scale: float) -> tuple[int, int]:
    """The output size of `ratio` scaled by `scale` (each side rounded, at least 1 pixel)."""
    width, height = RATIOS[ratio]
    return max(1, round(width * scale)), max(1, round(height * scale))


def _palette(seed: str) -> tuple[tuple[int, int, int], ...]:
    digest = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest()
    return tuple((digest[i], digest[i + 1], digest[i + 2]) for i in range(0, 12, 3))


def filter_scene(filter_id: str, size: tuple[int, int]) -> Image.Image:
    """The scene of a filter: a gradient, a sun and a ground band in colours of its id."""
    top, bottom, sun, ground = _palette(f"filter:{filter_id}")
    gradient = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
    scene = ImageOps.colorize(gradient, top, bottom)
    width, height = size
    draw = ImageDraw.Draw(scene)
    radius = max(1, min(width, height) // 8)
    centre_x = width // 4 + (sun[0] * width) // 512
    centre_y = height // 6
    draw.ellipse(
        (centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius), fill=sun
    )
    draw.rectangle((0, height * 5 // 6, width, height), fill=ground)
    return scene


def prompt_scene(prompt: str, size: tuple[int, int]) -> Image.Image:
    """The scene of a self-prompt job: a radial gradient in colours of the prompt's hash."""
    inner, outer, _, _ = _palette(f"prompt:{prompt}")
    gradient = Image.radial_gradient("L").resize(size, Image.Resampling.BILINEAR)
    return ImageOps.colorize(gradient, inner, outer)


def render_result(scene: Image.Image, face: Image.Image | None, output_format: str) -> bytes:
    """The scene with `face` composited in (if any), encoded as `output_format`."""
    image = composite(face, scene) if face is not None else scene
    return encode_image(image, output_format, 90)
