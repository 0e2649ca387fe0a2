"""The provider interface: what a vendor adapter declares and the sans-I/O methods it implements.

A provider never owns a socket.  It declares what it can do as data (`Capabilities`), turns a
prepared swap into `httpx.Request` objects, and turns `httpx.Response` objects into a
`Pending` job, a `Done` result or a `ProviderError`.  The engine's one flow (`swapkit.core.flow`)
decides when to send, poll, wait, download and give up, for every provider alike.

Writing a provider means subclassing `Provider`, filling in the class attributes and the
``build_*`` / ``parse_*`` methods, and registering the class from a plugin (see
`swapkit.core.hookspecs`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

import httpx
from pydantic import SecretStr

from swapkit.core.errors import (
    ConfigurationError,
    InvalidSignature,
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    ResultExpired,
    error_class_for_status,
)
from swapkit.core.images import Base64Text, LoadedImage
from swapkit.core.models import SwapRequest, Template, WebhookEvent
from swapkit.core.retry import parse_retry_after
from swapkit.core.settings import ProviderSettings, env_var, resolve_settings
from swapkit.core.untrusted import MAX_MESSAGE_CHARS, message_of, parse_json, text_prefix

__all__ = [
    "Capabilities",
    "Done",
    "JsonBody",
    "Outcome",
    "Pending",
    "Plan",
    "PreparedSwap",
    "Provider",
    "VendorResult",
    "body_text",
    "check_provider_class",
    "describe_response",
    "error_message",
    "get_header",
    "json_body",
    "json_object",
    "json_request",
]

TargetKind = Literal["image", "template", "prompt"]
InputKind = Literal["bytes", "url"]
Mode = Literal["sync", "async"]


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a provider can do, declared as data so routing never needs to name a vendor.

    Sizes are bytes, latencies seconds, prices US dollars per swap (``None``: unknown).
    `face_index` says whether the vendor can be told which target face to replace.
    `uploads` says the vendor has its own upload endpoint, so a URL-only provider can still
    take bytes (see `swapkit.core.uploads`).
    `sync_limit_seconds` is how long the vendor's blocking endpoint may take; a swap whose
    deadline is longer, or which carries a ``webhook_url``, uses the async flow when the
    provider has one.
    `charges_when` and `refunds_failed_jobs` describe the vendor's billing, which is how
    swapkit knows whether an attempt was charged: a vendor charges when it accepts a job
    (``"accepted"``) or only for a job that succeeds (``"succeeded"``), and may refund a job
    that it accepted and then failed.  An answered 4xx/5xx is never charged by any vendor
    swapkit knows.
    """

    input_kinds: frozenset[InputKind] = frozenset({"bytes", "url"})
    target_kinds: frozenset[TargetKind] = frozenset({"image"})
    styles: frozenset[str] = frozenset({"realistic"})
    output_formats: frozenset[str] = frozenset({"jpeg", "png", "webp"})
    max_image_bytes: int | None = None
    modes: frozenset[Mode] = frozenset({"sync"})
    webhooks: bool = False
    face_index: bool = False
    uploads: bool = False
    #: Whether the vendor signs its webhooks (else swapkit trusts only its own per-job URL
    #: token, and fetches the result from the vendor's API rather than from the body).
    signs_webhooks: bool = False
    sync_limit_seconds: float | None = None
    typical_latency_seconds: float | None = None
    default_price_usd: float | None = None
    charges_when: Literal["accepted", "succeeded"] = "accepted"
    refunds_failed_jobs: bool = True

    @property
    def charged_while_running(self) -> bool | None:
        """Whether an accepted, unfinished job is charged (None: only if it succeeds)."""
        return True if self.charges_when == "accepted" else None

    @property
    def charged_when_failed(self) -> bool:
        """Whether an accepted job that then failed stays charged."""
        return self.charges_when == "accepted" and not self.refunds_failed_jobs


@dataclasses.dataclass(frozen=True)
class PreparedSwap:
    """A validated request with its images loaded once, shared by every provider and retry."""

    request: SwapRequest
    source: LoadedImage
    target: LoadedImage | None


@dataclasses.dataclass(frozen=True)
class Plan:
    """How the engine runs this submit: the endpoint style, the time left (seconds), and the
    per-job URL swapkit wants the vendor's webhook at (for vendors that send webhooks, when the
    client has a `webhook_url`; the request's own `webhook_url` wins)."""

    mode: Mode
    remaining_seconds: float
    webhook_url: str | None = None


