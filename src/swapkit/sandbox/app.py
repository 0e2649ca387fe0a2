"""`Sandbox`: the application core that every vendor emulator is mounted in.

Design decisions:

- `Sandbox.handle(SandboxRequest) -> SandboxResponse` is the whole app, free of sockets; the
  loopback server (`serve()`, `serve_forever()`) and the in-process `httpx.MockTransport`
  (`transport()`) both call it, so the two ways of running behave identically.
- URL layout: vendor `<name>` lives under `/<name>/` (`/<name>/v1/swap` for a vendor whose own
  path is `/v1/swap`), so a client with `base_url="http://HOST:PORT/<name>"` sends exactly the
  vendor's own paths.
- This module names no vendor. A default `Sandbox()` mounts `installed_vendors()`, looked up
  when it is built: the built-ins (`vendors.BUILTIN_VENDORS`, one subpackage each) and the
  plugin emulators of the `swapkit.sandbox` entry point group (`registry`). Adding a built-in
  vendor is one subpackage plus one entry in `BUILTIN_VENDORS`; another distribution adds one
  with an entry point.
- The constructor takes only what every vendor shares. A vendor's own knobs are its options
  (`Vendor.options_model`), passed as `vendor_options={name: {...}}` and validated before
  anything starts, so a typo in a vendor or option name is a ValueError, never silently ignored.
- `/_sandbox/...` are control routes (faults, reset, request and webhook logs). They need no key
  and are not recorded in `requests`: the sandbox only ever listens on loopback.
- The request log is bounded: the latest 10,000 requests, fewer when their bodies add up to
  over 512 MiB (a load test of large images would otherwise hold gigabytes of old bodies).
- Injected faults are applied here, before (or, for truncation and `after_processing`, after) the
  vendor handles the request, so every vendor gets every fault kind for free; `status` faults are
  answered in the vendor's own error envelope (`Vendor.fault_response`).
- Time is the sandbox clock. Due work (async job completions and their webhooks, webhook retries)
  runs at the start of every request, on `tick()`, and with the real clock also on a pump thread.
  `close()` stops the background threads; a `Sandbox` is a context manager.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import ValidationError

from .accounts import Accounts, ResetFormat
from .clock import FakeClock
from .faults import Fault, FaultBook, html_error_page
from .jobs import JobStore
from .messages import SandboxRequest, SandboxResponse, json_response
from .registry import installed_vendors
from .results import ResultStore
from .scheduler import Scheduler
from .vendor import SandboxSettings, Vendor, VendorContext, VendorOptions
from .webhooks import WebhookDelivery, WebhookDispatcher

if TYPE_CHECKING:
    from .server import SandboxServer
    from .transport import SandboxTransport

__all__ = ["CONTROL_PREFIX", "Sandbox"]

CONTROL_PREFIX = "/_sandbox"
_MAX_HANG_SECONDS = 600.0
_REQUEST_LOG_SIZE = 10_000
_REQUEST_LOG_BYTES = 512 * 1024 * 1024
"""The request log keeps the latest `_REQUEST_LOG_SIZE` requests, fewer when their bodies add
up to more than this: a load test of large images must not hold gigabytes of old bodies."""


class Sandbox:
    """Emulators of the face-swap vendors, with fault injection.

    Args:
        api_keys: accepted keys per provider name; a provider not listed accepts its own
            defaults (each vendor's `Vendor.default_api_keys`; `swapkit sandbox serve` prints
            them).
        job_seconds: how long a job takes on the sandbox clock (async jobs complete after it;
            sync calls return at once and report it as their processing time).
        clock: a callable returning monotonic seconds (default `time.monotonic`); pass a
            `FakeClock` in tests. With an injected clock no background timer runs: due work runs
            on the next request or on `tick()` / `advance()`.
        credits: credits per key (None: unlimited). A swap costs what the vendor charges for
            it (usually one); when they run out the vendor refuses, with its own status and
            body.
        rate_limit: `(limit, window_seconds)` per key (None: unlimited).
        rate_limit_reset: `"epoch"` (wall-clock epoch seconds of the window's end) or
            `"seconds"` (seconds until then) in `X-RateLimit-Reset`.
        result_ttl_seconds: how long result URLs stay valid, for vendors that keep no TTL of
            their own (a vendor may have its own option for it).
        webhook_retry_delays: seconds between webhook attempts after a failure (vendor schedule:
            30 s, 2 min, 10 min, 1 h); pass zeros to retry at once.
        webhook_transport: an httpx transport for webhook deliveries (e.g. `httpx.MockTransport`);
            when given, deliveries never touch the network and any URL is allowed.
        hang_seconds: how long the server hangs on a `timeout` fault before closing (bounded).
        vendor_options: each vendor's own options by vendor name, as a mapping (or an instance
            of the vendor's `options_model`), e.g. `{"<vendor>": {"<option>": value}}`.
            Vendors not listed use their defaults. An unknown vendor name, an unknown option or
            an invalid value is a ValueError naming the vendor and its valid options.
        vendors: the vendor classes to mount, each at `/<Vendor.name>/`. Default:
            `installed_vendors()`, looked up now: the built-in vendors, then the plugin
            emulators of the `swapkit.sandbox` entry points (a broken one is a ValueError
            naming it). `SWAPKIT_SANDBOX_DISABLE_PLUGINS=1` leaves the plugins out; so does
            `vendors=BUILTIN_VENDORS`, for one sandbox.
    """

    def __init__(
        self,
        *,
        api_keys: Mapping[str, Iterable[str]] | None = None,
        job_seconds: float = 2.0,
        clock: Callable[[], float] | None = None,
        credits: int | None = None,
        rate_limit: tuple[int, float] | None = None,
        rate_limit_reset: ResetFormat = "epoch",
        result_ttl_seconds: float = 24 * 60 * 60,
        webhook_retry_delays: Sequence[float] = (30.0, 120.0, 600.0, 3600.0),
        webhook_transport: httpx.BaseTransport | None = None,
        hang_seconds: float = 30.0,
        vendor_options: Mapping[str, Mapping[str, Any] | VendorOptions] | None = None,
        vendors: Sequence[type[Vendor]] | None = None,
    ) -> None:
        if rate_limit_reset not in ("epoch", "seconds"):
            raise ValueError("rate_limit_reset must be 'epoch' or 'seconds'")
        if rate_limit is not None and (rate_limit[0] < 1 or rate_limit[1] <= 0):
            raise ValueError("rate_limit must be (limit >= 1, window_seconds > 0)")
        vendor_classes = _index_vendors(installed_vendors() if vendors is None else vendors)
        options = _parse_vendor_options(vendor_classes, vendor_options or {})
        self.settings = SandboxSettings(
            api_keys={name: tuple(keys) for name, keys in (api_keys or {}).items()},
            job_seconds=float(job_seconds),
            credits=credits,
            rate_limit=rate_limit,
            rate_limit_reset=rate_limit_reset,
            result_ttl_seconds=float(result_ttl_seconds),
            webhook_retry_delays=tuple(float(d) for d in webhook_retry_delays),
            hang_seconds=min(max(0.0, float(hang_seconds)), _MAX_HANG_SECONDS),
        )
        self.clock: Callable[[], float] = clock or time.monotonic
        self.faults = FaultBook(
            providers=vendor_classes,
            envelopes={name for cls in vendor_classes.values() for name in cls.error_envelopes},
        )
        scheduler = Scheduler(self.clock, pump=clock is None)
        self._context = VendorContext(
            settings=self.settings,
            clock=self.clock,
            faults=self.faults,
            jobs=JobStore(),
            results=ResultStore(self.clock, self.settings.result_ttl_seconds),
            accounts=Accounts(
                self.clock, credits=credits, rate_limit=rate_limit, reset_format=rate_limit_reset
            ),
            scheduler=scheduler,
            webhooks=WebhookDispatcher(
                scheduler,
                self.clock,
                retry_delays=self.settings.webhook_retry_delays,
                transport=webhook_transport,
            ),
        )
        self.vendors: dict[str, Vendor] = {
            name: vendor_class(self._context, options[name])
            for name, vendor_class in vendor_classes.items()
        }
        self._log_lock = threading.Lock()
        self._requests: collections.deque[SandboxRequest] = collections.deque()
        self._logged_bytes = 0

    # -- the app ------------------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request (the whole HTTP app, without sockets)."""
        self.tick()
        if request.path == CONTROL_PREFIX or request.path.startswith(CONTROL_PREFIX + "/"):
            return self._control(request, request.path[len(CONTROL_PREFIX) :])
        _, _, rest = request.path.partition("/")
        mount, slash, tail = rest.partition("/")
        vendor = self.vendors.get(mount)
        if vendor is None:
            if request.path == "/" and request.method == "GET":
                return json_response(200, {"sandbox": "swapkit", "vendors": sorted(self.vendors)})
            return json_response(404, {"detail": "Not Found"})
        relative_path = slash + tail or "/"
        self._log(request)
        fault = self.faults.take(vendor.name, request.method, relative_path, request.path)
        if fault is None:
            return vendor.handle(request, relative_path)
        return self._apply_fault(fault, vendor, request, relative_path)

    def _log(self, request: SandboxRequest) -> None:
        """Record a vendor request; the oldest go once the log is full (count or bytes)."""
        with self._log_lock:
            self._requests.append(request)
            self._logged_bytes += len(request.body)
            while len(self._requests) > _REQUEST_LOG_SIZE or (
                self._logged_bytes > _REQUEST_LOG_BYTES and len(self._requests) > 1
            ):
                self._logged_bytes -= len(self._requests.popleft().body)

    def _apply_fault(
        self, fault: Fault, vendor: Vendor, request: SandboxRequest, relative_path: str
    ) -> SandboxResponse:
        if fault.kind == "status":
            return vendor.fault_response(fault)
        if fault.kind == "html":
            return SandboxResponse(
                status=fault.effective_status,
                headers=(("content-type", "text/html"),),
                body=html_error_page(fault.effective_status),
            )
        if fault.kind in ("drop", "timeout"):
            if fault.after_processing:
                vendor.handle(request, relative_path)
            hang = self.settings.hang_seconds if fault.seconds is None else fault.seconds
            return SandboxResponse(
                status=0,
                action="drop" if fault.kind == "drop" else "timeout",
                delay_seconds=min(hang, _MAX_HANG_SECONDS) if fault.kind == "timeout" else 0.0,
            )
        response = vendor.handle(request, relative_path)
        if fault.kind == "latency":
            return SandboxResponse(
                status=response.status,
                headers=response.headers,
                body=response.body,
                delay_seconds=fault.seconds or 0.0,
            )
        # truncated
        return SandboxResponse(
            status=response.status,
            headers=response.headers,
            body=response.body[: len(response.body) // 2],
        )

    # -- control routes -----------------------------------------------------------------------

    def _control(self, request: SandboxRequest, path: str) -> SandboxResponse:
        route = (request.method, path.rstrip("/") or "/")
        if route in (("GET", "/"), ("GET", "")):
            return json_response(
                200,
                {"vendors": sorted(self.vendors), "faults": [f.model_dump() for f in self.faults]},
            )
        if route == ("GET", "/faults"):
            return json_response(200, [fault.model_dump() for fault in self.faults])
        if route == ("POST", "/faults"):
            return self._add_faults_over_http(request)
        if route == ("DELETE", "/faults"):
            return json_response(200, {"cleared": self.faults.clear()})
        if route == ("POST", "/reset"):
            self.reset()
            return json_response(200, {"reset": True})
        if route == ("GET", "/requests"):
            return json_response(200, [r.to_record() for r in self.requests])
        if route == ("GET", "/webhooks"):
            return json_response(200, [w.to_record() for w in self.webhooks])
        if route == ("POST", "/tick"):
            return json_response(200, {"ran": self.tick()})
        return json_response(404, {"detail": "Not Found"})

    def _add_faults_over_http(self, request: SandboxRequest) -> SandboxResponse:
        try:
            payload: Any = json.loads(request.body or b"null")
        except ValueError:
            return json_response(422, {"detail": "the body must be a JSON object (a Fault)"})
        items = payload if isinstance(payload, list) else [payload]
        try:
            faults = [Fault.model_validate(item) for item in items]
        except ValidationError as exc:
            errors = json.loads(exc.json(include_url=False, include_input=False))
            return json_response(422, {"detail": errors})
        try:
            for fault in faults:
                self.faults.check(fault)
        except ValueError as exc:  # a provider or an envelope no vendor of this sandbox has
            return json_response(422, {"detail": str(exc)})
        for fault in faults:
            self.faults.add(fault)
        added = [fault.model_dump() for fault in faults]
        return json_response(201, added if isinstance(payload, list) else added[0])

    # -- observation and control from Python ---------------------------------------------------

    @property
    def requests(self) -> list[SandboxRequest]:
        """Every vendor request received (oldest first; control routes excluded): the latest
        10,000, fewer when their bodies add up to over 512 MiB."""
        with self._log_lock:
            return list(self._requests)

    @property
    def webhooks(self) -> list[WebhookDelivery]:
        """Every webhook delivery attempt (oldest first), refused ones included."""
        return self._context.webhooks.deliveries

    def redeliver(
        self,
        delivery: WebhookDelivery,
        *,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> WebhookDelivery:
        """Send a recorded webhook delivery again, now: a replay, or (with `url`, `headers` or
        `body`) a tampered copy, for testing a receiver.  Recorded in `webhooks`; never
        retried."""
        return self._context.webhooks.redeliver(delivery, url=url, headers=headers, body=body)

    def wait_for_webhooks(self, count: int = 1, timeout: float = 5.0) -> list[WebhookDelivery]:
        """Block until `count` webhook attempts are recorded (TimeoutError after `timeout` s)."""
        return self._context.webhooks.wait(count, timeout)

    def credits_left(self, provider: str, api_key: str) -> int | None:
        """Credits left for a key, or None when credits are unlimited."""
        return self._context.accounts.credits_left(provider, api_key)

    def tick(self) -> int:
        """Run the work that is due on the sandbox clock; returns how many tasks ran."""
        return self._context.scheduler.run_due()

    def advance(self, seconds: float) -> int:
        """Move a `FakeClock` forward and run what became due (TypeError for other clocks)."""
        if not isinstance(self.clock, FakeClock):
            raise TypeError("advance() needs Sandbox(clock=FakeClock()); call tick() instead")
        self.clock.advance(seconds)
        return self.tick()

    def reset(self) -> None:
        """Forget faults, jobs, results, credits spent, rate-limit windows and the logs."""
        self.faults.clear()
        self._context.jobs.clear()
        self._context.results.clear()
        self._context.accounts.reset()
        self._context.scheduler.clear()
        self._context.webhooks.reset()
        for vendor in self.vendors.values():
            vendor.reset()
        with self._log_lock:
            self._requests.clear()
            self._logged_bytes = 0

    # -- running it ---------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
        """Start serving on a loopback address in a daemon thread; use it as a context manager.

        `port=0` picks a free port; the server's `.url` tells which. Non-loopback hosts are
        refused with ValueError.
        """
        from .server import SandboxServer

        return SandboxServer(self, host=host, port=port)

    def transport(self) -> SandboxTransport:
        """An `httpx.MockTransport` answering from this sandbox, for sync and async clients."""
        from .transport import SandboxTransport

        return SandboxTransport(self)

    def close(self) -> None:
        """Stop the background threads (scheduler pump, webhook worker)."""
        self._context.scheduler.close()
        self._context.webhooks.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _index_vendors(vendors: Sequence[type[Vendor]]) -> dict[str, type[Vendor]]:
    """The vendor classes by name; two with one name are a ValueError."""
    indexed: dict[str, type[Vendor]] = {}
    for vendor_class in vendors:
        if vendor_class.name in indexed:
            raise ValueError(f"two sandbox vendors are named {vendor_class.name!r}")
        indexed[vendor_class.name] = vendor_class
    return indexed


def _parse_vendor_options(
    vendor_classes: Mapping[str, type[Vendor]],
    vendor_options: Mapping[str, Mapping[str, Any] | VendorOptions],
) -> dict[str, VendorOptions]:
    """Every vendor's validated options (defaults for vendors not in `vendor_options`)."""
    unknown = sorted(set(vendor_options) - set(vendor_classes))
    if unknown:
        raise ValueError(
            f"vendor_options names no sandbox vendor {unknown[0]!r} "
            f"(vendors: {', '.join(sorted(vendor_classes))})"
        )
    return {
        name: vendor_class.parse_options(vendor_options.get(name))
        for name, vendor_class in vendor_classes.items()
    }
