"""HTTP exchanges bounded by the swap's deadline, not only read by read.

``httpx.Timeout`` bounds each read and each write; a server that drips its answer a byte at a
time never trips it, and a swap would outlive its deadline.  Each exchange therefore runs under
an absolute deadline:

* the ``async`` client wraps the exchange (sending, the headers, the whole body) in
  ``anyio.fail_after``, whatever transport its ``httpx.AsyncClient`` uses;
* the blocking client cannot cancel a read in progress, so the `httpx.Client` swapkit builds
  uses `deadline_transport`: httpx's own transport whose sockets cut every connect, read and
  write to the time the exchange has left (set with `exchange_deadline`).  Pass
  ``httpx.Client(transport=deadline_transport(...))`` as ``http_client=`` to keep that bound
  with a client of your own; any other client bounds each read only.

The deadline is kept in a context variable, so one transport serves any number of threads.

`redact_url` hides a URL's query values (pre-signed result URLs carry their credentials
there), and `redact_httpx_logs` installs a filter doing so on httpx's own request log line.

`Exchange` follows one try through httpcore's ``trace`` extension (when the transport emits
it; the sandbox's in-process transport does not): when a connection was first working on it,
and whether the whole request was written.  That tells a request the vendor never received in
full from one it did, and how long the vendor has held it.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

__all__ = [
    "Exchange",
    "deadline_transport",
    "exchange_deadline",
    "is_http_url",
    "redact_httpx_logs",
    "redact_url",
]

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "swapkit_exchange_deadline", default=None
)


@contextlib.contextmanager
def exchange_deadline(seconds: float) -> Iterator[None]:
    """Within this block, sockets of a `deadline_transport` give up after `seconds`."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _cap(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """`timeout` cut to the current exchange's deadline; `error` once it has passed."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the swap's deadline passed during the exchange")
    return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        upgraded = self._stream.start_tls(
            ssl_context, server_hostname, _cap(timeout, httpcore.ConnectTimeout)
        )
        return _BoundedStream(upgraded)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _BoundedBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, _cap(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _BoundedStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(
            path, _cap(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _BoundedStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def deadline_transport(**options: Any) -> httpx.HTTPTransport:
    """An `httpx.HTTPTransport` (same options) whose sockets honour `exchange_deadline`.

    httpx does not let a transport be given a network backend, so this one is set on the
    transport's connection pool after it is built; with an httpx whose pool is laid out
    otherwise, the transport is returned as it is (reads are then bounded one by one).
    """
    transport = httpx.HTTPTransport(**options)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _BoundedBackend(backend)  # type: ignore[union-attr]
    return transport


@dataclasses.dataclass
class Exchange:
    """One try of an HTTP exchange, as httpcore's trace events tell it (times: monotonic)."""

    limit: float
    started: float = dataclasses.field(default_factory=time.monotonic)
    #: When a connection first worked on the request (None: no trace event seen).
    connected_at: float | None = None
    #: When the whole request had been written (None: not known to have been).
    sent_at: float | None = None

    def trace(self, name: str, info: Any) -> None:
        """The ``trace`` extension's callback for a blocking client."""
        now = time.monotonic()
        if self.connected_at is None:
            self.connected_at = now
        if name.endswith(".send_request_body.complete"):
            self.sent_at = now

    async def atrace(self, name: str, info: Any) -> None:
        """The same for an ``async`` client (httpcore awaits it)."""
        self.trace(name, info)

    def held_by_vendor(self) -> float:
        """Seconds the vendor has had the request (since it was written, as far as known)."""
        since = self.sent_at or self.connected_at or self.started
        return time.monotonic() - since


def redact_url(url: httpx.URL | str) -> str:
    """`url` with every query value replaced by ``…`` (the names stay, for debugging)."""
    try:
        parsed = httpx.URL(str(url))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "(a URL that cannot be parsed)"
    if not parsed.query:
        return str(parsed)
    names = [name for name, _ in parsed.params.multi_items()]
    query = "&".join(f"{name}=…" for name in names) if names else "…"
    return f"{parsed.copy_with(query=None)}?{query}"


class _RedactQueries(logging.Filter):
    """Hides query values of the URLs in httpx's "HTTP Request: ..." log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) for arg in record.args
        ):
            record.args = tuple(
                redact_url(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


_REDACTION = _RedactQueries()


def redact_httpx_logs() -> None:
    """Hide query strings (pre-signed URLs' credentials) in httpx's request log lines.

    Idempotent; swapkit calls it when a client is built.  It changes only the logged text.
    """
    logger = logging.getLogger("httpx")
    if _REDACTION not in logger.filters:
        logger.addFilter(_REDACTION)


def is_http_url(value: str) -> bool:
    """Whether `value` is an absolute http(s) URL with a plausible host (any letter case)."""
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    host = url.host
    return (
        url.scheme in ("http", "https")
        and bool(host)
        and not any(char.isspace() or char in '%<>"{}|\\^`' for char in host)
    )
