"""The floors: each vendor's swap written by hand with httpx, as an application would.

Each function does exactly the exchanges swapkit does for that vendor, with the same bodies:
the images base64-encoded on every call (or uploaded, for AceDataCloud), the same headers, the
result downloaded (or decoded from base64, for EventStation) and written to `out`.  What it
leaves out is what swapkit adds: input and result checks, routing, retries, breakers, hooks.

A body that carries images is joined from the base64 bytes themselves (base64 needs no JSON
escaping), as careful hand-written code does.  The everyday ``json={...}`` with ``str`` images
costs three more copies of each image (the escaped string, the document, its encoding): with
it, the floor is slower than swapkit at 5 MB and needs ten times a 50 MiB image, which would
flatter swapkit rather than measure it.  Small bodies (a status poll, URLs) use ``json=``.

Every function takes ``(client, base_url, source, target, out)``; EventStation swaps a face
into a template, so it ignores `target` (as swapkit does, given a `Template`).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import httpx

__all__ = [
    "API_KEY",
    "ASYNC_SWAPS",
    "POLL_SECONDS",
    "SYNC_SWAPS",
    "TEMPLATE_ID",
    "AsyncSwap",
    "SyncSwap",
]

API_KEY = "bench-key"
#: EventStation's wait before its one poll (its default is 3 s; the fake job is done at once).
POLL_SECONDS = 0.0001
#: The EventStation template (``filter_id``) every swap uses.
TEMPLATE_ID = "1"
_HEADERS = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}
_JSON_HEADERS = {**_HEADERS, "Content-Type": "application/json"}
#: The female gender code of EventStation's v6 API.
_FEMALE = 1

SyncSwap = Callable[[httpx.Client, str, bytes, bytes, Path], None]
AsyncSwap = Callable[[httpx.AsyncClient, str, bytes, bytes, Path], Awaitable[None]]


def _two_images(source: bytes, target: bytes) -> bytes:
    """``{"source_image": <base64>, "target_image": <base64>}`` as bytes."""
    return b'{"source_image":"%s","target_image":"%s"}' % (
        base64.b64encode(source),
        base64.b64encode(target),
    )


def _face(source: bytes) -> bytes:
    """EventStation's v6 body: the face in base64, template 1, a woman."""
    return b'{"base64":"%s","gender":%d,"filter_id":%d}' % (
        base64.b64encode(source),
        _FEMALE,
        int(TEMPLATE_ID),
    )


def _media_type(image: bytes) -> str:
    return "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"


def _file(role: str, image: bytes) -> Mapping[str, tuple[str, bytes, str]]:
    media_type = _media_type(image)
    return {"file": (f"{role}.{media_type.partition('/')[2]}", image, media_type)}


# -- sync -------------------------------------------------------------------------------------


def prospolabs(
    client: httpx.Client, base_url: str, source: bytes, target: bytes, out: Path
) -> None:
    """``POST /v1/swap/realistic`` with both images in base64, then ``GET`` its result_url."""
    body = _two_images(source, target)
    answer = client.post(f"{base_url}/v1/swap/realistic", content=body, headers=_JSON_HEADERS)
    answer.raise_for_status()
    image = client.get(answer.json()["result_url"])
    image.raise_for_status()
    out.write_bytes(image.content)


def deepswapai(
    client: httpx.Client, base_url: str, source: bytes, target: bytes, out: Path
) -> None:
    """``POST /v1/image-swap`` with both images in base64, then ``GET`` its output_url."""
    body = _two_images(source, target)
    answer = client.post(f"{base_url}/v1/image-swap", content=body, headers=_JSON_HEADERS)
    answer.raise_for_status()
    image = client.get(answer.json()["output_url"])
    image.raise_for_status()
    out.write_bytes(image.content)


def eventstation(
    client: httpx.Client, base_url: str, source: bytes, target: bytes, out: Path
) -> None:
    """``POST /v6/run/face_swap`` (face in base64, template, gender); wait; ``POST`` its
    status; decode the base64 image."""
    job = client.post(f"{base_url}/v6/run/face_swap", content=_face(source), headers=_JSON_HEADERS)
    job.raise_for_status()
    time.sleep(POLL_SECONDS)
    status = client.post(f"{base_url}/v6/status/{job.json()['id']}", json={}, headers=_HEADERS)
    status.raise_for_status()
    out.write_bytes(base64.b64decode(status.json()["output"]["images"][0]))


