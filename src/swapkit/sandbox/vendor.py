"""The plug-in point for emulated vendors: settings, options, shared services and `Vendor`.

Design: a vendor emulator is one subpackage with one `Vendor` subclass: a built-in one lives in
`swapkit.sandbox.vendors.<name>` and is listed in `vendors.BUILTIN_VENDORS`; one shipped by
another distribution is declared in the `swapkit.sandbox` entry point group (`registry`). It is
mounted at `/<name>/` and receives every request under that prefix with the prefix stripped, so
it routes on exactly the paths the vendor documents. Everything that
is not vendor-specific (clock, jobs, result files, credits and rate limits, webhook delivery,
input-image fetching) comes from one `VendorContext` shared by all vendors; what *is*
vendor-specific (routes, auth scheme, body shapes, error wording, webhook signing) stays in the
vendor's subpackage. Injected `status` faults are answered by the vendor's `fault_response` (by
default its `error_response` for the fault's status), so each vendor fails in its own error
envelope; vendors with coded errors override `fault_response` to honour `Fault.code` and
`Fault.envelope`.

Vendor-specific knobs are the vendor's own **options**, never fields of the shared
`SandboxSettings`: each `Vendor` subclass names a frozen pydantic model in `options_model` (a
`VendorOptions` subclass, every field with a default), `Sandbox(vendor_options={name: {...}})`
is validated against it once, when the sandbox is built, and the vendor reads the result from
`self.options`. So adding a vendor never touches the shared constructor, and a typo in an option
name fails loudly (`extra="forbid"`) instead of being ignored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from .accounts import Accounts, ResetFormat
from .faults import ErrorEnvelope, Fault, FaultBook
from .image_cache import ImageCache
from .images import ImageProblem, check_size
from .jobs import JobStore
from .loopback import is_loopback_url
from .messages import SandboxRequest, SandboxResponse
from .results import ResultStore
from .scheduler import Scheduler
from .webhooks import WebhookDispatcher

__all__ = ["SandboxSettings", "Vendor", "VendorContext", "VendorOptions"]


@dataclass(frozen=True)
class SandboxSettings:
    """The knobs shared by every vendor of a sandbox (see `Sandbox` for their meaning).

    Vendor-specific knobs are not here: they are the vendor's `VendorOptions`.
    """

    api_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    job_seconds: float = 2.0
    credits: int | None = None
    rate_limit: tuple[int, float] | None = None
    rate_limit_reset: ResetFormat = "epoch"
    result_ttl_seconds: float = 24 * 60 * 60
    webhook_retry_delays: tuple[float, ...] = (30.0, 120.0, 600.0, 3600.0)
    hang_seconds: float = 30.0
    fetch_timeout_seconds: float = 5.0


class VendorOptions(BaseModel):
    """A vendor's own options; the base of every `Vendor.options_model`.

    Frozen, and unknown keys are refused. Used as it is by vendors that have no options.
    Subclasses give every field a default, so `Sandbox()` works without `vendor_options`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass
class VendorContext:
    """Services shared by every vendor of one sandbox."""

    settings: SandboxSettings
    clock: Callable[[], float]
    faults: FaultBook
    jobs: JobStore
    results: ResultStore
    accounts: Accounts
    scheduler: Scheduler
    webhooks: WebhookDispatcher
    images: ImageCache = field(default_factory=ImageCache)
    """Decoded input images and rendered results by content (`image_cache`): read inputs with
    `images.decode` / `images.open` and render with `images.render`, so that repeated inputs
    cost no Pillow work."""

    def fetch_image(self, url: str, *, origin: str, field_name: str, max_bytes: int) -> bytes:
        """The bytes behind an input-image URL, without ever leaving this machine.

        The sandbox's own files (result and upload URLs, on the same origin as the request or on
        any loopback origin) are read from the result store in-process; other loopback URLs are
        fetched with httpx; any other URL raises `ImageProblem("fetch")`.
        """
        try:
            parts = urlsplit(url)
        except ValueError as exc:  # e.g. "http://[::1": an unbalanced IPv6 bracket
            raise ImageProblem("fetch", field_name, "malformed URL") from exc
        same_origin = f"{parts.scheme}://{parts.netloc}" == origin
        own = self.results.locate(parts.path)
        if own is not None and (same_origin or is_loopback_url(url)):
            query = dict(parse_qsl(parts.query))
            folder, filename = own
            try:
                stored = self.results.lookup(
                    filename, query.get("token"), query.get("expires"), folder=folder
                )
            except LookupError as exc:
                raise ImageProblem("fetch", field_name, str(exc.args[0])) from exc
            check_size(stored.data, field_name, max_bytes)
            return stored.data
        if not is_loopback_url(url):
            raise ImageProblem("fetch", field_name, "not reachable from the sandbox")
        try:
            with (
                httpx.Client(
                    timeout=self.settings.fetch_timeout_seconds, trust_env=False
                ) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise ImageProblem("fetch", field_name, f"HTTP {response.status_code}")
                data = bytearray()
                for chunk in response.iter_bytes():
                    data.extend(chunk)
                    if len(data) > max_bytes:
                        raise ImageProblem("too_large", field_name, str(len(data)))
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError, RuntimeError) as exc:
            # InvalidURL (a bad port, a control character) is not an httpx.HTTPError.
            raise ImageProblem("fetch", field_name, type(exc).__name__) from exc
        return bytes(data)


