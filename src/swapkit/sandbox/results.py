"""Result files behind pre-signed, expiring URLs (an S3 bucket in miniature), or plain CDN paths.

Design decisions:

- Results live in memory, keyed by folder and file name (`<id>.<ext>`, the id random). A file
  exists from `available_at` (an async job's completion; before it the key is unknown) until its
  expiry on the sandbox clock (by default the store's TTL, `Sandbox(result_ttl_seconds=...)`,
  24 hours, after `available_at`; a vendor may pass its own per file).
- **Signed** files (the default, folder `results`) have a random `token`: their URL is
  `<origin>/<vendor>/results/<id>.<ext>?token=<token>&expires=<epoch>`. `expires` is informational
  wall-clock epoch seconds; the check runs on the sandbox clock, and the URL is valid only with
  exactly the issued token and expires.
- **Unsigned** files (`signed=False`, e.g. a vendor's CDN under folder `cdn/face`) are served
  at `<origin>/<vendor>/<folder>/<id>.<ext>` to anyone until they expire; an expired one is
  deleted, like an object removed by a bucket lifecycle rule.
- The origin comes from the Host header of the request that produced the URL, so it works
  whatever port or host name the client used.
- Refusals mimic S3: a wrong or missing token is 403 `SignatureDoesNotMatch`, an expired signed
  URL is 403 `AccessDenied` "Request has expired", an unknown (or expired unsigned) key is 404
  `NoSuchKey`; all with an `application/xml` body.
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
    expires_epoch: int  # wall clock, shown in a signed URL
    folder: str = "results"
    signed: bool = True
    available_at: float = float("-inf")  # sandbox clock

    @property
    def filename(self) -> str:
        """`<id>.<ext>`."""
        return f"{self.result_id}.{self.extension}"

    def url(self, origin: str, mount: str) -> str:
        """The absolute URL, e.g. `http://127.0.0.1:8765/<vendor>/results/x.png?token=…`.

        Unsigned files have no query: `http://127.0.0.1:8765/<vendor>/cdn/face/x.png`.
        """
        path = f"{origin}/{mount}/{self.folder}/{self.filename}"
        if not self.signed:
            return path
        query = urlencode({"token": self.token, "expires": str(self.expires_epoch)})
        return f"{path}?{query}"


class ResultStore:
    """Result files of every vendor. Thread-safe."""

    def __init__(self, clock: Callable[[], float], ttl_seconds: float) -> None:
        self._clock = clock
        self._ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._results: dict[tuple[str, str], StoredResult] = {}
        self._folders: set[str] = {"results"}

    def put(
        self,
        data: bytes,
        *,
        extension: str,
        media_type: str,
        result_id: str,
        available_at: float | None = None,
        folder: str = "results",
        signed: bool = True,
        ttl_seconds: float | None = None,
    ) -> StoredResult:
        """Store `data`; it expires `ttl_seconds` (default: the store's TTL) after `available_at`.

        `available_at` defaults to now; async jobs pass the time they complete on the sandbox
        clock. `folder` is the path between the vendor's mount and the file name; `signed=False`
        serves the file without a token.
        """
        now = self._clock()
        start = now if available_at is None else available_at
        ttl = self._ttl_seconds if ttl_seconds is None else ttl_seconds
        stored = StoredResult(
            result_id=result_id,
            extension=extension,
            media_type=media_type,
            data=data,
            token=secrets.token_urlsafe(18),
            expires_at=start + ttl,
            expires_epoch=int(time.time() + (start - now) + ttl),
            folder=folder,
            signed=signed,
            available_at=start,
        )
        with self._lock:
            self._results[(folder, stored.filename)] = stored
            self._folders.add(folder)
        return stored

    def locate(self, path: str) -> tuple[str, str] | None:
        """`(folder, filename)` when a URL path `/<mount>/<folder>/<filename>` is a store path.

        A store path is one whose folder this store serves (`results`, or any folder a file
        was put in), whether or not the file exists; anything else is None.
        """
        segments = path.strip("/").split("/")
        if len(segments) < 3 or not segments[-1]:
            return None
        folder = "/".join(segments[1:-1])
        with self._lock:
            known = folder in self._folders
        return (folder, segments[-1]) if known else None

    def lookup(
        self,
        filename: str,
        token: str | None,
        expires: str | None,
        *,
        folder: str = "results",
    ) -> StoredResult:
        """The file `folder/filename` if it has not expired and (when signed) the token is right.

        Raises `LookupError` with an S3 error code (`NoSuchKey`, `SignatureDoesNotMatch`,
        `AccessDenied`) as its first argument otherwise.
        """
        with self._lock:
            stored = self._results.get((folder, filename))
        if stored is None or self._clock() < stored.available_at:
            raise LookupError("NoSuchKey")
        if not stored.signed:
            if self._clock() >= stored.expires_at:
                raise LookupError("NoSuchKey")  # deleted on expiry, like a lifecycle rule
            return stored
        if token is None or not secrets.compare_digest(token, stored.token):
            raise LookupError("SignatureDoesNotMatch")
        if expires != str(stored.expires_epoch):
            raise LookupError("SignatureDoesNotMatch")
        if self._clock() >= stored.expires_at:
            raise LookupError("AccessDenied")
        return stored

    def serve(
        self, request: SandboxRequest, filename: str, *, folder: str = "results"
    ) -> SandboxResponse:
        """Answer a GET on a result URL: the file, or an S3-style XML refusal."""
        try:
            stored = self.lookup(
                filename,
                request.query_param("token"),
                request.query_param("expires"),
                folder=folder,
            )
        except LookupError as exc:
            return s3_error(str(exc.args[0]), filename)
        cache = "private" if stored.signed else "public, max-age=86400"
        return SandboxResponse(
            status=200,
            headers=(("content-type", stored.media_type), ("cache-control", cache)),
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