@dataclasses.dataclass(frozen=True)
class VendorResult:
    """A vendor's finished job, normalised: seconds, aware UTC datetimes, bytes or a URL."""

    job_id: str | None
    model: str | None = None
    image: bytes | None = dataclasses.field(default=None, repr=False)
    url: str | None = None
    expires_at: datetime | None = None
    processing_seconds: float | None = None
    width: int | None = None
    height: int | None = None
    credits_used: float | None = None
    faces_detected: int | None = None
    raw: Any = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class Pending:
    """The vendor accepted the job and it is not finished; poll again later."""

    job_id: str
    model: str | None = None
    status: str | None = None
    raw: Any = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class Done:
    """The vendor finished the job."""

    result: VendorResult


Outcome = Pending | Done


class JsonBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A JSON object body whose base64 images are sent without copies, in few large writes.

    ``json.dumps`` would turn each base64 image into a ``str``, escape it, and encode the whole
    document again: three more copies of every image, and one more to join them.  Base64 needs
    no JSON escaping, so the body is kept as a list of pieces (encoded keys and small values
    around the images) and streamed, with an exact ``Content-Length``:

    * a ``bytes`` value (base64 already made) is sent as it is;
    * a `Base64Text` value (`LoadedImage.encoded`) is encoded as the body is sent, once per
      distinct image in the body, and not kept afterwards: a large image slice by slice, so
      the encoded body is never held whole;
    * a body up to `JOIN_BYTES` goes out in one write; a larger one in writes of at least
      `WRITE_BYTES` (small pieces joined to their neighbours), never one per key.

    Nothing encoded outlives the write it was made for.  Keeping a small image's encoding for
    a retry cost more than encoding it again: the buffers it held made the allocator return
    and re-fault about 200 KB of heap on every swap (50 page faults, a third of swapkit's
    time per swap at 100 KB), where a retry's encoding costs tens of microseconds.

    It can be iterated any number of times, so retries resend it, and it works for both the
    sync and the async client.
    """

    #: The smallest write the pieces are gathered into.
    WRITE_BYTES = 64 * 1024
    #: A body up to this size goes out in one write.
    JOIN_BYTES = 1024 * 1024

    def __init__(self, payload: Mapping[str, Any]) -> None:
        pieces: list[bytes | Base64Text] = []
        for key, value in payload.items():
            if value is None:
                continue
            pieces += (b"," if pieces else b"{", json.dumps(key).encode(), b":")
            if isinstance(value, bytes | Base64Text):
                pieces += (b'"', value, b'"')
            else:
                pieces.append(json.dumps(value).encode())
        pieces.append(b"}" if pieces else b"{}")
        self.chunks = tuple(pieces)
        self.length = sum(map(len, pieces))

    def __iter__(self) -> Iterator[bytes]:
        if self.length <= self.JOIN_BYTES:  # one write: a copy this small costs microseconds
            made: dict[int, bytes] = {}  # the same image twice (source and target): once
            body = b"".join(
                [
                    (made.get(id(piece)) or made.setdefault(id(piece), bytes(piece)))
                    if isinstance(piece, Base64Text)
                    else piece
                    for piece in self.chunks
                ]
            )
            del made  # not held while the body is written
            yield body
            return
        pending: list[bytes] = []
        size = 0
        for piece in self.chunks:
            for part in piece if isinstance(piece, Base64Text) else (piece,):
                pending.append(part)
                size += len(part)
                if size >= self.WRITE_BYTES:
                    yield pending[0] if len(pending) == 1 else b"".join(pending)
                    pending, size = [], 0
        if pending:
            yield b"".join(pending)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


def json_request(
    method: str, url: str, payload: Mapping[str, Any], headers: Mapping[str, str]
) -> httpx.Request:
    """An `httpx.Request` with a `JsonBody` (``None`` values are left out)."""
    body = JsonBody(payload)
    target = httpx.URL(url)
    all_headers = {
        "Host": target.netloc.decode("ascii"),
        **headers,
        "Content-Type": "application/json",
        "Content-Length": str(body.length),
    }
    # With `stream=`, httpx leaves `.content` unread (as for any streamed body) rather than
    # reporting an empty body to event hooks and mock transports.
    return httpx.Request(method, target, headers=all_headers, stream=body)


def error_message(value: Any) -> str:
    """A readable message from a vendor's error field (see `swapkit.core.untrusted.message_of`:
    a string, a FastAPI-style list of ``{"loc", "msg"}`` items, or an object with a
    ``message``/``msg``/``detail``; bounded in depth and length)."""
    return message_of(value)


def body_text(response: httpx.Response, limit: int = MAX_MESSAGE_CHARS) -> str:
    """The start of a response body as text, whatever its bytes or declared charset."""
    return text_prefix(response.content, response.charset_encoding, limit)


def describe_response(response: httpx.Response) -> str:
    """A message for an error response whose body says nothing usable (HTML, empty, cut)."""
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    if not response.content:
        return f"HTTP {response.status_code} with an empty body"
    return f"HTTP {response.status_code} {response.reason_phrase} ({kind}, not a JSON error)"


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """A header from any mapping (a web framework's, a dict), matched case-insensitively."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _charset(content_type: str | None) -> str | None:
    """The charset a Content-Type declares, or None (httpx's `charset_encoding` runs the
    ``email`` package's header parser on every answer for the same)."""
    if content_type is None:
        return None
    _, found, rest = content_type.lower().partition("charset=")
    return rest.partition(";")[0].strip() if found else None


def json_body(response: httpx.Response, provider: str) -> Any:
    """The response's JSON, read within bounds (`swapkit.core.untrusted.parse_json`).

    Vendors answer with HTML error pages, truncated bodies and worse; none of it may leak out
    as a Python exception.  A 2xx that cannot be read is `MalformedResponse` (a
    `ResultInvalid`: the vendor may have accepted the job it answers for); anything else is
    `ProviderUnavailable`, retryable for a 5xx.
    """
    try:
        return parse_json(response.content, _charset(response.headers.get("content-type")))
    except ValueError as exc:
        content_type = response.headers.get("content-type", "no content type")
        snippet = body_text(response, 120)
        what = f"expected JSON but got {content_type} ({exc}): {snippet!r}"
        if response.is_success:
            raise MalformedResponse(
                what, provider=provider, status_code=response.status_code, body=snippet
            ) from None
        raise ProviderUnavailable(
            what,
            provider=provider,
            status_code=response.status_code,
            retryable=response.status_code >= 500,
            body=body_text(response),
        ) from None


def json_object(response: httpx.Response, provider: str) -> dict[str, Any]:
    """`json_body`, which must be an object (else `MalformedResponse` / `ProviderUnavailable`)."""
    data = json_body(response, provider)
    if isinstance(data, dict):
        return data
    error_class = MalformedResponse if response.is_success else ProviderUnavailable
    raise error_class(
        f"expected a JSON object, got {type(data).__name__}",
        provider=provider,
        status_code=response.status_code,
        body=body_text(response),
    )


class Provider(ABC):
    """Base class of every provider adapter (built-in or from a plugin)."""

    #: The name users pass in ``providers=[...]`` and that sets ``SWAPKIT_<NAME>_*``.
    name: ClassVar[str]
    #: The vendor's product name, for messages and docs.
    display_name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    settings_class: ClassVar[type[ProviderSettings]] = ProviderSettings
    #: Vendor environment variables read after ``SWAPKIT_<NAME>_<SETTING>``.
    env_aliases: ClassVar[Mapping[str, Sequence[str]]] = {}
    #: A transport that answers this provider's requests in-process instead of the network
    #: (`swapkit.testing.MockProvider`, an emulator): a client that builds its own HTTP client
    #: mounts it for the host of the provider's ``base_url``.
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None

    def __init__(self, settings: ProviderSettings | None = None, **overrides: Any) -> None:
        if settings is not None and overrides:
            raise ConfigurationError("pass either a settings object or keyword settings")
        self.settings = settings or resolve_settings(
            self.settings_class, self.name, overrides, aliases=self.env_aliases
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} base_url={self.settings.base_url!r}>"

    # -- configuration ----------------------------------------------------------------------

    def missing_configuration(self) -> str | None:
        """Why this provider cannot be used as configured, or None when it can."""
        if self.settings.api_key is None:
            variables = [env_var(self.name, "api_key"), *self.env_aliases.get("api_key", ())]
            return (
                f"no API key: set {' or '.join(variables)}, "
                f"or pass providers={{{self.name!r}: {{'api_key': ...}}}}"
            )
        return None

    @property
    def api_key(self) -> str:
        """The API key, or a `ConfigurationError` saying how to set it."""
        problem = self.missing_configuration()
        if problem or self.settings.api_key is None:
            raise ConfigurationError(f"{self.name}: {problem}")
        return self.settings.api_key.get_secret_value()

    def secret(self, setting: str, given: str | None = None) -> str:
        """A secret for verifying webhooks: `given`, else the `setting`, else a
        `ConfigurationError` naming the variable that sets it."""
        if given:
            return given
        configured = getattr(self.settings, setting, None)
        if isinstance(configured, SecretStr) and configured.get_secret_value():
            return configured.get_secret_value()
        raise ConfigurationError(
            f"{self.name}: no {setting.replace('_', ' ')} to verify with; set "
            f"{env_var(self.name, setting)} (the one the swap was sent with) or pass secret=..."
        )

    def price_usd(self, request: SwapRequest) -> float | None:
        """What one swap of `request` costs here: the setting, else the vendor's list price."""
        if self.settings.price_usd is not None:
            return self.settings.price_usd
        return self.capabilities.default_price_usd

    def model_for(self, request: SwapRequest) -> str | None:
        """The vendor model this request would use, for ledgers and pricing."""
        return None

    def check(self, prepared: PreparedSwap) -> None:
        """Raise `InvalidRequest` for what the vendor would refuse; called before sending."""
        return

    def choose_mode(self, request: SwapRequest, remaining_seconds: float) -> Mode:
        """The `mode` setting when forced; else sync when the vendor can finish within its
        blocking limit and no webhook is wanted, async otherwise."""
        modes = self.capabilities.modes
        forced = self.settings.mode
        if forced != "auto" and forced in modes:
            return forced
        if modes == {"sync"} or "async" not in modes:
            return "sync"
        if "sync" not in modes or request.webhook_url:
            return "async"
        limit = self.capabilities.sync_limit_seconds
        return "async" if limit is not None and remaining_seconds > limit else "sync"

    # -- the sans-I/O contract --------------------------------------------------------------

    @abstractmethod
    def build_submit(self, prepared: PreparedSwap, plan: Plan) -> httpx.Request:
        """The request that starts the swap."""

    @abstractmethod
    def parse_submit(self, response: httpx.Response, plan: Plan) -> Outcome:
        """The outcome of a successful (2xx) submit response."""

    def build_poll(self, job: Pending) -> httpx.Request:
        """The request that asks how a pending job is doing."""
        raise NotImplementedError(f"{self.name} has no polling endpoint")

    def parse_poll(self, response: httpx.Response, job: Pending) -> Outcome:
        """The outcome of a successful (2xx) poll response."""
        raise NotImplementedError(f"{self.name} has no polling endpoint")

    def build_list_templates(self) -> httpx.Request:
        """The request that lists the vendor's templates (for template providers)."""
        raise NotImplementedError(f"{self.name} has no templates")

    def parse_templates(self, response: httpx.Response) -> list[Template]:
        """The templates in a successful (2xx) listing response."""
        raise NotImplementedError(f"{self.name} has no templates")

    def build_upload(self, image: LoadedImage) -> httpx.Request:
        """The request that stores `image` with the vendor (when `Capabilities.uploads`)."""
        raise NotImplementedError(f"{self.name} has no upload endpoint")

    def parse_upload(self, response: httpx.Response, image: LoadedImage) -> str:
        """The URL of the stored image, from a successful (2xx) upload response."""
        raise NotImplementedError(f"{self.name} has no upload endpoint")

    def build_download(self, url: str) -> httpx.Request:
        """The request that fetches a result URL (pre-signed: no credentials by default)."""
        return httpx.Request("GET", url)

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        """The swapkit error for a non-2xx API response; override to map vendor codes."""
        return self.status_error(response, message=response.reason_phrase or "request failed")

    def download_error(self, response: httpx.Response) -> ProviderError:
        """The swapkit error for a failed result download."""
        if response.status_code in (401, 403, 404, 410):
            return ResultExpired(
                "the result URL is expired or no longer served",
                provider=self.name,
                status_code=response.status_code,
                body=body_text(response, 500),
            )
        return self.status_error(response, message="result download failed")

    def parse_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        secret: str | None = None,
        url: str | None = None,
    ) -> WebhookEvent:
        """Verify and normalise a webhook the vendor sent; `InvalidSignature` if it fails.

        `url` is the full URL the webhook arrived at (vendors that do not sign their callbacks
        are verified by the token swapkit put in it).
        """
        raise InvalidSignature(f"{self.name} does not send webhooks")

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Normalise a webhook whose origin swapkit has established itself (from the per-job
        URL it gave the vendor): for vendors that do not sign.  Nothing in it is trusted but
        the job id; the result is fetched from the vendor's API."""
        raise InvalidSignature(f"{self.name} does not send webhooks")

    # -- helpers for subclasses --------------------------------------------------------------

    def status_error(
        self,
        response: httpx.Response,
        *,
        message: str,
        code: str | None = None,
        error_class: type[ProviderError] | None = None,
        body: Any = None,
        request_id: str | None = None,
    ) -> ProviderError:
        """A `ProviderError` from the core status table (or `error_class`), with context."""
        status = response.status_code
        cls = error_class or error_class_for_status(status)
        kwargs: dict[str, Any] = {
            "provider": self.name,
            "status_code": status,
            "code": code,
            "body": body_text(response) if body is None else body,
            "request_id": request_id,
            "retryable": status == 429 or status >= 500,
        }
        if issubclass(cls, RateLimited):
            kwargs["retry_after"] = parse_retry_after(response.headers, time.time())
        return cls(message, **kwargs)


