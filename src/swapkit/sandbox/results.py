"""Result files behind pre-signed, expiring URLs (an S3 bucket in miniature).

Design decisions:

- Results live in memory, keyed by a random id, with a random `token` and an expiry on the
  sandbox clock (the vendor default is 24 hours; `Sandbox(result_ttl_seconds=...)`).
- A result URL is `<origin>/<vendor>/results/<id>.<ext>?token=<token>&expires=<epoch>`. The origin
  comes from the Host header of the request that produced it, so the URL works whatever port or
  host name the client used. `expires` is informational wall-clock epoch seconds; the check runs
  on the sandbox clock, and the URL is valid only with exactly the issued token and expires.
- Refusals mimic S3: a wrong or missing token is 403 `SignatureDoesNotMatch`, an expired URL is
  403 `AccessDenied` "Request has expired", an unknown key is 404 `NoSuchKey`; all with an
  `application/xml` body.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from .messages import SandboxRequest, SandboxResponse

__all__ = ["ResultStore", "StoredResult", "s3_error"]


@dataclass(frozen=True)
class StoredResult:
    """One stored result file."""

    result_id: str
    extension: str
    media_type: str
    data: bytes
    token: str
    expires_at: float  # sandbox clock
    expires_epoch: int  # wall clock, shown in the URL

    @property
    def filename(self) -> str:
        """`<id>.<ext>`."""
        return f"{self.result_id}.{self.extension}"

    def url(self, origin: str, mount: str) -> str:
        """The absolute pre-signed URL, e.g. `http://127.0.0.1:8765/prospolabs/results/x.png?…`."""
        query = urlencode({"token": self.token, "expires": str(self.expires_epoch)})
        return f"{origin}/{mount}/results/{self.filename}?{query}"


class ResultStore:
    """Result files of every vendor. Thread-safe."""

    def __init__(self, clock: Callable[[], float], ttl_seconds: float) -> None:
        self._clock = clock
        self._ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._results: dict[str, StoredResult] = {}

    def put(
        self,
        data: bytes,
        *,
        extension: str,
        media_type: str,
        result_id: str,
        available_at: float | None = None,
    ) -> StoredResult:
        """Store `data`; it expires `ttl_seconds` after `available_at` (default: now).

        Async jobs pass the time they complete on the sandbox clock.
        """
        now = self._clock()
        start = now if available_at is None else available_at
        stored = StoredResult(
            result_id=result_id,
            extension=extension,
            media_type=media_type,
            data=data,
            token=secrets.token_urlsafe(18),
            expires_at=start + self._ttl_seconds,
            expires_epoch=int(time.time() + (start - now) + self._ttl_seconds),
        )
        with self._lock:
            self._results[stored.filename] = stored
        return stored

    def lookup(self, filename: str, token: str | None, expires: str | None) -> StoredResult:
        """The result named `filename` if the token is right and it has not expired.

        Raises `LookupError` with an S3 error code (`NoSuchKey`, `SignatureDoesNotMatch`,
        `AccessDenied`) as its first argument otherwise.
        """
        with self._lock:
            stored = self._results.get(filename)
        if stored is None:
            raise LookupError("NoSuchKey")
        if token is None or not secrets.compare_digest(token, stored.token):
            raise LookupError("SignatureDoesNotMatch")
        if expires != str(stored.expires_epoch):
            raise LookupError("SignatureDoesNotMatch")
        if self._clock() >= stored.expires_at:
            raise LookupError("AccessDenied")
        return stored

    def serve(self, request: SandboxRequest, filename: str) -> SandboxResponse:
        """Answer a GET on a result URL: the file, or an S3-style XML refusal."""
        try:
            stored = self.lookup(
                filename, request.query_param("token"), request.query_param("expires")
            )
        except LookupError as exc:
            return s3_error(str(exc.args[0]), filename)
        return SandboxResponse(
            status=200,
            headers=(("content-type", stored.media_type), ("cache-control", "private")),
            body=stored.data,
        )

    def clear(self) -> None:
        """Forget every result."""
        with self._lock:
            self._results.clear()


_S3_ERRORS = {
    "NoSuchKey": (404, "The specified key does not exist."),
    "SignatureDoesNotMatch": (
        403,
        "The request signature we calculated does not match the signature you provided.",
    ),
    "AccessDenied": (403, "Request has expired"),
}


def s3_error(code: str, key: str) -> SandboxResponse:
    """An S3-style XML error response."""
    status, message = _S3_ERRORS[code]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"<Key>{escape(key)}</Key><RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    ).encode()
    return SandboxResponse(status=status, headers=(("content-type", "application/xml"),), body=body)
