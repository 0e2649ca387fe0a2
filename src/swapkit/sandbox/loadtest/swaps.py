"""The swaps the load test drives: each vendor's whole exchange, every step checked.

Written from the vendors' contracts (docs/sandbox.md), with the sandbox's default keys:

- `prospolabs`: `POST /prospolabs/v1/swap/realistic` (200, `result_url`), then the GET of the
  result.
- `prospolabs-async`: `POST .../v1/swap/realistic/async` (202, `request_id`), polls of
  `GET .../v1/jobs/{id}` until the job is no longer `processing` (it must be `completed`), then
  the GET of the result. The served sandbox has `job_seconds=0`, so one poll is usually enough.
- `deepswapai`: `POST /deepswapai/v1/image-swap` with base64 images (200, `output_url`), then
  the GET of the output.
- `mixed`: Prospolabs and DeepSwapAI in turn.

A download must be an image (JPEG or PNG magic number). Anything else is a `StepFailed` naming
the step; a broken connection is an OSError.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .client import Connection, StepFailed

__all__ = ["SWAP_KINDS", "PreparedSwap", "prepare_swaps", "run_swap"]

SWAP_KINDS = ("prospolabs", "prospolabs-async", "deepswapai", "mixed")
"""What `--vendor` accepts."""

_MAX_POLLS = 1000
_JSON = "Content-Type: application/json"


@dataclass(frozen=True)
class PreparedSwap:
    """One swap ready to send: which exchange, and its submit body (built once)."""

    kind: str
    body: bytes


def prepare_swaps(kind: str, pairs: Sequence[tuple[bytes, bytes]]) -> list[PreparedSwap]:
    """The swaps of `kind` for each `(source, target)` pair (`mixed`: two per pair)."""
    if kind not in SWAP_KINDS:
        raise ValueError(f"unknown swap kind {kind!r} (known: {', '.join(SWAP_KINDS)})")
    kinds = ("prospolabs", "deepswapai") if kind == "mixed" else (kind,)
    swaps = []
    for source, target in pairs:
        images = {
            "source_image": base64.b64encode(source).decode(),
            "target_image": base64.b64encode(target).decode(),
        }
        for one in kinds:
            output_format = "png" if one == "deepswapai" else "jpeg"
            body = json.dumps({**images, "output_format": output_format}).encode()
            swaps.append(PreparedSwap(one, body))
    return swaps


async def run_swap(connection: Connection, swap: PreparedSwap) -> None:
    """Do one whole swap on `connection` (`StepFailed` names the step that failed)."""
    await _EXCHANGES[swap.kind](connection, swap.body)


def _json(data: bytes, step: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise StepFailed(f"{step}: not JSON") from None
    if not isinstance(value, dict):
        raise StepFailed(f"{step}: not a JSON object")
    return value


async def _download(connection: Connection, url: Any, vendor: str) -> None:
    if not isinstance(url, str):
        raise StepFailed(f"{vendor}: no result URL")
    parts = urlsplit(url)
    status, data = await connection.request(
        "GET", f"{parts.path}?{parts.query}" if parts.query else parts.path
    )
    if status != 200:
        raise StepFailed(f"{vendor} download: HTTP {status}")
    if not data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")):
        raise StepFailed(f"{vendor} download: not an image")


async def _prospolabs(connection: Connection, body: bytes) -> None:
    auth = "Authorization: Bearer prsp-sandbox"
    status, data = await connection.request(
        "POST", "/prospolabs/v1/swap/realistic", body, (auth, _JSON)
    )
    if status != 200:
        raise StepFailed(f"prospolabs swap: HTTP {status}")
    await _download(connection, _json(data, "prospolabs swap").get("result_url"), "prospolabs")


async def _prospolabs_async(connection: Connection, body: bytes) -> None:
    auth = "Authorization: Bearer prsp-sandbox"
    status, data = await connection.request(
        "POST", "/prospolabs/v1/swap/realistic/async", body, (auth, _JSON)
    )
    if status != 202:
        raise StepFailed(f"prospolabs async submit: HTTP {status}")
    job = f"/prospolabs/v1/jobs/{_json(data, 'prospolabs async submit').get('request_id')}"
    for _ in range(_MAX_POLLS):
        status, data = await connection.request("GET", job, headers=(auth,))
        if status != 200:
            raise StepFailed(f"prospolabs poll: HTTP {status}")
        view = _json(data, "prospolabs poll")
        if view.get("status") != "processing":
            break
    if view.get("status") != "completed":
        raise StepFailed(f"prospolabs poll: {view.get('status')}")
    await _download(connection, view.get("result_url"), "prospolabs")


async def _deepswapai(connection: Connection, body: bytes) -> None:
    auth = "Authorization: Bearer ds-sandbox"
    status, data = await connection.request(
        "POST", "/deepswapai/v1/image-swap", body, (auth, _JSON)
    )
    if status != 200:
        raise StepFailed(f"deepswapai swap: HTTP {status}")
    await _download(connection, _json(data, "deepswapai swap").get("output_url"), "deepswapai")


_EXCHANGES: dict[str, Callable[[Connection, bytes], Awaitable[None]]] = {
    "prospolabs": _prospolabs,
    "prospolabs-async": _prospolabs_async,
    "deepswapai": _deepswapai,
}