#: Methods a capability needs, and methods that only make sense together.
_NEEDS: tuple[tuple[str, Callable[[Capabilities], bool], tuple[str, ...]], ...] = (
    ('declares "async" in modes', lambda c: "async" in c.modes, ("build_poll", "parse_poll")),
    ("declares uploads", lambda c: c.uploads, ("build_upload", "parse_upload")),
    ("declares signs_webhooks", lambda c: c.webhooks and c.signs_webhooks, ("parse_webhook",)),
    (
        "declares unsigned webhooks",
        lambda c: c.webhooks and not c.signs_webhooks,
        ("read_webhook",),
    ),
)
_PAIRS = (
    ("build_poll", "parse_poll"),
    ("build_upload", "parse_upload"),
    ("build_list_templates", "parse_templates"),
)
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _implements(provider_class: type[Provider], method: str) -> bool:
    return getattr(provider_class, method, None) is not getattr(Provider, method)


def check_provider_class(provider_class: object) -> None:
    """Raise `ConfigurationError` listing every way `provider_class` is not a usable provider.

    Called when a plugin registers a provider, so a mistake shows when the plugin is loaded
    rather than in the middle of a paid swap: the class must subclass `Provider`, have a
    lowercase `name` (it forms ``SWAPKIT_<NAME>_*``), a `display_name` and a `Capabilities`,
    implement the abstract methods, and implement what its capabilities declare (polling for
    ``"async"``, uploads, webhook parsing) and both halves of every build/parse pair.
    """
    if not (isinstance(provider_class, type) and issubclass(provider_class, Provider)):
        raise ConfigurationError(
            f"{provider_class!r} is not a provider: "
            "register a subclass of swapkit.provider.Provider"
        )
    label = provider_class.__qualname__
    problems: list[str] = []
    name = getattr(provider_class, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(
            f"name {name!r} should be lowercase letters, digits and underscores, "
            "starting with a letter (at most 40)"
        )
    if not isinstance(getattr(provider_class, "display_name", None), str):
        problems.append("display_name is not set")
    capabilities = getattr(provider_class, "capabilities", None)
    if not isinstance(capabilities, Capabilities):
        problems.append("capabilities is not a swapkit.provider.Capabilities")
    settings_class = getattr(provider_class, "settings_class", None)
    if not (isinstance(settings_class, type) and issubclass(settings_class, ProviderSettings)):
        problems.append("settings_class is not a subclass of swapkit.provider.ProviderSettings")
    abstract = sorted(getattr(provider_class, "__abstractmethods__", ()))
    if abstract:
        problems.append(f"does not implement {', '.join(abstract)}")
    if isinstance(capabilities, Capabilities):
        for why, applies, methods in _NEEDS:
            missing = [m for m in methods if not _implements(provider_class, m)]
            if applies(capabilities) and missing:
                problems.append(f"{why} but does not implement {', '.join(missing)}")
    for pair in _PAIRS:
        done = [m for m in pair if _implements(provider_class, m)]
        if done and len(done) < len(pair):
            (absent,) = set(pair) - set(done)
            problems.append(f"implements {done[0]} but not {absent}")
    if problems:
        raise ConfigurationError(f"provider class {label} ({name!r}): " + "; ".join(problems))