class Vendor(ABC):
    """One emulated vendor, mounted at `/<name>/`."""

    name: ClassVar[str]
    """The provider name, also the mount point."""

    default_api_keys: ClassVar[tuple[str, ...]]
    """Keys accepted when `Sandbox(api_keys=...)` does not list this vendor."""

    options_model: ClassVar[type[VendorOptions]] = VendorOptions
    """The model of this vendor's options (`Sandbox(vendor_options={name: {...}})`)."""

    error_envelopes: ClassVar[tuple[ErrorEnvelope, ...]] = ()
    """The names of this vendor's error-body shapes, for `Fault.envelope` (vendors with one shape
    have none). A sandbox refuses a fault whose envelope none of its vendors lists."""

    options: VendorOptions
    """This vendor's validated options (subclasses narrow the type to their `options_model`)."""

    def __init__(self, context: VendorContext, options: VendorOptions | None = None) -> None:
        if options is None:
            options = self.options_model()
        elif not isinstance(options, self.options_model):
            raise TypeError(
                f"{type(self).__name__} takes {self.options_model.__name__} options, "
                f"not {type(options).__name__}"
            )
        self.context = context
        self.options = options

    @classmethod
    def parse_options(cls, raw: Mapping[str, Any] | VendorOptions | None) -> VendorOptions:
        """Validate `raw` (a mapping, or an `options_model` instance) against `options_model`.

        Raises ValueError naming the vendor, what is wrong and which options are valid.
        """
        try:
            return cls.options_model.model_validate({} if raw is None else raw)
        except ValidationError as exc:
            problems = []
            for error in exc.errors(include_url=False):
                where = ".".join(str(part) for part in error["loc"])
                if error["type"] == "extra_forbidden":
                    problems.append(f"unknown option {where!r}")
                else:
                    problems.append(f"{where}: {error['msg']}" if where else error["msg"])
            valid = sorted(cls.options_model.model_fields)
            accepted = (
                f"valid options: {', '.join(valid)}" if valid else f"{cls.name} takes no options"
            )
            raise ValueError(
                f"invalid vendor_options for {cls.name!r}: {'; '.join(problems)} ({accepted})"
            ) from exc

    @property
    def api_keys(self) -> tuple[str, ...]:
        """The API keys this vendor accepts."""
        return tuple(self.context.settings.api_keys.get(self.name, self.default_api_keys))

    @abstractmethod
    def handle(self, request: SandboxRequest, path: str) -> SandboxResponse:
        """Answer `request`; `path` is the request path without the `/<name>` prefix."""

    @abstractmethod
    def error_response(self, status: int) -> SandboxResponse:
        """The vendor's own error response for `status` (used by injected faults)."""

    def fault_response(self, fault: Fault) -> SandboxResponse:
        """The answer to an injected `status` fault: by default `error_response(status)`.

        Vendors with coded errors override this to honour `fault.code` and `fault.envelope` (an
        envelope not in `error_envelopes` means the vendor's default shape).
        """
        return self.error_response(fault.effective_status)

    def reset(self) -> None:  # noqa: B027 - optional hook, most vendors keep no own state
        """Forget vendor-specific state (shared stores are reset by the sandbox)."""
