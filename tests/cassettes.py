"""Cassette plumbing: scrubbing, canonical URLs, image digests and the recording switch.

Cassettes live at ``tests/cassettes/<test_module>/<test_name>.yaml`` (pytest-recording's
layout) and replay with ``--record-mode=none`` (the default in pyproject) and the network
blocked.  Everything that leaves this module for disk goes through `scrub_request` /
`scrub_response` and the serializer below (registered under vcrpy's ``yaml`` name, so
pytest-recording's ``--record-mode=rewrite`` finds and replaces the files), so every cassette
gets the same treatment:

* no credential survives: ``Authorization``, cookies, signature headers and pre-signed URL
  tokens are dropped or replaced by ``REDACTED``;
* JSON bodies are stored as YAML structures, so a diff of a cassette reads like the traffic;
* base64 images in request bodies, and image parts of multipart uploads, become
  ``sha256:<digest>`` strings (multipart boundaries become ``BOUNDARY``), and requests are
  matched on that digest, so a test that sends a different image fails to match;
* image response bodies become ``{image: {digest, media_type, width, height}}``, and base64
  images inside JSON responses ``"image <type> <W>x<H> sha256:<digest>"``; both are replayed as
  a synthetic image of that format and size (the result image itself is not stored);
* sandbox URLs (``http://127.0.0.1:<port>/<vendor>/...``) are stored as
  ``https://<vendor>.sandbox.invalid/...`` and requests match on method, path, query and body,
  so a replay needs no server and a cassette recorded against the real vendor matches too.

Recording: ``pytest --record-mode=rewrite tests/test_prospolabs_cassettes.py`` records against
an in-process sandbox.  With ``SWAPKIT_RECORD_REAL=1`` and a real ``SWAPKIT_<NAME>_API_KEY`` it
records against the vendor itself (only the flows a real vendor can be made to produce).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import yaml
from PIL import Image

from swapkit.core.images import sniff_media_type

from .clock import FakeClock

REDACTED = "REDACTED"
_SECRET_HEADERS = {
    "authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-prospo-signature",
}
_VOLATILE_HEADERS = {"date", "server", "connection", "keep-alive", "content-length", "host"}
_SECRET_QUERY = {"token", "signature", "sig", "x-amz-signature", "x-amz-credential", "key"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_BASE64_IMAGE = re.compile(r"^(?:data:image/[a-z+.-]+;base64,)?[A-Za-z0-9+/]{64,}={0,2}$")
_KEY_SHAPED = re.compile(r"\b(?:prsp|sk)-[A-Za-z0-9_-]{8,}")


def canonical_url(url: str) -> str:
    """Sandbox URLs in the vendor's own shape; secret query parameters redacted."""
    parts = urlsplit(url)
    host, path = parts.hostname or "", parts.path
    scheme, netloc = parts.scheme, parts.netloc
    if host in _LOOPBACK:
        _, vendor, rest = path.split("/", 2) if path.count("/") >= 2 else ("", path[1:], "")
        scheme, netloc, path = "https", f"{vendor}.sandbox.invalid", "/" + rest
    query = urlencode(
        [
            (key, REDACTED if key.lower() in _SECRET_QUERY else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
    )
    return urlunsplit((scheme, netloc, path, query, ""))


_IMAGE_MARKER = re.compile(r"^image (image/[a-z]+) (\d+)x(\d+) (sha256:[0-9a-f]{16})$")


def _digest_images(value: Any, images: str = "digest") -> Any:
    """Canonical URLs, and base64 images replaced according to `images`: ``"digest"`` (request
    bodies, matched on the digest), ``"marker"`` (response bodies on disk: type, size and digest,
    which `_expand_images` replays as a synthetic image) or ``"keep"``."""
    if isinstance(value, dict):
        return {key: _digest_images(item, images) for key, item in value.items()}
    if isinstance(value, list):
        return [_digest_images(item, images) for item in value]
    if isinstance(value, str) and images != "keep" and _BASE64_IMAGE.match(value):
        payload = value.partition(",")[2] if value.startswith("data:") else value
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return value
        if sniff_media_type(raw):
            digest = f"sha256:{hashlib.sha256(raw).hexdigest()[:16]}"
            marker = _image_marker(raw) if images == "marker" else None
            if marker is not None:
                return f"image {marker['media_type']} {marker['width']}x{marker['height']} {digest}"
            return f"{digest} ({len(raw)} bytes)"
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return canonical_url(value)
    return value


def _expand_images(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _expand_images(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand_images(item) for item in value]
    if isinstance(value, str):
        found = _IMAGE_MARKER.match(value)
        if found:
            marker = {"media_type": found[1], "width": int(found[2]), "height": int(found[3])}
            return base64.b64encode(_synthesise(marker)).decode()
    return value


def _canonical_json(body: bytes, images: str = "digest") -> bytes | None:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return json.dumps(_digest_images(data, images), sort_keys=True).encode()


_BOUNDARY = re.compile(rb"boundary=([^;\s]+)")


def _canonical_multipart(body: bytes, content_type: str) -> bytes | None:
    """A multipart body with a fixed boundary and its image parts replaced by digests."""
    found = _BOUNDARY.search(content_type.encode())
    if not found:
        return None
    boundary = b"--" + found[1].strip(b'"')
    parts = []
    for part in body.split(boundary)[1:-1]:
        head, _, payload = part.partition(b"\r\n\r\n")
        payload = payload.removesuffix(b"\r\n")
        if sniff_media_type(payload):
            digest = hashlib.sha256(payload).hexdigest()[:16]
            payload = f"sha256:{digest} ({len(payload)} bytes)".encode()
        parts.append(head + b"\r\n\r\n" + payload + b"\r\n")
    return b"--BOUNDARY" + b"--BOUNDARY".join(parts) + b"--BOUNDARY--\r\n"


def scrub_request(request: Any) -> Any:
    """vcrpy ``before_record_request``: applied when recording *and* before matching."""
    request.uri = canonical_url(request.uri)
    content_type = request.headers.get("content-type", "") or request.headers.get(
        "Content-Type", ""
    )
    for name in list(request.headers):
        if name.lower() in _SECRET_HEADERS | _VOLATILE_HEADERS:
            del request.headers[name]
    if request.body:
        canonical = _canonical_json(request.body)
        if canonical is None and content_type.startswith("multipart/"):
            canonical = _canonical_multipart(request.body, content_type)
            request.headers["content-type"] = "multipart/form-data; boundary=BOUNDARY"
        if canonical is not None:
            request.body = canonical
    return request


_LOOPBACK_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost|\[::1\]):\d+/([A-Za-z0-9_-]+)")
_TOKEN_PARAM = re.compile(r"\b(token|signature|sig)=[^&\"'\s]+", re.I)


def _scrub_text(body: bytes) -> bytes:
    """Non-JSON bodies (HTML pages, truncated JSON): the same URL and token scrubbing."""
    text = body.decode("utf-8", "replace")
    text = _LOOPBACK_URL.sub(lambda m: f"https://{m[1]}.sandbox.invalid", text)
    return _TOKEN_PARAM.sub(lambda m: f"{m[1]}={REDACTED}", text).encode()


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """vcrpy ``before_record_response``: drop secrets, canonicalise URLs in JSON bodies."""
    response["headers"] = {
        name: values
        for name, values in response["headers"].items()
        if name.lower() not in _SECRET_HEADERS | _VOLATILE_HEADERS
    }
    body = response["body"]["string"]
    if isinstance(body, bytes) and body:
        # vcrpy also runs this hook on every response it loads, so it must leave replayable
        # bodies as they are: base64 images become markers only in the serializer.
        canonical = _canonical_json(body, images="keep")
        if canonical is not None:
            response["body"]["string"] = canonical
        elif sniff_media_type(body) is None:
            response["body"]["string"] = _scrub_text(body)
    return response


def _image_marker(body: bytes) -> dict[str, Any] | None:
    media_type = sniff_media_type(body)
    if media_type is None:
        return None
    with Image.open(io.BytesIO(body)) as image:
        width, height = image.size
    return {
        "digest": "sha256:" + hashlib.sha256(body).hexdigest()[:16],
        "media_type": media_type,
        "width": width,
        "height": height,
    }


def _synthesise(marker: dict[str, Any]) -> bytes:
    fmt = marker["media_type"].partition("/")[2].upper()
    image = Image.new("RGB", (marker["width"], marker["height"]), (128, 96, 160))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def _body_to_yaml(body: Any) -> Any:
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not body:
        return {"string": ""}
    marker = _image_marker(body)
    if marker is not None:
        return {"image": marker}
    try:
        return {"json": _digest_images(json.loads(body), "marker")}
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    try:
        return {"string": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode()}


def _body_from_yaml(stored: Any) -> bytes:
    if "image" in stored:
        return _synthesise(stored["image"])
    if "json" in stored:
        return json.dumps(_expand_images(stored["json"]), sort_keys=True).encode()
    if "base64" in stored:
        return base64.b64decode(stored["base64"])
    value = stored.get("string") or ""
    return value.encode() if isinstance(value, str) else bytes(value)


class SwapkitSerializer:
    """YAML with structured JSON bodies and images as digests (see the module docstring)."""

    @staticmethod
    def serialize(cassette: dict[str, Any]) -> str:
        interactions = []
        for interaction in cassette["interactions"]:
            request, response = interaction["request"], interaction["response"]
            request = {**request, "body": _body_to_yaml(request["body"])}
            response = {**response, "body": _body_to_yaml(response["body"]["string"])}
            interactions.append({"request": request, "response": response})
        text = yaml.safe_dump(
            {"interactions": interactions, "version": cassette.get("version", 1)},
            sort_keys=False,
            allow_unicode=True,
        )
        leaked = _KEY_SHAPED.search(text)
        if leaked:
            raise AssertionError(f"refusing to write a cassette holding a key: {leaked[0][:8]}…")
        return text

    @staticmethod
    def deserialize(text: str) -> dict[str, Any]:
        data = yaml.safe_load(text) or {"interactions": []}
        for interaction in data["interactions"]:
            request, response = interaction["request"], interaction["response"]
            request["body"] = _body_from_yaml(request["body"])
            response["body"] = {"string": _body_from_yaml(response["body"])}
        return data  # type: ignore[no-any-return]


def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    vcr.register_serializer("yaml", SwapkitSerializer)


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "serializer": "yaml",
        "match_on": ("method", "path", "query", "body"),
        "before_record_request": scrub_request,
        "before_record_response": scrub_response,
        "decode_compressed_response": True,
        "record_on_exception": False,
    }


def recording(config: pytest.Config) -> bool:
    """True when this run writes cassettes rather than replaying them."""
    return config.getoption("--record-mode") not in (None, "none")


#: The recording switches, read when pytest starts: the autouse fixture that hides the
#: machine's swapkit variables from tests runs before any cassette fixture could read them.
_RECORDING_ENV = {
    name: value
    for name, value in os.environ.items()
    if name == "SWAPKIT_RECORD_REAL"
    or (name.startswith("SWAPKIT_") and name.endswith(("_API_KEY", "_BASE_URL")))
}


class RealClock(FakeClock):
    """Real time, with the fake clock's record of sleeps (for recording against a vendor)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        time.sleep(seconds)


class CassetteTarget:
    """Where a cassette test sends traffic (see `cassette_target`)."""

    def __init__(self, base_url: str | None, sandbox: Any, clock: FakeClock) -> None:
        self._base_url = base_url
        self.sandbox = sandbox
        self.clock = clock

    @property
    def real(self) -> bool:
        """True when recording against the real vendor."""
        return self._base_url == ""

    def settings(self, provider: str) -> dict[str, Any]:
        """Provider settings for this run: replay, sandbox recording or real recording."""
        if self._base_url is None:  # replay: nothing listens on port 9, vcrpy answers
            return {"api_key": "replay-key", "base_url": f"http://127.0.0.1:9/{provider}"}
        if self.real:  # the vendor itself, with the key given when pytest started
            prefix = f"SWAPKIT_{provider.upper()}_"
            return {
                name.removeprefix(prefix).lower(): value
                for name, value in _RECORDING_ENV.items()
                if name.startswith(prefix)
            }
        key = self.sandbox.vendors[provider].default_api_keys[0]
        return {"api_key": key, "base_url": f"{self._base_url}/{provider}"}

    def fault(self, **fields: Any) -> None:
        """Inject a sandbox fault; tests that need one are skipped against a real vendor."""
        if self.real:
            pytest.skip("needs the sandbox's fault injection")
        if self.sandbox is not None:
            from swapkit.sandbox import Fault

            self.sandbox.faults.add(Fault(**fields))


@pytest.fixture
def cassette_target(request: pytest.FixtureRequest) -> Iterator[CassetteTarget]:
    """Nowhere on replay; an in-process sandbox (on a fake clock) when recording; the real
    vendor when recording with ``SWAPKIT_RECORD_REAL=1``."""
    if not recording(request.config):
        yield CassetteTarget(None, None, FakeClock())
        return
    if _RECORDING_ENV.get("SWAPKIT_RECORD_REAL"):
        yield CassetteTarget("", None, RealClock())
        return
    from swapkit.sandbox import Sandbox

    clock = FakeClock()
    small = {"eventstation": {"result_scale": 0.05}}  # base64 results stay small when recording
    with (
        Sandbox(clock=clock.monotonic, job_seconds=5.0, vendor_options=small) as sandbox,
        sandbox.serve() as server,
    ):
        yield CassetteTarget(server.url, sandbox, clock)


@pytest.fixture
def cassette_swap(
    kind: str,
    cassette_target: CassetteTarget,
    plugin_manager: Any,
    request: pytest.FixtureRequest,
) -> Callable[..., Any]:
    """Swap through the test module's ``PROVIDER`` on the cassette target, with `kind`'s client.

    Keyword ``settings`` override the provider's settings; every other keyword is a swap field.
    """
    from .conftest import run_swap

    name = request.module.PROVIDER

    def run(settings: dict[str, Any] | None = None, **fields: Any) -> Any:
        provider = {**cassette_target.settings(name), **(settings or {})}
        client = {
            "providers": {name: provider},
            "clock": cassette_target.clock,
            "plugin_manager": plugin_manager,
        }
        return run_swap(kind, client, **fields)  # type: ignore[arg-type]

    return run
