"""A minimal keep-alive HTTP/1.1 client on asyncio streams, for the load generator.

It sends one request at a time on its connection and reads answers framed by `Content-Length`
(the sandbox frames every answer so). It parses nothing it does not need, so that the load
generator costs far less CPU than the server it measures. A broken connection is an OSError
(the connection is then unusable); `StepFailed` is a well-formed answer that is not the one a
swap needs (the connection can go on).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

__all__ = ["Connection", "StepFailed"]


class StepFailed(Exception):
    """One step of a swap failed; the message names the kind, counted by the load test."""


class Connection:
    """One keep-alive connection to `host:port`."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, authority: str
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.authority = authority

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        """Connect (OSError when refused)."""
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer, f"{host}:{port}")

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: Sequence[str] = ()
    ) -> tuple[int, bytes]:
        """Send one request, return `(status, body)`.

        Raises OSError (ConnectionError when the server closes the connection or answers
        something that is not HTTP) or `asyncio.IncompleteReadError` when the connection
        breaks.
        """
        head = [f"{method} {target} HTTP/1.1", f"Host: {self.authority}", *headers]
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if body:
            self.writer.write(body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed by the server")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ConnectionError("not an HTTP status line")
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        data = await self.reader.readexactly(length) if length else b""
        return int(parts[1]), data

    async def close(self) -> None:
        """Close the connection (errors ignored: the server may have closed it first)."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
