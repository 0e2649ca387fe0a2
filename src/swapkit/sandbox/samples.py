"""Sample images for trying swapkit on the sandbox: a cartoon face and a scene with a person.

The sandbox finds a face in both, so a swap of one into the other succeeds; the demo, the docs'
examples and a new user's first script can use them instead of bringing photos.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

__all__ = ["flat_image", "sample_face", "sample_scene"]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def sample_face() -> bytes:
    """A 256x256 PNG of a drawn face."""
    face = Image.new("RGB", (256, 256), (245, 222, 179))
    draw = ImageDraw.Draw(face)
    draw.ellipse((48, 32, 208, 224), fill=(255, 205, 160), outline=(120, 80, 40), width=4)
    draw.ellipse((90, 100, 110, 120), fill=(40, 40, 40))
    draw.ellipse((146, 100, 166, 120), fill=(40, 40, 40))
    draw.arc((92, 140, 164, 190), start=10, end=170, fill=(160, 40, 40), width=5)
    return _png(face)


def sample_scene() -> bytes:
    """A 512x384 PNG of a figure in a landscape."""
    scene = Image.new("RGB", (512, 384), (90, 150, 210))
    draw = ImageDraw.Draw(scene)
    draw.rectangle((0, 280, 512, 384), fill=(70, 160, 80))
    draw.ellipse((380, 30, 460, 110), fill=(250, 220, 60))
    draw.rectangle((200, 150, 312, 300), fill=(200, 60, 60))
    draw.ellipse((206, 60, 306, 160), fill=(240, 200, 170))
    return _png(scene)


def flat_image() -> bytes:
    """A flat grey 128x128 PNG: no face in it, so vendors refuse it."""
    return _png(Image.new("RGB", (128, 128), (128, 128, 128)))
