"""Cassettes an application can commit: no credential, no image bytes, no loopback port.

vcrpy (and pytest-recording on top of it) stores every request and response of a test.  Left
alone, a cassette of one swapkit call holds the API key, the customer's photo as base64 and the
sandbox's random port, so it leaks a secret and a child's face into the repository and fails to
replay on the next run.  `vcr_config()` is the configuration that prevents all three; the pytest
plugin serves it as the ``vcr_config`` fixture, and `configure(vcr)` applies it to a plain
``vcr.VCR``.

What it does, on recording *and* before matching (vcrpy runs ``before_record_request`` on live
requests too, so a replay compares scrubbed with scrubbed):

* **Credentials.**  Headers and query parameters whose names say they carry a secret
  (``Authorization``, ``X-Api-Key``, cookies, ``token``, ``signature``, ``X-Amz-Credential``, …;
  see `is_secret_name`) are dropped or set to ``REDACTED``, and so are JSON fields with such
  names.  Any value of a secret-named environment variable (``SWAPKIT_PROSPOLABS_API_KEY``,
  ``ACEDATACLOUD_API_TOKEN``, …) is replaced wherever it appears, and writing a cassette that
  still holds one is refused.
* **Images.**  An image request body (raw, a multipart part, or base64 in JSON or a form,
  ``data:`` URIs included) is stored as ``sha256:<digest> (<size> bytes)`` and requests are
  matched on that digest, so a test that sends another image does not match.  An image response
  body is stored as its type, size and digest, and replayed as a flat image of that type and
  size: the result itself is never stored.
* **Loopback.**  ``http://127.0.0.1:<port>/<name>/<path>`` (the sandbox's layout) is stored as
  ``https://<name>.sandbox.invalid/<path>``, and requests match on method, path, query and body
  (not host or port), so a replay needs no server on any port, and a cassette recorded against
  the vendor itself matches the same calls.
* **Readable files.**  JSON bodies are stored as YAML structures, so a cassette diff reads
  like the traffic; volatile headers (``Date``, ``Server``, ``Host``, …) go.  The serializer is
  named ``swapkit.yaml``, so pytest-recording names the files ``<test>.swapkit.yaml``.

Parsing here is bounded and never raises on odd bodies: a body that is not JSON, not multipart
and not an image is stored as text (with the same URL and token scrubbing) or base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from swapkit.core.images import sniff_media_type

__all__ = [
    "REDACTED",
    "CassetteSerializer",
    "canonical_url",
    "configure",
    "is_secret_name",
    "scrub_request",
    "scrub_response",
    "secrets_from_environment",
    "vcr_config",
]

REDACTED = "REDACTED"
SERIALIZER_NAME = "swapkit.yaml"

#: Name fragments that mark a header, query parameter, JSON field or variable as a secret.
_SECRET_WORDS = (
    "authorization",
    "cookie",
    "api-key",
    "api_key",
    "apikey",
    "token",
    "secret",
    "signature",
    "password",
    "credential",
    "session",
    "x-amz-security",
)
#: Exact names that are secrets only on their own (``key`` but not ``keyword``).
_SECRET_NAMES = {"key", "sig", "auth", "x-amz-signature", "access_key"}
_VOLATILE_HEADERS = {
    "date",
    "server",
    "connection",
    "keep-alive",
    "content-length",
    "host",
    "x-request-id",
    "request-id",
}
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_MIN_SECRET_LENGTH = 8
_MAX_JSON_BYTES = 64 * 1024 * 1024
_BASE64_IMAGE = re.compile(r"(?:data:image/[a-z+.-]{1,40};base64,)?[A-Za-z0-9+/_\-\r\n]{64,}={0,2}")
_IMAGE_MARKER = re.compile(r"image (image/[a-z]{1,20}) (\d{1,6})x(\d{1,6}) (sha256:[0-9a-f]{16})")
_BOUNDARY = re.compile(rb"boundary=\"?([^;\s\"]{1,200})")
_LOOPBACK_URL = re.compile(
    r"https?://(?:127\.0\.0\.1|localhost|\[::1\]):\d{1,5}/([A-Za-z0-9_-]{1,64})"
)
_TOKEN_PARAM = re.compile(
    r"\b(token|signature|sig|key|X-Amz-Signature|X-Amz-Credential)=[^&\"'\s<>]{1,4096}", re.I
)


def is_secret_name(name: str) -> bool:
    """Whether a header, query parameter, JSON field or variable named `name` holds a secret."""
    lowered = name.lower()
    return lowered in _SECRET_NAMES or any(word in lowered for word in _SECRET_WORDS)


def secrets_from_environment(environ: dict[str, str] | None = None) -> list[str]:
    """The values of secret-named environment variables (at least 8 characters), longest first.

    These are replaced by ``REDACTED`` wherever they appear in a cassette, whatever carried them.
    """
    env = os.environ if environ is None else environ
    found = {
        value
        for name, value in env.items()
        if len(value) >= _MIN_SECRET_LENGTH
        and (is_secret_name(name) or name.upper().endswith(("_KEY", "_PASSWORD")))
    }
    return sorted(found, key=len, reverse=True)


def _hide_known(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _hide_known_bytes(body: bytes, secrets: Iterable[str]) -> bytes:
    for secret in secrets:
        encoded = secret.encode()
        if encoded in body:
            body = body.replace(encoded, REDACTED.encode())
    return body


def canonical_url(url: str) -> str:
    """`url` as stored: loopback URLs in the ``https://<name>.sandbox.invalid/...`` shape and
    secret query parameters replaced by ``REDACTED``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return url
    scheme, netloc, path = parts.scheme, parts.netloc, parts.path
    if host in _LOOPBACK:
        segments = path.split("/", 2)
        name = segments[1] if len(segments) > 1 and segments[1] else "loopback"
        rest = segments[2] if len(segments) > 2 else ""
        scheme, netloc, path = "https", f"{name}.sandbox.invalid", "/" + rest
    query = urlencode(
        [
            (key, REDACTED if is_secret_name(key) else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
    )
    return urlunsplit((scheme, netloc, path, query, ""))


# -- images -------------------------------------------------------------------------------------


def _digest(raw: bytes) -> str:
    return f"sha256:{hashlib.sha256(raw).hexdigest()[:16]}"


def _decode_base64_image(value: str) -> bytes | None:
    if len(value) < 64 or not _BASE64_IMAGE.fullmatch(value):
        return None
    payload = value.partition(",")[2] if value.startswith("data:") else value
    payload = payload.replace("\r", "").replace("\n", "")
    try:
        if "-" in payload or "_" in payload:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        else:
            raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if sniff_media_type(raw) else None


def _image_marker(body: bytes) -> dict[str, Any] | None:
    """Type, size and digest of an image body (None if it is not one Pillow can size)."""
    media_type = sniff_media_type(body)
    if media_type is None:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(body)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        width = height = 1
    return {"digest": _digest(body), "media_type": media_type, "width": width, "height": height}


def _synthesise(marker: dict[str, Any]) -> bytes:
    """A flat image with the type and size a marker records (replayed instead of the result)."""
    from PIL import Image

    fmt = str(marker.get("media_type", "image/png")).partition("/")[2].upper()
    width = min(max(int(marker.get("width", 1)), 1), 4096)
    height = min(max(int(marker.get("height", 1)), 1), 4096)
    image = Image.new("RGB", (width, height), (128, 96, 160))
    out = io.BytesIO()
    image.save(out, format=fmt if fmt in {"PNG", "JPEG", "WEBP", "GIF"} else "PNG")
    return out.getvalue()


def _scrub_value(value: Any, images: str, secrets: Iterable[str], depth: int = 0) -> Any:
    """JSON values with secret fields redacted, URLs canonical, and base64 images replaced
    according to `images`: ``"digest"`` (request bodies), ``"marker"`` (response bodies on
    disk, replayed as a synthetic image) or ``"keep"`` (response bodies in memory)."""
    if depth > 64:
        return value
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(key, str) and is_secret_name(key) and isinstance(item, str) and item
            else _scrub_value(item, images, secrets, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub_value(item, images, secrets, depth + 1) for item in value]
    if not isinstance(value, str):
        return value
    if images != "keep":
        raw = _decode_base64_image(value)
        if raw is not None:
            marker = _image_marker(raw) if images == "marker" else None
            if marker is not None:
                size = f"{marker['width']}x{marker['height']}"
                return f"image {marker['media_type']} {size} {marker['digest']}"
            return f"{_digest(raw)} ({len(raw)} bytes)"
    if value.startswith(("http://", "https://")):
        value = canonical_url(value)
    return _hide_known(value, secrets)


def _expand_images(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _expand_images(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand_images(item) for item in value]
    if isinstance(value, str):
        found = _IMAGE_MARKER.fullmatch(value)
        if found:
            marker = {"media_type": found[1], "width": int(found[2]), "height": int(found[3])}
            return base64.b64encode(_synthesise(marker)).decode()
    return value


def _load_json(body: bytes) -> Any:
    if len(body) > _MAX_JSON_BYTES or body[:1] not in (b"{", b"["):
        raise ValueError("not a JSON document")
    return json.loads(body)


def _canonical_json(body: bytes, images: str, secrets: Iterable[str]) -> bytes | None:
    try:
        data = _load_json(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return json.dumps(_scrub_value(data, images, secrets), sort_keys=True).encode()


def _canonical_multipart(body: bytes, content_type: str) -> bytes | None:
    """A multipart body with a fixed boundary and its image parts replaced by digests."""
    found = _BOUNDARY.search(content_type.encode("latin-1", "replace"))
    if not found:
        return None
    boundary = b"--" + found[1]
    parts = []
    for part in body.split(boundary)[1:-1]:
        head, _, payload = part.partition(b"\r\n\r\n")
        payload = payload.removesuffix(b"\r\n")
        if sniff_media_type(payload):
            payload = f"{_digest(payload)} ({len(payload)} bytes)".encode()
        parts.append(head + b"\r\n\r\n" + payload + b"\r\n")
    return b"--BOUNDARY" + b"--BOUNDARY".join(parts) + b"--BOUNDARY--\r\n"


def _canonical_form(body: bytes, secrets: Iterable[str]) -> bytes | None:
    try:
        fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    return urlencode(
        [
            (key, REDACTED if is_secret_name(key) else _scrub_value(value, "digest", secrets))
            for key, value in fields
        ]
    ).encode()


def _scrub_text(body: bytes, secrets: Iterable[str]) -> bytes:
    """A text body (an HTML page, cut JSON): the same URL, token and secret scrubbing."""
    text = body.decode("utf-8", "replace")
    text = _LOOPBACK_URL.sub(lambda m: f"https://{m[1]}.sandbox.invalid", text)
    text = _TOKEN_PARAM.sub(lambda m: f"{m[1]}={REDACTED}", text)
    return _hide_known(text, secrets).encode()


def _header(headers: Any, name: str) -> str:
    for key in list(headers):
        if key.lower() == name:
            value = headers[key]
            return str(value[0] if isinstance(value, list) else value)
    return ""


# -- vcrpy hooks --------------------------------------------------------------------------------


def scrub_request(request: Any) -> Any:
    """vcrpy's ``before_record_request``: applied when recording and before matching."""
    secrets = secrets_from_environment()
    request.uri = _hide_known(canonical_url(request.uri), secrets)
    content_type = _header(request.headers, "content-type")
    for name in list(request.headers):
        if is_secret_name(name) or name.lower() in _VOLATILE_HEADERS:
            del request.headers[name]
    body = request.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    if body:
        canonical: bytes | None
        if sniff_media_type(body):
            canonical = f"{_digest(body)} ({len(body)} bytes)".encode()
        elif content_type.startswith("multipart/"):
            canonical = _canonical_multipart(body, content_type)
            if canonical is not None:
                request.headers["Content-Type"] = "multipart/form-data; boundary=BOUNDARY"
        elif content_type.startswith("application/x-www-form-urlencoded"):
            canonical = _canonical_form(body, secrets)
        else:
            canonical = _canonical_json(body, "digest", secrets)
        request.body = _hide_known_bytes(canonical if canonical is not None else body, secrets)
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """vcrpy's ``before_record_response``: secrets out, URLs canonical.

    vcrpy also runs it on every response it loads, so it leaves replayable bodies as they are:
    images become markers only in the serializer.
    """
    secrets = secrets_from_environment()
    response["headers"] = {
        name: values
        for name, values in response.get("headers", {}).items()
        if not is_secret_name(name) and name.lower() not in _VOLATILE_HEADERS
    }
    body = response.get("body", {}).get("string")
    if isinstance(body, bytes) and body and sniff_media_type(body) is None:
        canonical = _canonical_json(body, "keep", secrets)
        response["body"]["string"] = (
            canonical if canonical is not None else _scrub_text(body, secrets)
        )
    return response


# -- the serializer -----------------------------------------------------------------------------


def _body_to_yaml(body: Any, images: str) -> Any:
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not body:
        return {"string": ""}
    marker = _image_marker(body)
    if marker is not None:
        return {"image": marker}
    secrets = secrets_from_environment()
    try:
        return {"json": _scrub_value(_load_json(body), images, secrets)}
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    try:
        return {"string": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode()}


def _body_from_yaml(stored: Any) -> bytes:
    if not isinstance(stored, dict):
        return b"" if stored is None else str(stored).encode()
    if "image" in stored:
        return _synthesise(stored["image"])
    if "json" in stored:
        return json.dumps(_expand_images(stored["json"]), sort_keys=True).encode()
    if "base64" in stored:
        return base64.b64decode(stored["base64"])
    value = stored.get("string") or ""
    return value.encode() if isinstance(value, str) else bytes(value)


class CassetteSerializer:
    """vcrpy serializer ``swapkit.yaml``: YAML with JSON bodies as structures and images as digests.

    Registered under that name by `configure` and by the pytest plugin.
    """

    @staticmethod
    def serialize(cassette: dict[str, Any]) -> str:
        import yaml

        interactions = []
        for interaction in cassette["interactions"]:
            request, response = interaction["request"], interaction["response"]
            request = {**request, "body": _body_to_yaml(request["body"], "digest")}
            response = {**response, "body": _body_to_yaml(response["body"]["string"], "marker")}
            interactions.append({"request": request, "response": response})
        text = yaml.safe_dump(
            {"interactions": interactions, "version": cassette.get("version", 1)},
            sort_keys=False,
            allow_unicode=True,
        )
        if any(secret in text for secret in secrets_from_environment()):
            raise ValueError(
                "refusing to write a cassette that holds the value of a secret environment "
                "variable; report it: swapkit's scrubbing missed a place it can appear"
            )
        return text

    @staticmethod
    def deserialize(text: str) -> dict[str, Any]:
        import yaml

        data: dict[str, Any] = yaml.safe_load(text) or {"interactions": []}
        for interaction in data["interactions"]:
            request, response = interaction["request"], interaction["response"]
            request["body"] = _body_from_yaml(request["body"])
            response["body"] = {"string": _body_from_yaml(response["body"])}
        return data


def vcr_config() -> dict[str, Any]:
    """Keyword arguments for ``vcr.VCR(...)`` / ``use_cassette`` (and pytest-recording's
    ``vcr_config`` fixture) that scrub and match as the module docstring says.

    The serializer must be registered on the ``VCR`` (`configure`, or the pytest plugin's
    ``pytest_recording_configure``).  Extend it in a conftest, keeping swapkit's scrubbing::

        @pytest.fixture(scope="module")
        def vcr_config():
            return {**swapkit.testing.vcr_config(), "filter_headers": ["x-my-app"]}
    """
    return {
        "serializer": SERIALIZER_NAME,
        "match_on": ("method", "path", "query", "body"),
        "before_record_request": scrub_request,
        "before_record_response": scrub_response,
        "decode_compressed_response": True,
        "record_on_exception": False,
    }


def configure(vcr: Any) -> Any:
    """Register the ``swapkit.yaml`` serializer on a ``vcr.VCR`` and apply `vcr_config`; returns it.

    For plain vcrpy: ``my_vcr = swapkit.testing.configure(vcr.VCR(cassette_library_dir=...))``.
    """
    vcr.register_serializer(SERIALIZER_NAME, CassetteSerializer)
    for name, value in vcr_config().items():
        setattr(vcr, name, value)
    return vcr