def acedata(client: httpx.Client, base_url: str, source: bytes, target: bytes, out: Path) -> None:
    """Upload both images (``POST /files/upload``), ``POST /face/swap`` with their URLs, then
    ``GET`` its image_url."""
    urls = []
    for role, picture in (("source", source), ("target", target)):
        upload = client.post(
            f"{base_url}/files/upload", files=_file(role, picture), headers=_HEADERS
        )
        upload.raise_for_status()
        urls.append(upload.json()["url"])
    body = {"source_image_url": urls[0], "target_image_url": urls[1], "timeout": 119}
    answer = client.post(f"{base_url}/face/swap", json=body, headers=_HEADERS)
    answer.raise_for_status()
    image = client.get(answer.json()["image_url"])
    image.raise_for_status()
    out.write_bytes(image.content)


# -- async ------------------------------------------------------------------------------------


async def aprospolabs(
    client: httpx.AsyncClient, base_url: str, source: bytes, target: bytes, out: Path
) -> None:
    """`prospolabs`, with `httpx.AsyncClient`."""
    body = _two_images(source, target)
    answer = await client.post(f"{base_url}/v1/swap/realistic", content=body, headers=_JSON_HEADERS)
    answer.raise_for_status()
    image = await client.get(answer.json()["result_url"])
    image.raise_for_status()
    out.write_bytes(image.content)


async def adeepswapai(
    client: httpx.AsyncClient, base_url: str, source: bytes, target: bytes, out: Path
) -> None:
    """`deepswapai`, with `httpx.AsyncClient`."""
    body = _two_images(source, target)
    answer = await client.post(f"{base_url}/v1/image-swap", content=body, headers=_JSON_HEADERS)
    answer.raise_for_status()
    image = await client.get(answer.json()["output_url"])
    image.raise_for_status()
    out.write_bytes(image.content)


async def aeventstation(
    client: httpx.AsyncClient, base_url: str, source: bytes, target: bytes, out: Path
) -> None:
    """`eventstation`, with `httpx.AsyncClient`."""
    job = await client.post(
        f"{base_url}/v6/run/face_swap", content=_face(source), headers=_JSON_HEADERS
    )
    job.raise_for_status()
    await asyncio.sleep(POLL_SECONDS)
    status = await client.post(
        f"{base_url}/v6/status/{job.json()['id']}", json={}, headers=_HEADERS
    )
    status.raise_for_status()
    out.write_bytes(base64.b64decode(status.json()["output"]["images"][0]))


async def aacedata(
    client: httpx.AsyncClient, base_url: str, source: bytes, target: bytes, out: Path
) -> None:
    """`acedata`, with `httpx.AsyncClient`."""
    urls = []
    for role, picture in (("source", source), ("target", target)):
        upload = await client.post(
            f"{base_url}/files/upload", files=_file(role, picture), headers=_HEADERS
        )
        upload.raise_for_status()
        urls.append(upload.json()["url"])
    body = {"source_image_url": urls[0], "target_image_url": urls[1], "timeout": 119}
    answer = await client.post(f"{base_url}/face/swap", json=body, headers=_HEADERS)
    answer.raise_for_status()
    image = await client.get(answer.json()["image_url"])
    image.raise_for_status()
    out.write_bytes(image.content)


#: The sync floor of each vendor, by swapkit provider name.
SYNC_SWAPS: Mapping[str, SyncSwap] = {
    "prospolabs": prospolabs,
    "deepswapai": deepswapai,
    "eventstation": eventstation,
    "acedata": acedata,
}
#: The async floor of each vendor, by swapkit provider name.
ASYNC_SWAPS: Mapping[str, AsyncSwap] = {
    "prospolabs": aprospolabs,
    "deepswapai": adeepswapai,
    "eventstation": aeventstation,
    "acedata": aacedata,
}
