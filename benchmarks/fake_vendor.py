"""A fast fake of the four vendors, in its own process, for the benchmarks.

The sandbox (``swapkit.sandbox``) emulates each vendor faithfully: it decodes the images,
finds faces, renders a result, and costs about 15 ms a swap; its listen backlog drops
connections from 50 concurrent clients.  A benchmark needs the opposite: a server whose own
work is negligible beside the client's, so that what is measured is the client.  This one
answers every exchange with bytes prepared at start-up.  It never parses a JSON body or
decodes an image: it reads each request body (``Content-Length`` or chunked) only to throw it
away, and answers from a table keyed by method and path.

URLs are ``http://127.0.0.1:<port>/<result>/<vendor path>``.  ``<result>`` names one of the
result images given on the command line; every answer under it carries that image (a
``result_url`` to it, or the image itself in base64), so a provider's ``base_url`` picks the
result size.  Under each ``<result>`` prefix:

============  ===============================================  ==================================
vendor        exchange                                         answer
============  ===============================================  ==================================
Prospolabs    ``POST /v1/swap/{model}``                        ``{request_id, status, model,
                                                               result_url, inference_time}``
DeepSwapAI    ``POST /v1/image-swap``                          ``{success, job_id, output_url,
                                                               resolution, ...}``
EventStation  ``POST /v6/run/face_swap``,                      ``{id, status: IN_QUEUE}``, then
              ``POST /v6/status/job-1``                        ``COMPLETED`` with
                                                               ``output.images: [<base64>]``
AceData       ``POST /files/upload`` (each image),             ``{success, url}``, then
              ``POST /face/swap``                              ``{success, task_id, image_url,
                                                               image_width, ...}``
(all)         ``GET /results/result.jpg``                      the result image
============  ===============================================  ==================================

Failure modes: everything under ``/fail503/`` answers ``503 Service Unavailable`` (a vendor
that is down); `FakeVendor.refused_url` is a port bound with nothing listening (connection
refused).  ``GET /_stats`` answers the count of requests per first path segment, so a benchmark
can tell how many requests reached a failing vendor.  Any API key is accepted.

Run it alone with ``python -m benchmarks.fake_vendor --result small=PATH [--port N]``: it prints
its port on the first line of its output once it listens, and stops when its input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import io
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from PIL import Image
from typing_extensions import Self

__all__ = ["BACKLOG", "FakeVendor", "Routes", "main"]

#: The listen backlog: 50 clients connecting at once must never be refused.
BACKLOG = 1024
#: The segment under which every request is answered 503.
UNAVAILABLE = "fail503"
#: The longest request head read (request line and headers).
_MAX_HEAD = 64 * 1024
_JOB_ID = "job-1"
_MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def _response(status: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def _json(body: Mapping[str, Any], status: str = "200 OK") -> bytes:
    return _response(status, json.dumps(body).encode(), "application/json")


class Routes:
    """Every answer the server gives, prepared once: ``(method, path)`` → response bytes."""

    def __init__(self, origin: str, results: Mapping[str, Path]) -> None:
        self.answers: dict[tuple[str, str], bytes] = {}
        for name, path in results.items():
            self._add_result(origin, name, path.read_bytes())
        self.unavailable = _json(
            {"detail": "Service Unavailable", "error": {"code": "api_error"}},
            "503 Service Unavailable",
        )
        self.not_found = _json({"detail": "Not Found"}, "404 Not Found")
        self.counts: collections.Counter[str] = collections.Counter()

    def _add_result(self, origin: str, name: str, image: bytes) -> None:
        with Image.open(io.BytesIO(image)) as opened:
            width, height = opened.size
            media_type = _MEDIA_TYPES.get(opened.format or "", "application/octet-stream")
        prefix = f"/{name}"
        result_url = f"{origin}{prefix}/results/result.jpg"
        post: dict[str, dict[str, Any]] = {
            # Prospolabs: the sync swap, every model
            **{
                f"/v1/swap/{model}": {
                    "request_id": "req-1",
                    "status": "completed",
                    "model": model,
                    "result_url": result_url,
                    "inference_time": 0.01,
                }
                for model in ("realistic", "cartoon", "fast", "cartoon-lite")
            },
            # DeepSwapAI
            "/v1/image-swap": {
                "success": True,
                "job_id": "job_1",
                "output_url": result_url,
                "output_format": "jpg",
                "resolution": f"{width}x{height}",
                "processing_time": 10,
                "faces_detected": 1,
                "credits_used": 1,
            },
            # EventStation v6: a job, then its status with the image in base64
            "/v6/run/face_swap": {"id": _JOB_ID, "status": "IN_QUEUE"},
            f"/v6/status/{_JOB_ID}": {
                "id": _JOB_ID,
                "status": "COMPLETED",
                "executionTime": 10,
                "output": {"images": [base64.b64encode(image).decode("ascii")]},
            },
            # AceDataCloud: uploads, then the sync swap
            "/files/upload": {
                "success": True,
                "url": f"{origin}{prefix}/uploads/upload.jpg",
                "expires_at": "2099-01-01T00:00:00.000Z",
            },
            "/face/swap": {
                "success": True,
                "task_id": "task-1",
                "trace_id": "trace-1",
                "image_url": result_url,
                "image_width": width,
                "image_height": height,
                "image_size": len(image),
            },
        }
        for path, body in post.items():
            self.answers["POST", prefix + path] = _json(body)
        self.answers["GET", f"{prefix}/results/result.jpg"] = _response("200 OK", image, media_type)

    def answer(self, method: str, target: str) -> bytes:
        """The response to one request (counted under its first path segment)."""
        path = target.partition("?")[0]
        segment = path.lstrip("/").partition("/")[0]
        if segment == "_stats":
            return _json(dict(self.counts))
        self.counts[segment] += 1
        if segment == UNAVAILABLE:
            return self.unavailable
        return self.answers.get((method, path), self.not_found)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: requests read in turn (keep-alive), bodies discarded."""

    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.state = "head"  # head, body, chunk-size, trailer
        self.remaining = 0  # body bytes still to discard
        self.chunked = False
        self.request: tuple[str, str, bool] = ("", "", False)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.state == "body":
                # a large body is never copied: only counted down
                taken = min(self.remaining, len(view))
                self.remaining -= taken
                view = view[taken:]
                if self.remaining == 0:
                    self._body_read()
                continue
            self.buffer += view
            view = memoryview(b"")
            while self.state != "body" and self._parse_line():
                pass
            if self.state == "body" and self.buffer:
                view = memoryview(bytes(self.buffer))
                self.buffer.clear()

    def _parse_line(self) -> bool:
        """Consume one request head, chunk-size line or trailer line; False if incomplete."""
        if self.state == "head":
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEAD:
                    self._fail()
                return False
            head = bytes(self.buffer[:end]).decode("latin-1")
            del self.buffer[: end + 4]
            self._start_request(head)
            return True
        end = self.buffer.find(b"\r\n")
        if end < 0:
            return False
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        if self.state == "chunk-size":
            size = int(line.partition(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.state = "trailer"
            else:
                self.state, self.remaining = "body", size + 2  # the data and its CRLF
        elif not line:  # the empty line that ends the trailer
            self._respond()
        return True

    def _start_request(self, head: str) -> None:
        request_line, *header_lines = head.split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        headers = {}
        for header in header_lines:
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        close = headers.get("connection", "").lower() == "close"
        self.request = (method, target, close)
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if self.chunked:
            self.state = "chunk-size"
            return
        self.remaining = int(headers.get("content-length", "0"))
        if self.remaining:
            self.state = "body"
        else:
            self._respond()

    def _body_read(self) -> None:
        if self.chunked:
            self.state = "chunk-size"
        else:
            self._respond()

    def _respond(self) -> None:
        method, target, close = self.request
        self.state = "head"
        assert self.transport is not None
        self.transport.write(self.routes.answer(method, target))
        if close:
            self.transport.close()

    def _fail(self) -> None:
        assert self.transport is not None
        self.transport.write(_response("400 Bad Request", b"", "text/plain"))
        self.transport.close()


async def serve(results: Mapping[str, Path], host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve until the standard input closes, printing the port once listening."""
    loop = asyncio.get_running_loop()
    routes: list[Routes] = []
    server = await loop.create_server(
        lambda: _Connection(routes[0]), host, port, backlog=BACKLOG, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    routes.append(Routes(f"http://{host}:{bound}", results))
    stopped = loop.create_future()

    def wait_for_eof() -> None:
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stopped.set_result, None)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    print(bound, flush=True)
    async with server:
        await stopped


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.fake_vendor --result NAME=PATH ... [--port N]``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fake_vendor")
    parser.add_argument("--result", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    results = {}
    for item in args.result:
        name, _, path = item.partition("=")
        results[name] = Path(path)
    asyncio.run(serve(results, port=args.port))


class FakeVendor:
    """The fake vendor started in a child process, with a refused port beside it.

    ``with FakeVendor({"small": path}) as vendor:`` then `url` for a result's base URL,
    `unavailable_url` for a vendor answering 503, `refused_url` for one refusing connections.
    """

    def __init__(self, results: Mapping[str, Path]) -> None:
        self.results = dict(results)
        self._process: subprocess.Popen[bytes] | None = None
        self._dead: socket.socket | None = None
        self.origin = ""
        self.refused_url = ""

    def __enter__(self) -> Self:
        arguments = [f"--result={name}={path}" for name, path in self.results.items()]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.fake_vendor", *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.__exit__(None, None, None)
            raise RuntimeError("the fake vendor did not start (see its output above)")
        self.origin = f"http://127.0.0.1:{int(line)}"
        # bound, never listening: a connection to it is refused at once
        self._dead = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._dead.bind(("127.0.0.1", 0))
        self.refused_url = f"http://127.0.0.1:{self._dead.getsockname()[1]}"
        return self

    def url(self, result: str) -> str:
        """The base URL whose answers carry the result image named `result`."""
        if result not in self.results:
            raise KeyError(f"no result named {result!r} (known: {', '.join(self.results)})")
        return f"{self.origin}/{result}"

    @property
    def unavailable_url(self) -> str:
        """A base URL answered 503 to every request."""
        return f"{self.origin}/{UNAVAILABLE}"

    def stats(self) -> dict[str, int]:
        """Requests served so far, per first path segment."""
        with httpx.Client() as client:
            counts: dict[str, int] = client.get(f"{self.origin}/_stats").json()
        return counts

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._dead is not None:
            self._dead.close()
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(BrokenPipeError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


if __name__ == "__main__":
    main()
