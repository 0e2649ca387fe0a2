"""Prospolabs Face Swap API emulator, written from the vendor's documents (seeds 000 and 001).

Documented behaviour reproduced as written: `Authorization: Bearer <key>` (401 otherwise),
`POST /v1/swap/{realistic|cartoon|fast|cartoon-lite}` with `source_image` / `target_image`
(base64 or URL), `prompt`, `output_format` (jpeg|png|webp, default jpeg), `output_quality` (10-100,
default 95) and `webhook_url`; the sync response `{request_id, status, model, result_url,
inference_time}` with `inference_time` in seconds; `POST /v1/swap/{model}/async` and
`GET /v1/jobs/{request_id}` (404 for an unknown job); errors as `{"detail": "<message>"}`; 400 for
a bad image, no face or an image over 10 MB; 403 "Insufficient credits. Please top up your
balance."; 429 with `X-RateLimit-*` headers; 500/504 with credits refunded; pre-signed result URLs
that expire after 24 hours; webhooks `inference.completed` / `inference.failed` with
`{event, job_id, data: {job_id, model, result_url, processing_time_ms}, timestamp}`, signed in
`X-Prospo-Signature` (lowercase hex HMAC-SHA256 of the body with the webhook secret, the
`webhook_secret` option of `ProspolabsOptions`), retried after 30 s, 2 min, 10 min and 1 h.

Where the vendor is silent, the choices below (also listed in docs/sandbox.md):

- The async submit answers **202** `{"request_id", "status": "processing", "model"}`.
- A poll answers 200 with the sync response's shape; `status` is `processing` (with
  `result_url` and `inference_time` null) until the job is done, then `completed` or `failed`. A
  failed job carries `"error": "<message>"`. A job of another API key is 404 like an unknown one.
- Schema failures are FastAPI's: **422** with a list `detail` of
  `{"type", "loc": ["body", field], "msg", "input"[, "ctx"]}` (pydantic's own messages, such as
  "Field required"); a body that is not JSON is 422 `json_invalid`. Long strings in `input` are
  shortened so an error never echoes a whole base64 image. Unknown fields are ignored.
- Route errors are FastAPI's: an unknown path or model is 404 `{"detail": "Not Found"}` and a
  wrong method 405 `{"detail": "Method Not Allowed"}`, both before authentication. Everything else
  authenticates first (401), then rate-limits (429), then validates (422), then checks credits
  (403), then reads images (400).
- Image checks run source first, then target; each 400 names the field. A `data:` URI prefix on
  base64 is accepted. Image URLs are fetched only from the sandbox itself or loopback.
- A credit is charged per accepted swap, sync or async, and refunded if the job fails.
- The failure webhook's `data` is `{job_id, model, result_url: null, processing_time_ms,
  error}`. The webhook body is compact JSON (no spaces), so the vendor's own example verifier
  (`JSON.stringify(req.body)`) agrees with a verifier that hashes the raw bytes.
- `inference_time` is the sandbox's `job_seconds` plus the real compute time, in seconds (three
  decimals); the webhook's `processing_time_ms` is the same duration in milliseconds.
- Faults: `never_finish` keeps an async job `processing` forever (a sync request ignores it);
  `job_failed` ends the job `failed`, credit refunded. A fault's `code` and `envelope` are
  ignored: a `status` fault answers the body `error_response` gives that status.

Layout: this module has the routing, auth, swaps and jobs; the options are in `options`, the
request body and models in `requests`, the error bodies in `errors` and the signed webhooks in
`webhooks`; the FastAPI error shapes are the shared `fastapi_errors`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, ClassVar

from ...fastapi_errors import RequestValidationError, validate_body
from ...images import (
    MEDIA_TYPES,
    ImageProblem,
    SwapImage,
    composite,
    encode_image,
    has_face,
    split_image_reference,
)
from ...jobs import Job, JobOutcome
from ...messages import SandboxRequest, SandboxResponse, json_response
from ...vendor import Vendor, VendorContext, VendorOptions
from .errors import ERROR_MESSAGES, FAILURE_MESSAGE, IMAGE_CODES, error_body, image_message
from .options import ProspolabsOptions
from .requests import CARTOON_MODELS, MAX_IMAGE_BYTES, MODELS, SwapBody
from .webhooks import webhook_request

__all__ = ["ProspolabsVendor"]

_SWAP_ROUTE = re.compile(r"/v1/swap/([^/]+)(/async)?")
_JOB_ROUTE = re.compile(r"/v1/jobs/([^/]+)")
_RESULT_ROUTE = re.compile(r"/results/([^/]+)")


class ProspolabsVendor(Vendor):
    """Prospolabs, mounted at `/prospolabs/`."""

    name: ClassVar[str] = "prospolabs"
    default_api_keys: ClassVar[tuple[str, ...]] = ("prsp-sandbox",)
    options_model: ClassVar[type[VendorOptions]] = ProspolabsOptions
    options: ProspolabsOptions

    def __init__(self, context: VendorContext, options: VendorOptions | None = None) -> None:
        super().__init__(context, options)
        self._advertised: dict[str, tuple[float, int]] = {}

    def _error(
        self, status: int, detail: Any, *headers: tuple[str, str], code: str | None = None
    ) -> SandboxResponse:
        """The vendor's error body: `{"detail"}`, plus `code` and `message` (an option)."""
        body = error_body(status, detail, code=code, with_code=self.options.error_codes)
        return json_response(status, body, headers)

    # -- routing ------------------------------------------------------------------------------

    def handle(self, request: SandboxRequest, path: str) -> SandboxResponse:
        """Route one request (path relative to `/prospolabs`)."""
        if match := _RESULT_ROUTE.fullmatch(path):
            if request.method not in ("GET", "HEAD"):
                return self._error(405, "Method Not Allowed")
            return self.context.results.serve(request, match.group(1))
        if match := _SWAP_ROUTE.fullmatch(path):
            model, is_async = match.group(1), match.group(2) is not None
            if model not in MODELS:
                return self._error(404, "Not Found")
            if request.method != "POST":
                return self._error(405, "Method Not Allowed")
            return self._authenticated(
                request, lambda key: self._swap(request, key, model, is_async=is_async)
            )
        if match := _JOB_ROUTE.fullmatch(path):
            if request.method != "GET":
                return self._error(405, "Method Not Allowed")
            return self._authenticated(request, lambda key: self._poll(request, key, match[1]))
        return self._error(404, "Not Found")

    def error_response(self, status: int) -> SandboxResponse:
        """`{"detail": ...}` for an injected status; 429 also gets exhausted rate headers."""
        message = ERROR_MESSAGES.get(status)
        if message is None:
            try:
                message = HTTPStatus(status).phrase
            except ValueError:
                message = "Error"
        if status == 429:
            settings = self.context.settings
            limit = settings.rate_limit[0] if settings.rate_limit else 60
            window = settings.rate_limit[1] if settings.rate_limit else 60.0
            reset = window if settings.rate_limit_reset == "seconds" else time.time() + window
            return self._error(
                429,
                message,
                ("x-ratelimit-limit", str(limit)),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", str(int(reset))),
            )
        if status == 401:
            return self._error(401, message, ("www-authenticate", "Bearer"))
        return self._error(status, message)

    def _authenticated(
        self, request: SandboxRequest, answer: Callable[[str], SandboxResponse]
    ) -> SandboxResponse:
        """Check the bearer key and the rate limit, run `answer(key)`, add rate headers."""
        authorization = request.header("authorization")
        if not authorization:
            return self._error(
                401,
                "Missing API key. Send it as 'Authorization: Bearer prsp-...'.",
                ("www-authenticate", "Bearer"),
            )
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or key not in self.api_keys:
            return self._error(401, "Invalid API key", ("www-authenticate", "Bearer"))
        decision = self.context.accounts.check_rate(self.name, key)
        if decision is not None and not decision.allowed:
            return self._error(
                429,
                f"Rate limit exceeded: {decision.limit} requests per window. "
                f"Retry in {max(1, int(decision.reset_seconds + 0.999))} seconds.",
                *decision.headers(),
            )
        response = answer(key)
        if decision is not None:
            return response.with_headers(*decision.headers())
        return response.with_headers(*self._advertised_headers(key))

    def _advertised_headers(self, key: str) -> tuple[tuple[str, str], ...]:
        """Rate headers when no limit is configured: a nominal per-minute window."""
        if not self.options.rate_limit_headers:
            return ()
        now = self.context.clock()
        started, count = self._advertised.get(key, (now, 0))
        if now - started >= 60.0:
            started, count = now, 0
        count += 1
        self._advertised[key] = (started, count)
        limit = self.options.advertised_limit
        left = started + 60.0 - now
        settings = self.context.settings
        reset = left if settings.rate_limit_reset == "seconds" else time.time() + left
        return (
            ("x-ratelimit-limit", str(limit)),
            ("x-ratelimit-remaining", str(max(0, limit - count))),
            ("x-ratelimit-reset", str(int(reset + 0.999))),
        )

    # -- swaps --------------------------------------------------------------------------------

    def _swap(
        self, request: SandboxRequest, key: str, model: str, *, is_async: bool
    ) -> SandboxResponse:
        body, problem = self._parse_body(request)
        if problem is not None:
            return problem
        assert body is not None
        accounts = self.context.accounts
        credits_left = accounts.credits_left(self.name, key)
        if credits_left is not None and credits_left <= 0:
            return self._error(403, ERROR_MESSAGES[403])
        if not is_async and self.context.settings.job_seconds > self.options.sync_limit_seconds:
            limit = self.options.sync_limit_seconds
            return self._error(
                504,
                f"Processing exceeded the {limit:g}-second limit of the synchronous endpoint; "
                "use the async endpoint. Your credits have been refunded.",
            )
        started = time.perf_counter()
        try:
            source = self._read_image(body.source_image, "source_image", request.origin)
            target = self._read_image(body.target_image, "target_image", request.origin)
        except ImageProblem as exc:
            code = IMAGE_CODES.get(exc.kind, "invalid_image")
            return self._error(400, image_message(exc), code=code)
        if not accounts.charge(self.name, key):
            return self._error(403, ERROR_MESSAGES[403])
        posterize = model in CARTOON_MODELS
        data = self.context.images.render(
            (source, target),
            (self.name, posterize, body.output_format, body.output_quality),
            lambda: encode_image(
                composite(source.image, target.image, posterize=posterize),
                body.output_format,
                body.output_quality,
            ),
        )
        processing_seconds = round(
            self.context.settings.job_seconds + time.perf_counter() - started, 3
        )
        job = self._create_job(request, key, model, body, data, processing_seconds, is_async)
        if is_async:
            return json_response(
                202, {"request_id": job.job_id, "status": "processing", "model": model}
            )
        self._finish(job)
        return json_response(200, self._job_view(job, request.origin))

    def _parse_body(
        self, request: SandboxRequest
    ) -> tuple[SwapBody | None, SandboxResponse | None]:
        try:
            return validate_body(SwapBody, request.body), None
        except RequestValidationError as exc:
            status = self.options.validation_status
            return None, self._error(status, exc.errors, code="validation_error")

    def _read_image(self, value: str, field_name: str, origin: str) -> SwapImage:
        kind, payload = split_image_reference(value)
        if kind == "url":
            data = self.context.fetch_image(
                payload, origin=origin, field_name=field_name, max_bytes=MAX_IMAGE_BYTES
            )
            image = self.context.images.open(data, field_name)
        else:
            image = self.context.images.decode(payload, field_name, MAX_IMAGE_BYTES)
        if not image.derive(has_face):
            raise ImageProblem("no_face", field_name)
        return image

    # -- jobs ---------------------------------------------------------------------------------

    def _create_job(
        self,
        request: SandboxRequest,
        key: str,
        model: str,
        body: SwapBody,
        data: bytes,
        processing_seconds: float,
        is_async: bool,
    ) -> Job:
        context = self.context
        kinds = frozenset({"never_finish", "job_failed"} if is_async else {"job_failed"})
        fault = context.faults.take(
            self.name,
            request.method,
            request.path.removeprefix(f"/{self.name}"),
            request.path,
            job_faults=True,
            kinds=kinds,
        )
        outcome: JobOutcome = "completed"
        if fault is not None:
            outcome = "never" if fault.kind == "never_finish" else "failed"
        now = context.clock()
        ready_at = now + context.settings.job_seconds if is_async else now
        job_id = str(uuid.uuid4())
        job = Job(
            job_id=job_id,
            vendor=self.name,
            api_key=key,
            model=model,
            created_at=now,
            ready_at=ready_at,
            outcome=outcome,
            processing_seconds=processing_seconds,
            origin=request.origin,
            webhook_url=body.webhook_url,
            error=FAILURE_MESSAGE if outcome == "failed" else None,
        )
        if outcome == "completed":
            job.result = context.results.put(
                data,
                extension=body.output_format,
                media_type=MEDIA_TYPES[body.output_format],
                result_id=job_id,
                available_at=ready_at,
            )
        context.jobs.add(job)
        if is_async and outcome != "never":
            context.scheduler.schedule(ready_at, lambda: self._finish(job))
        return job

    def _finish(self, job: Job) -> None:
        """A job reached its end: refund a failure, fire the webhook."""
        if job.outcome == "failed":
            self.context.accounts.refund(self.name, job.api_key)
        if job.webhook_url:
            self._send_webhook(job)

    def _job_view(self, job: Job, origin: str) -> dict[str, Any]:
        state = job.state(self.context.clock())
        done = state == "completed" and job.result is not None
        view: dict[str, Any] = {
            "request_id": job.job_id,
            "status": state,
            "model": job.model,
            "result_url": job.result.url(origin, self.name) if done and job.result else None,
            "inference_time": job.processing_seconds if state != "processing" else None,
        }
        if state == "failed":
            view["error"] = job.error
        return view

    def _poll(self, request: SandboxRequest, key: str, job_id: str) -> SandboxResponse:
        job = self.context.jobs.get(self.name, job_id, api_key=key)
        if job is None:
            return self._error(404, "Job not found", code="job_not_found")
        return json_response(200, self._job_view(job, request.origin))

    # -- webhooks -----------------------------------------------------------------------------

    def _send_webhook(self, job: Job) -> None:
        assert job.webhook_url is not None
        result_url = job.result.url(job.origin, self.name) if job.result else None
        body, headers = webhook_request(job, result_url, self.options.webhook_secret)
        self.context.webhooks.send(job.webhook_url, body, headers)
