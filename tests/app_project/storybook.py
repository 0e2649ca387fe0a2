"""A children's-book platform's one swapkit call: put the child's face on a page."""

from __future__ import annotations

from pathlib import Path

from swapkit import SwapClient


def personalise_page(client: SwapClient, photo: Path, page: Path) -> bytes:
    """The page with the child's face, as PNG bytes."""
    result = client.swap(source=photo, target=page, style="cartoon", output_format="png")
    return result.image
