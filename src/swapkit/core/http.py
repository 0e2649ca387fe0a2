"""HTTP exchanges bounded by the swap's deadline, not only read by read.

``httpx.Timeout`` bounds each read and each write; a server that drips its answer a byte at a
time never trips it, and a swap would outlive its deadline.  Each exchange therefore runs under
an absolute deadline:

* the ``async`` client cancels the exchange (sending, the headers, the whole body) when its
  time is up (``asyncio.timeout``, or ``anyio.fail_after`` under trio), whatever transport
  its ``httpx.AsyncClient`` uses;
* the blocking client cannot cancel a read in progress, so the `httpx.Client` swapkit builds
  uses `deadline_transport`: httpx's own transport whose sockets cut every connect, read and
  write to the time the exchange has left (the `Exchange` made current with `Exchange.bound`).
  Pass ``httpx.Client(transport=deadline_transport(...))`` as ``http_client=`` to keep that
  bound with a client of your own; any other client bounds each read only.

The current exchange is kept in a context variable, so one transport serves any number of
threads or tasks.  Both transports swapkit builds share one TLS context (`shared_ssl_context`).

`redact_url` hides a URL's query values (pre-signed result URLs carry their credentials
there), and `redact_httpx_logs` installs a filter doing so on httpx's own request log line.

`Exchange` follows one try: when a connection first worked on it, and whether the whole request
was written.  That tells a request the vendor never received in full from one it did, and how
long the vendor has held it.  The sockets of the transports swapkit builds (`deadline_transport`,
`tracked_async_transport`) tell it directly: the first write, and the first read, which HTTP/1.1
makes only once the request is written, unless a write failed.  Any other transport tells it
through httpcore's ``trace`` extension (`Exchange.trace`) when it emits it; the sandbox's
in-process transport does not, and a request is then taken to have been sent.  Over HTTP/2 a
read may come before the last write, which errs the safe way: a request taken to be sent is
never sent again.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

__all__ = [
    "Exchange",
    "deadline_transport",
    "is_http_url",
    "redact_httpx_logs",
    "redact_url",
    "shared_ssl_context",
    "tracked_async_transport",
]

_current: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "swapkit_exchange", default=None
)


def _capped(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """`timeout` cut to the current exchange's deadline; `error` once it has passed."""
    exchange = _current.get()
    return timeout if exchange is None else exchange.cap(timeout, error)


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        exchange = _current.get()
        if exchange is None:
            return self._stream.read(max_bytes, timeout)
        exchange.reading()
        return self._stream.read(max_bytes, exchange.cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        exchange = _current.get()
        if exchange is None:
            self._stream.write(buffer, timeout)
            return
        exchange.writing()
        try:
            self._stream.write(buffer, exchange.cap(timeout, httpcore.WriteTimeout))
        except BaseException:
            exchange.write_failed = True
            raise

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        upgraded = self._stream.start_tls(
            ssl_context, server_hostname, _capped(timeout, httpcore.ConnectTimeout)
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
            host, port, _capped(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _BoundedStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(
            path, _capped(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _BoundedStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _TrackedAsyncStream(httpcore.AsyncNetworkStream):
    """An ``async`` stream telling the current `Exchange` how far its request got (the
    ``async`` client bounds a whole exchange by cancellation, so nothing is cut here)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        exchange = _current.get()
        if exchange is not None:
            exchange.reading()
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        exchange = _current.get()
        if exchange is None:
            await self._stream.write(buffer, timeout)
            return
        exchange.writing()
        try:
            await self._stream.write(buffer, timeout)
        except BaseException:  # a cancellation too: the request was not written in full
            exchange.write_failed = True
            raise

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _TrackedAsyncStream(
            await self._stream.start_tls(ssl_context, server_hostname, timeout)
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _TrackedAsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _TrackedAsyncStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        return _TrackedAsyncStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


_TLS_SETTINGS = ("verify", "cert", "trust_env")
_ssl_contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's roots, or those ``SSL_CERT_FILE`` or
    ``SSL_CERT_DIR`` name), made once per process and shared by the clients swapkit builds:
    httpx loads the roots anew for every client, about 20 ms each."""
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    context = _ssl_contexts.get(key)
    if context is None:  # two threads may both make one: the first stored is kept
        context = _ssl_contexts.setdefault(key, httpx.create_ssl_context())
    return context


def deadline_transport(**options: Any) -> httpx.HTTPTransport:
    """An `httpx.HTTPTransport` (same options) whose sockets honour the current `Exchange`.

    Without TLS options (``verify``, ``cert``, ``trust_env``) it uses `shared_ssl_context`.
    httpx does not let a transport be given a network backend, so this one is set on the
    transport's connection pool after it is built; with an httpx whose pool is laid out
    otherwise, the transport is returned as it is (reads are then bounded one by one).
    """
    transport = httpx.HTTPTransport(**_tls(options))
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _BoundedBackend(backend)  # type: ignore[union-attr]
    return transport


def tracked_async_transport(**options: Any) -> httpx.AsyncHTTPTransport:
    """The `httpx.AsyncHTTPTransport` (same options) of the ``async`` client swapkit builds:
    its sockets tell the current `Exchange` how far a request got, as `deadline_transport`'s
    do (the deadline itself is kept by cancellation).  With an httpx laid out otherwise it is
    returned as it is, and the exchange is then traced."""
    transport = httpx.AsyncHTTPTransport(**_tls(options))
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = _TrackedAsyncBackend(backend)  # type: ignore[union-attr]
    return transport


def _tls(options: dict[str, Any]) -> dict[str, Any]:
    """`options`, with `shared_ssl_context` unless they say something about TLS."""
    if any(setting in options for setting in _TLS_SETTINGS):
        return options
    return {**options, "verify": shared_ssl_context()}


class Exchange:
    """One try of an HTTP exchange: its time limit, and how far the request got (times are
    `time.monotonic`)."""

    __slots__ = ("connected_at", "deadline", "limit", "sent_at", "started", "write_failed")

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.started = time.monotonic()
        self.deadline = self.started + limit
        #: When a connection first worked on the request (None: not known to have).
        self.connected_at: float | None = None
        #: When the whole request had been written (None: not known to have been).
        self.sent_at: float | None = None
        #: Whether writing the request failed (httpcore still reads, for an early answer).
        self.write_failed = False

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        """Within this block, sockets of a `deadline_transport` serve this exchange: they
        give up at its deadline and record how far the request got."""
        token = _current.set(self)
        try:
            yield
        finally:
            _current.reset(token)

    def writing(self) -> None:
        """A write of the request begins: a connection is working on it."""
        if self.connected_at is None:
            self.connected_at = time.monotonic()

    def reading(self) -> None:
        """A read of the answer begins: over HTTP/1.1 the request has been written in full,
        unless a write failed (httpcore then still reads, for an early answer)."""
        if self.sent_at is None and not self.write_failed:
            self.sent_at = time.monotonic()

    def cap(self, timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
        """`timeout` cut to the time left; `error` once the deadline has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise error("the swap's deadline passed during the exchange")
        return left if timeout is None else min(timeout, left)

    def trace(self, name: str, info: Any) -> None:
        """The ``trace`` extension's callback for a blocking client (any transport)."""
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
