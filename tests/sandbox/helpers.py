"""Helpers for the sandbox contract tests: tiny images and request bodies.

Everything here talks plain HTTP (httpx); nothing comes from swapkit's client or adapters.
"""

from __future__ import annotations

import base64
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image
from typing_extensions import Self

KEY = "prsp-sandbox"
AUTH = {"Authorization": f"Bearer {KEY}"}
ACE_KEY = "acedata-sandbox"
ACE_AUTH = {"Authorization": f"Bearer {ACE_KEY}"}
ES_KEY = "es-sandbox"
ES_AUTH = {"Authorization": f"Bearer {ES_KEY}"}
DS_KEY = "ds-sandbox"
DS_AUTH = {"Authorization": f"Bearer {DS_KEY}"}
SOURCE_COLOR = (200, 150, 120)
TARGET_COLOR = (30, 90, 160)


def image_bytes(
    size: tuple[int, int] = (16, 12),
    color: tuple[int, int, int] = (30, 90, 160),
    fmt: str = "PNG",
    *,
    flat: bool = False,
) -> bytes:
    """A tiny image; unless `flat`, one differing pixel gives it a "face"."""
    image = Image.new("RGB", size, color)
    if not flat:
        image.putpixel((0, 0), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def swap_body(**overrides: Any) -> dict[str, Any]:
    """A valid request body: source 16x12 PNG, target 40x30 JPEG."""
    body: dict[str, Any] = {
        "source_image": b64(image_bytes((16, 12), (200, 150, 120))),
        "target_image": b64(image_bytes((40, 30), (30, 90, 160), "JPEG")),
    }
    body.update(overrides)
    return body


def face_b64(color: tuple[int, int, int] = SOURCE_COLOR, *, flat: bool = False) -> str:
    """A tiny face photo as base64 (flat: one colour, which has no face)."""
    return b64(image_bytes((16, 12), color, flat=flat))


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def upload(client: Any, data: bytes, filename: str = "image.png", media_type: str = "") -> str:
    """Upload `data` to AceDataCloud's `/files/upload` (sync httpx client); returns the URL."""
    part = (filename, data, media_type) if media_type else (filename, data)
    response = client.post("/files/upload", files={"file": part})
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


def ace_body(client: Any, **overrides: Any) -> dict[str, Any]:
    """A valid AceDataCloud swap body: uploaded source 16x12 PNG and target 40x30 JPEG."""
    body: dict[str, Any] = {
        "source_image_url": upload(client, image_bytes((16, 12), SOURCE_COLOR)),
        "target_image_url": upload(client, image_bytes((40, 30), TARGET_COLOR, "JPEG"), "t.jpg"),
    }
    body.update(overrides)
    return body


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 (a free port) running `handler` on a thread while the
    `with` block runs; `url` is its address plus `path`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], path: str = "/") -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class FileServer(LoopbackServer):
    """A loopback HTTP server answering every GET with `data` (an image host for input URLs)."""

    def __init__(self, data: bytes, media_type: str = "image/png") -> None:
        class Handler(_QuietHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler, "/image.png")


class Receiver(LoopbackServer):
    """A loopback webhook receiver on a real socket; answers with `statuses` in turn (then 200)."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []  # request targets, query string included
        statuses_left = list(statuses)
        receiver = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(body)
                receiver.paths.append(self.path)
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(statuses_left.pop(0) if statuses_left else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler, "/hook")
