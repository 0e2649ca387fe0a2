"""Prospolabs Face Swap API (``prospolabs``).

Contract: ``shared/reference/provider-contracts.md`` §1 and the vendor's docs and guide.

* ``POST /v1/swap/{model}`` blocks for up to 120 s; ``POST /v1/swap/{model}/async`` returns a
  ``request_id`` at once, polled with ``GET /v1/jobs/{request_id}``.  swapkit uses the async
  pair when the swap carries a ``webhook_url`` or its deadline is longer than 120 s (or when the
  ``mode`` setting says so).
* Models: ``realistic``, ``cartoon``, ``fast``, ``cartoon-lite``, picked from ``style`` and
  ``quality``: cartoon style gives ``cartoon`` (``cartoon-lite`` with ``quality="fast"``);
  otherwise ``quality="fast"`` gives ``fast`` and anything else ``realistic``.
  ``options={"prospolabs": {"model": ...}}`` or the ``model`` setting picks one outright.
* Two response schemas are documented: the current one (``request_id``, ``inference_time`` in
  seconds) and an older one (``id``, ``processing_time_ms`` in milliseconds).  Both are read.
  The poll response is undocumented; it is read as the same object, and any status word other
  than completed/failed counts as still running until the deadline.
* Errors are ``{"detail": "..."}``.  400 covers several causes told apart only by the message,
  so the message is matched (in `_classify_400`, and nowhere else); a list-valued ``detail``
  (FastAPI's 422) is joined into one message.  500 and 504 are refunded by the vendor, so they
  are safe to resubmit.
* Webhooks carry ``X-Prospo-Signature``: lowercase hex HMAC-SHA256 of the body, keyed with the
  webhook secret.  The vendor's own example signs a re-serialised body, so after the raw bytes
  the compact re-serialisation is tried too; both comparisons are constant-time.

Plugin registration (built in; a third-party provider does the same from its own package)::

    [project.entry-points.swapkit]
    prospolabs = "swapkit.providers.prospolabs"
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from swapkit.core.errors import (
    ImageTooLarge,
    InsufficientCredits,
    InvalidRequest,
    InvalidSignature,
    JobFailed,
    JobNotFound,
    MalformedResponse,
    NoFaceDetected,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    ResultInvalid,
    UnsupportedImage,
)
from swapkit.core.hookspecs import hookimpl
from swapkit.core.models import SwapRequest, WebhookEvent
from swapkit.core.provider import (
    Capabilities,
    Done,
    Outcome,
    Pending,
    Plan,
    PreparedSwap,
    Provider,
    VendorResult,
    describe_response,
    error_message,
    get_header,
    json_body,
    json_request,
)
from swapkit.core.settings import ProviderSettings
from swapkit.core.untrusted import CLASSIFY_CHARS, Finite, parse_json, says_no_face, text_prefix

__all__ = ["Prospolabs", "ProspolabsSettings", "register_providers"]

Model = Literal["realistic", "cartoon", "fast", "cartoon-lite"]

#: List prices per swap [D: vendor guide].
_PRICES: Mapping[str, float] = {
    "realistic": 0.05,
    "cartoon": 0.05,
    "cartoon-lite": 0.05,
    "fast": 0.025,
}
#: Result URLs are pre-signed and expire after 24 hours by default [D].
_RESULT_LIFETIME = timedelta(hours=24)
_EVENTS: Mapping[str, str] = {"inference.completed": "completed", "inference.failed": "failed"}
_DONE = {"completed", "complete", "succeeded", "success"}
_FAILED = {"failed", "error", "cancelled", "canceled"}


class ProspolabsSettings(ProviderSettings):
    """Prospolabs settings (``SWAPKIT_PROSPOLABS_<SETTING>``; the key also ``PROSPOLABS_API_KEY``).

    `timeout` defaults past the sync endpoint's 120 s; `model` forces a model for every swap;
    `webhook_secret` verifies webhooks.
    """

    base_url: str = "https://api.prospolabs.com"
    timeout: float = Field(default=130.0, gt=0)
    model: Model | None = None
    webhook_secret: SecretStr | None = None


class _Job(BaseModel):
    """A swap or job object in either documented schema; unknown fields are kept, not errors."""

    model_config = ConfigDict(extra="allow")

    request_id: str | None = None
    id: str | None = None
    status: str | None = None
    model: str | None = None
    result_url: str | None = None
    inference_time: Finite = None
    processing_time_ms: Finite = None
    detail: Any = None
    error: Any = None

    @property
    def job_id(self) -> str | None:
        return self.request_id or self.id

    @property
    def processing_seconds(self) -> float | None:
        if self.inference_time is not None:
            return self.inference_time
        if self.processing_time_ms is not None:
            return self.processing_time_ms / 1000
        return None


class _WebhookData(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_id: str | None = None
    model: str | None = None
    result_url: str | None = None
    processing_time_ms: Finite = None
    error: Any = None
    detail: Any = None


class _Webhook(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: str
    job_id: str | None = None
    data: _WebhookData = Field(default_factory=_WebhookData)
    timestamp: datetime | None = None


class Prospolabs(Provider):
    """Adapter for the Prospolabs Face Swap API."""

    name = "prospolabs"
    display_name = "Prospolabs Face Swap API"
    settings_class = ProspolabsSettings
    env_aliases: ClassVar[Mapping[str, tuple[str, ...]]] = {"api_key": ("PROSPOLABS_API_KEY",)}
    capabilities = Capabilities(
        input_kinds=frozenset({"bytes", "url"}),
        target_kinds=frozenset({"image"}),
        styles=frozenset({"realistic", "cartoon"}),
        output_formats=frozenset({"jpeg", "png", "webp"}),
        max_image_bytes=10 * 1024 * 1024,
        modes=frozenset({"sync", "async"}),
        webhooks=True,
        signs_webhooks=True,
        sync_limit_seconds=120.0,
        typical_latency_seconds=20.0,
        default_price_usd=0.05,
        # charged per accepted swap; 500/504 answers and failed jobs are refunded (P-DOC, P-BLOG)
        charges_when="accepted",
        refunds_failed_jobs=True,
    )
    settings: ProspolabsSettings

    # -- choices ------------------------------------------------------------------------------

    def model_for(self, request: SwapRequest) -> Model:
        chosen = request.options_for(self.name).get("model") or self.settings.model
        if chosen is not None:
            if chosen not in _PRICES:
                raise InvalidRequest(
                    f"unknown Prospolabs model {chosen!r}; use one of {', '.join(_PRICES)}",
                    provider=self.name,
                )
            return chosen
        fast = request.quality == "fast"
        if request.style == "cartoon":
            return "cartoon-lite" if fast else "cartoon"
        return "fast" if fast else "realistic"

    def price_usd(self, request: SwapRequest) -> float | None:
        if self.settings.price_usd is not None:
            return self.settings.price_usd
        return _PRICES[self.model_for(request)]

    def check(self, prepared: PreparedSwap) -> None:
        self.model_for(prepared.request)

    # -- requests -----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}

    def build_submit(self, prepared: PreparedSwap, plan: Plan) -> httpx.Request:
        request = prepared.request
        target = prepared.target
        if target is None:
            raise InvalidRequest("Prospolabs needs a target image", provider=self.name)
        extra = {k: v for k, v in request.options_for(self.name).items() if k != "model"}
        payload: dict[str, Any] = {
            "source_image": prepared.source.url or prepared.source.encoded,
            "target_image": target.url or target.encoded,
            "prompt": request.prompt,
            "output_format": request.output_format,
            "output_quality": request.output_quality,
            "webhook_url": request.webhook_url or plan.webhook_url,
            **extra,
        }
        path = f"/v1/swap/{self.model_for(request)}" + ("/async" if plan.mode == "async" else "")
        return json_request("POST", self.settings.base_url + path, payload, self._headers())

    def build_poll(self, job: Pending) -> httpx.Request:
        return httpx.Request(
            "GET", f"{self.settings.base_url}/v1/jobs/{job.job_id}", headers=self._headers()
        )

    # -- responses ----------------------------------------------------------------------------

    def parse_submit(self, response: httpx.Response, plan: Plan) -> Outcome:
        return self._outcome(response, previous=None)

    def parse_poll(self, response: httpx.Response, job: Pending) -> Outcome:
        return self._outcome(response, previous=job)

    def _outcome(self, response: httpx.Response, previous: Pending | None) -> Outcome:
        job, raw = self._job(response)
        job_id = job.job_id or (previous.job_id if previous else None)
        status = (job.status or "").lower()
        if status in _FAILED:
            raise JobFailed(
                f"the swap failed: {error_message(job.detail or job.error) or 'no reason given'}",
                provider=self.name,
                status_code=response.status_code,
                body=raw,
                request_id=job_id,
            )
        if status in _DONE or (not status and job.result_url):
            if not job.result_url:
                raise ResultInvalid(
                    "the job is completed but has no result_url",
                    provider=self.name,
                    body=raw,
                    request_id=job_id,
                )
            return Done(
                VendorResult(
                    job_id=job_id,
                    model=job.model,
                    url=job.result_url,
                    expires_at=datetime.now(timezone.utc) + _RESULT_LIFETIME,
                    processing_seconds=job.processing_seconds,
                    raw=raw,
                )
            )
        if job_id is None:
            raise MalformedResponse(
                f"the response has neither a result nor a job id (status {job.status!r})",
                provider=self.name,
                status_code=response.status_code,
                body=raw,
            )
        return Pending(job_id=job_id, model=job.model, status=job.status, raw=raw)

    def _job(self, response: httpx.Response) -> tuple[_Job, Any]:
        data = json_body(response, self.name)
        try:
            return _Job.model_validate(data), data
        except ValidationError as exc:
            raise MalformedResponse(
                f"unexpected response shape: {exc.errors()[0]['msg']}",
                provider=self.name,
                status_code=response.status_code,
                body=data,
            ) from None

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        try:
            data = json_body(response, self.name)
        except ProviderError:
            data = None
        fields = data if isinstance(data, dict) else {}
        # seed 001: "a machine-readable code and a human-readable message"; its example has
        # only FastAPI's `detail`.  Every form is read; the status still picks the class.
        code = fields.get("code")
        code = code if isinstance(code, str) and 0 < len(code) <= 100 else None
        message = (
            error_message(fields.get("detail"))
            or error_message(fields.get("message"))
            or describe_response(response)
        )
        cls: type[ProviderError] | None = None
        if status in (400, 422) and code and "face" in code.lower():
            cls = NoFaceDetected
        elif status == 400:
            cls = _classify_400(message)
        elif status == 403:
            suspended = _SUSPENDED.search(message[:CLASSIFY_CHARS])
            cls = PermissionDenied if suspended else InsufficientCredits
        elif status == 404:
            if "/v1/jobs/" not in response.request.url.path:
                message = f"{message}: no such endpoint; check base_url and the model name"
                cls = InvalidRequest
            else:
                cls = JobNotFound
        elif status == 504:
            cls = ProviderTimeout
        return self.status_error(
            response,
            message=message,
            code=code,
            error_class=cls,
            body=data if data is not None else None,
        )

    # -- webhooks -----------------------------------------------------------------------------

    def parse_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        secret: str | None = None,
        url: str | None = None,
    ) -> WebhookEvent:
        signature = get_header(headers, "X-Prospo-Signature")
        if not signature:
            raise InvalidSignature("the webhook has no X-Prospo-Signature header")
        # the secret lives only inside this call, never in a frame an error's traceback keeps
        if not _signature_matches(body, signature, self.secret("webhook_secret", secret)):
            raise InvalidSignature("the webhook's X-Prospo-Signature does not match its body")
        try:
            raw = parse_json(body)
            payload = _Webhook.model_validate(raw)
        except (ValueError, ValidationError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise ProviderError(
                f"the webhook body is not a Prospolabs event: {reason}",
                provider=self.name,
                body=text_prefix(body),
            ) from None
        data = payload.data
        job_id = payload.job_id or data.job_id
        if job_id is None:
            raise ProviderError(
                "the webhook names no job", provider=self.name, body=text_prefix(body)
            )
        if payload.event not in _EVENTS:
            raise ProviderError(
                f"unknown Prospolabs webhook event {payload.event!r} "
                f"(known: {', '.join(sorted(_EVENTS))})",
                provider=self.name,
                body=text_prefix(body),
            )
        failed = _EVENTS[payload.event] == "failed"
        timestamp = payload.timestamp
        if timestamp is not None and timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=timezone.utc)
        return WebhookEvent(
            provider=self.name,
            status="failed" if failed else "completed",
            event=payload.event,
            job_id=job_id,
            model=data.model,
            result_url=data.result_url,
            processing_seconds=(
                data.processing_time_ms / 1000 if data.processing_time_ms is not None else None
            ),
            error=(error_message(data.error or data.detail) or "no reason given")
            if failed
            else None,
            timestamp=timestamp,
            raw=raw,
        )


def _signature_matches(body: bytes, signature: str, secret: str) -> bool:
    """Whether `signature` is the HMAC of the raw body, or of the body as the vendor's own
    example re-serialises it, keyed with `secret`, or with any of its comma-separated secrets
    (to rotate one).  Compared in constant time."""
    keys = [part.strip().encode() for part in secret.split(",") if part.strip()]
    wanted = signature.strip().lower().encode("utf-8", "replace")
    candidates: list[Callable[[], bytes]] = [lambda: body, lambda: _restringify(body)]
    matched = False
    for candidate in candidates:
        try:
            signed = candidate()
        except ValueError:
            continue
        for key in keys:
            expected = hmac.new(key, signed, hashlib.sha256).hexdigest()
            matched |= hmac.compare_digest(expected.encode(), wanted)
    return matched


def _restringify(body: bytes) -> bytes:
    """The body as JavaScript's ``JSON.stringify(JSON.parse(body))`` would write it."""
    return json.dumps(parse_json(body), separators=(",", ":"), ensure_ascii=False).encode()


_TOO_LARGE = re.compile(r"too (?:large|big)|exceeds?|\b\d+ ?mb\b|file size|size limit", re.I)
_BAD_FORMAT = re.compile(
    r"format|unsupported|decode|corrupt|not an image|invalid image|unreadable|unprocessable", re.I
)
_SUSPENDED = re.compile(r"suspend|disabled|banned|blocked|deactivat", re.I)


def _classify_400(message: str) -> type[InvalidRequest]:
    """Prospolabs gives 400 for several causes and only a message to tell them apart (read on
    a bounded prefix, with patterns that never backtrack)."""
    head = message[:CLASSIFY_CHARS]
    if says_no_face(head):
        return NoFaceDetected
    if _TOO_LARGE.search(head):
        return ImageTooLarge
    if _BAD_FORMAT.search(head):
        return UnsupportedImage
    return InvalidRequest


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register the Prospolabs provider."""
    register(Prospolabs)
