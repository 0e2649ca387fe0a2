"""Loopback HTTP shell: the sandbox on a real socket, for any HTTP client and for vcrpy.

Design decisions:

- Standard library only: `http.server.ThreadingHTTPServer`, one thread per connection, HTTP/1.1
  with keep-alive and an exact `Content-Length` on every response.
- A deep listen backlog (`_LISTEN_BACKLOG`, 4096, which the kernel caps at its own limit:
  `net.core.somaxconn` on Linux): a load test opening a thousand connections at once finds them
  all accepted. `socketserver`'s default of 5 dropped or reset connections beyond a few dozen.
- A thread per connection is kept on purpose: measured at 1,000 concurrent keep-alive
  connections (docs/sandbox.md, "Performance") it answers every request, and a handler that
  waits (a latency or timeout fault, a plugin emulator that sleeps, an input URL the sandbox
  fetches from itself) holds up its own connection only. Letting one or two requests at a time
  into `Sandbox.handle`, in arrival order, was measured about 25 % faster with half the tail
  latency, but then one such wait stalls every connection, and a fetch from itself deadlocks
  (the suite has one). The per-request work is kept small instead (`image_cache`).
- Loopback only: a non-loopback host is refused before anything is bound (the control routes
  have no authentication).
- Faults are carried out on the socket: `drop` closes the connection without writing a byte
  (clients see "server disconnected"); `timeout` hangs and then closes; latency waits before
  writing. Every wait is on a shared stop event, so shutting down never waits for a hang.
- Clean shutdown (no ResourceWarning, no stray threads): `close()` stops the accept loop, wakes
  waiting handlers, shuts down every open connection (idle keep-alive ones included, which would
  otherwise block their handler thread in a read), joins the handler threads and the serving
  thread, and closes the listening socket.
- `serve_forever()` is the blocking variant behind `swapkit sandbox serve`; it prints nothing and
  returns on KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .loopback import require_loopback_host
from .messages import SandboxRequest, SandboxResponse, json_response

if TYPE_CHECKING:
    from .app import Sandbox

__all__ = ["SandboxServer", "serve_forever"]

_MAX_BODY_BYTES = 64 * 1024 * 1024
_LISTEN_BACKLOG = 4096
"""`listen()`'s backlog; the kernel caps it (Linux: `net.core.somaxconn`, 4096 by default)."""


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = _LISTEN_BACKLOG
    daemon_threads = True  # never keep the interpreter alive; close() joins them anyway
    block_on_close = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self._connections_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client went away; nothing to report
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Wake every handler thread blocked on its socket."""
        self.stopping.set()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Close everything (after `shutdown()` if `serve_forever` runs in another thread)."""
        self.close_connections()
        self.server_close()  # joins handler threads (block_on_close), closes the listener


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "swapkit-sandbox"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body are separate writes; avoid 40 ms stalls
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a test rig should not write to stderr on every request."""

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(chunks)
                chunks.extend(self.rfile.read(size))
                self.rfile.readline()
                if len(chunks) > _MAX_BODY_BYTES:
                    return None
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._write(json_response(413, {"detail": "Request body too large"}))
            return
        request = SandboxRequest.build(
            self.command, self.path, headers=self.headers.items(), body=body
        )
        try:
            response = self.server.sandbox.handle(request)
        except Exception:  # a sandbox bug must still produce a response, like a real server
            traceback.print_exc()
            response = json_response(500, {"detail": "Internal Server Error"})
        stopping = self.server.stopping
        if response.action == "drop":
            self.close_connection = True
            return
        if response.action == "timeout":
            stopping.wait(response.delay_seconds)
            self.close_connection = True
            return
        if response.delay_seconds > 0:
            stopping.wait(response.delay_seconds)
        self._write(response)

    def _write(self, response: SandboxResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


def _bind(sandbox: Sandbox, host: str, port: int) -> _HTTPServer:
    require_loopback_host(host)
    server_class = _HTTPServer6 if ":" in host else _HTTPServer
    return server_class((host, port), sandbox)


def _url_of(server: _HTTPServer) -> str:
    host, port = server.server_address[:2]
    host = str(host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class SandboxServer:
    """A sandbox served on loopback from a daemon thread; a context manager.

    Attributes: `sandbox`, `url` (e.g. `http://127.0.0.1:54321`), `host`, `port`.
    """

    def __init__(self, sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        self._server = _bind(sandbox, host, port)
        self.url = _url_of(self._server)
        self.host = str(self._server.server_address[0])
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},  # how fast close() is noticed
            name=f"swapkit-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    def base_url(self, provider: str) -> str:
        """The base URL a client of `provider` uses, e.g. `http://127.0.0.1:54321/<provider>`."""
        if provider not in self.sandbox.vendors:
            raise KeyError(f"the sandbox has no vendor {provider!r}")
        return f"{self.url}/{provider}"

    def close(self) -> None:
        """Stop serving and release the socket and threads (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._thread.join()
        self._server.stop()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SandboxServer {self.url}>"


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    sandbox: Sandbox | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the sandbox in this thread until KeyboardInterrupt; prints nothing.

    `ready` is called with the server's URL once it is listening (useful with `port=0`). A
    sandbox created here is closed on return; a given one is left open.
    """
    from .app import Sandbox

    owned = sandbox is None
    app = Sandbox() if sandbox is None else sandbox
    server = _bind(app, host, port)
    try:
        if ready is not None:
            ready(_url_of(server))
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if owned:
            app.close()
