"""The sandbox's own request and response values.

Design: the application core (`Sandbox.handle`) is sans-I/O. It takes a small immutable
`SandboxRequest` and returns a `SandboxResponse`; the two I/O shells (the loopback HTTP server in
`server.py` and the `httpx.MockTransport` in `transport.py`) translate real traffic to and from
these values. Faults that cannot be expressed as bytes ("drop the connection", "hang past the
client's timeout", "wait N seconds first") travel on the response as an `action` and a
`delay_seconds`, and each shell carries them out in its own way.

Header names are stored lower-cased so lookups need no case folding; the order and duplicates of
the original headers are kept.

`parse_multipart` reads a `multipart/form-data` body (file uploads) with the standard library
only: the body is split on its boundary with `bytes` operations (no line-by-line parsing, so a
25 MB file costs one copy), and each part's headers are read with `email.message.Message`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from functools import cached_property
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "FormPart",
    "ResponseAction",
    "SandboxRequest",
    "SandboxResponse",
    "json_response",
    "parse_multipart",
]

ResponseAction = Literal["respond", "drop", "timeout"]
"""What an I/O shell does with a response: send it, drop the connection, or hang and drop."""


@dataclass(frozen=True)
class SandboxRequest:
    """One HTTP request as the sandbox sees it.

    `path` excludes the query string; `headers` holds `(lower-cased name, value)` pairs.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    scheme: str = "http"

    @classmethod
    def build(
        cls,
        method: str,
        target: str,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        scheme: str = "http",
    ) -> SandboxRequest:
        """Build a request from a request target such as `/<vendor>/v1/jobs/x?a=b`.

        `headers` is a mapping or an iterable of `(name, value)` pairs.
        """
        parts = urlsplit(target)
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        return cls(
            method=method.upper(),
            path=parts.path or "/",
            query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
            headers=tuple((str(name).lower(), str(value)) for name, value in pairs),
            body=body,
            scheme=scheme,
        )

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header `name` (case-insensitive), or `default`."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return default

    def query_param(self, name: str) -> str | None:
        """The first value of query parameter `name`, or None."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    @property
    def origin(self) -> str:
        """`scheme://host[:port]` as the client addressed us (from the Host header)."""
        host = self.header("host") or "127.0.0.1"
        return f"{self.scheme}://{host}"

    @cached_property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready summary (used by `GET /_sandbox/requests`)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "headers": dict(self.headers),
            "json": self.json,
            "body_size": len(self.body),
        }


@dataclass(frozen=True)
class SandboxResponse:
    """One response, plus what the I/O shell must do with it.

    `action="drop"` closes the connection without a response; `action="timeout"` hangs (for
    `delay_seconds`, bounded) and then closes it. For `"respond"`, `delay_seconds` is waited before
    the response is written (the latency fault).
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    action: ResponseAction = "respond"
    delay_seconds: float = 0.0

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def with_headers(self, *pairs: tuple[str, str]) -> SandboxResponse:
        """A copy with `pairs` appended to the headers."""
        return SandboxResponse(
            status=self.status,
            headers=self.headers + tuple(pairs),
            body=self.body,
            action=self.action,
            delay_seconds=self.delay_seconds,
        )


def json_response(
    status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()
) -> SandboxResponse:
    """A JSON response; compact separators, like most Python API servers."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return SandboxResponse(
        status=status, headers=(("content-type", "application/json"), *headers), body=body
    )


@dataclass(frozen=True)
class FormPart:
    """One part of a `multipart/form-data` body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def _header_params(name: str, value: str) -> Message:
    message = Message()
    message[name] = value
    return message


def parse_multipart(content_type: str | None, body: bytes) -> list[FormPart]:
    """The parts of a `multipart/form-data` body; ValueError when it is not one."""
    header = _header_params("content-type", content_type or "")
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise ValueError("not multipart/form-data")
    if not boundary:
        raise ValueError("empty multipart boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise ValueError("the multipart body has no closing boundary")
    parts = []
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise ValueError("malformed multipart part")
        head, separator, data = chunk[2:-2].partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("a multipart part has no header block")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, colon, value = line.partition(":")
            if not colon:
                raise ValueError("malformed multipart header")
            headers[key.strip().lower()] = value.strip()
        disposition = _header_params("content-disposition", headers.get("content-disposition", ""))
        name = disposition.get_param("name", header="content-disposition")
        if disposition.get_content_disposition() != "form-data" or not isinstance(name, str):
            raise ValueError("a multipart part is not form-data with a name")
        parts.append(
            FormPart(
                name=name,
                filename=disposition.get_filename(),
                content_type=headers.get("content-type"),
                data=data,
            )
        )
    return parts
