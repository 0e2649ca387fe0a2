"""AceDataCloud Face Swap emulator, written from the vendor's documents (seed 002 and §2 of
reference/provider-contracts.md), never from swapkit's adapter.

Documented behaviour reproduced as written: `Authorization: Bearer <token>` (`no_token` 400 when
missing, `invalid_token` 401 when unknown; a `platform-` token is for management APIs only);
`POST /face/swap` with `source_image_url`, `target_image_url` (http(s) URLs only, no base64),
`callback_url`, `async` and `timeout` (seconds, default 120); the sync answer `{success, task_id,
trace_id, image_url, image_width, image_height, image_size}`; `async: true` or a `callback_url`
answers at once with the task id, and the finished task is POSTed as JSON to `callback_url`
(success: the sync body; failure: `{success: false, task_id, trace_id, error: {code, message}}`)
with **no signature**; errors as `{"error": {"code", "message"}, "trace_id"}` with the documented
codes (`bad_request`, `no_token`, `api_not_implemented`, `invalid_token`, `token_expired`,
`token_mismatched`, `disabled`, `used_up`, `forbidden`, `no_api`, `too_many_requests`,
`rate_limited`, `api_error` with the guide's message "fetch failed", `timeout` with "Timeout to
generate the image."); no rate-limit headers; `POST /files/upload` (multipart field `file`,
at most 25 MB) answering `{success, url, expires_at}`, the URL valid 7 days; credits charged
only for successful swaps (never for 4xx, 5xx, timeouts, moderation rejections or failed tasks);
uploads and task queries free.

Where the vendor is silent or contradicts itself, the choices below (also in docs/sandbox.md).
Some can be changed with the vendor's options, `AceDataOptions`
(`Sandbox(vendor_options={"acedata": {...}})`).

- Roles [C]: `source_image_url` is the face, `target_image_url` the scene that receives it (the
  guides', SDK's and MCP's reading; the API reference says the opposite).
- Error body: `standard` by default; the `error_envelope` option or a fault's `envelope`
  gives `success_false`, `success_false_no_trace_id` or `bare`. `token_mismatched`
  is 401 by default (A-RESP/A-AUTH); `Fault(code="token_mismatched", status=400)` gives the
  OAS/guide reading. `disabled` is 403.
- Check order: route (`no_api` 404 for an unknown path or a method other than POST, before
  auth), auth, rate limit (`too_many_requests` 429; task queries have their own window), body
  (`bad_request` 400), credits (`used_up` 403), then the images.
- Input images: fetched only from the sandbox itself (results, uploads) or loopback; anything
  else is `api_error` 500 "fetch failed". More than 25 MiB (26,214,400 bytes) is `bad_request`;
  bytes that are not a JPEG/PNG/WebP image are `bad_request`; a one-colour image has no face:
  `bad_request` "No face detected in <field>." (the vendor documents no code for it). Sync
  calls answer these at once; async tasks are accepted and then fail with the same code.
- `timeout` bounds the sync gateway's wait only: `job_seconds` over it (or a `never_finish`
  fault) is `timeout` 504 and nothing is charged. Async tasks ignore it.
- Sync responses: `image_width`/`image_height` are ints [C] (option `dimension_type="str"`
  for strings); `image_size` is the result's byte count; the result is a PNG at
  `<origin>/acedata/cdn/face/<task_id>.png`, unsigned, kept 30 days [U] (option
  `result_ttl_seconds`); after that 404 `NoSuchKey`.
- Async submit [C]: 200 `{"task_id"}` (the face-swap guide); option `async_success=True` adds
  `"success": true` (the generic docs). `callback_url` makes a request async even with
  `async: false`.
- Task query [I]: `POST /face/tasks` `{"id", "action": "retrieve"}` or `{"ids", "action":
  "retrieve_batch"}` (`action` required). The record has no status field (unless option
  `task_status_words=True`) and no `response`/`finished_at` until it is done. An unknown
  id (or another token's task) is 404 with code `not_found`; a batch skips unknown ids.
- Callbacks: compact JSON, `Content-Type: application/json`, no signature, the URL used exactly
  as given; retried on non-2xx or transport errors after each of `webhook_retry_delays` [U].
- Credits: a credit is taken when a swap is accepted that will succeed (the outcome is fixed at
  submission); failing, timed-out and never-finishing tasks take none.
- Uploads: any file type; served unsigned at `<origin>/acedata/cdn/uploads/<id>.<ext>` with the
  Content-Type sniffed from its bytes (else the part's declared type); `expires_at` is ISO 8601
  UTC with milliseconds and `Z` (`2026-03-01T12:00:00.000Z`).

Layout: this module has the routing, auth, swaps and uploads; the options are in `options`, the
error codes and envelopes in `errors`, task creation, callbacks and task records in `tasks`.
"""

from __future__ import annotations

import json
import math
import mimetypes
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ...faults import Fault
from ...images import ImageProblem, SwapImage, has_face, sniff_media_type
from ...jobs import JobOutcome
from ...messages import FormPart, SandboxRequest, SandboxResponse, json_response, parse_multipart
from ...vendor import Vendor, VendorContext, VendorOptions
from .errors import (
    ENVELOPES,
    ERROR_CODES,
    AceDataEnvelope,
    code_for_status,
    error_response,
    image_problem_error,
)
from .options import AceDataOptions
from .tasks import RESULT_FOLDER, AceDataTasks

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_FILE_BYTES",
    "UPLOAD_FOLDER",
    "UPLOAD_TTL_SECONDS",
    "AceDataVendor",
]

MAX_FILE_BYTES = 25 * 1024 * 1024
"""The documented "25 MB" per image and per upload, read as 25 MiB."""
UPLOAD_TTL_SECONDS = 7 * 24 * 60 * 60.0
"""Uploaded files stay valid for 7 days (documented)."""
DEFAULT_TIMEOUT_SECONDS = 120.0
UPLOAD_FOLDER = "cdn/uploads"

_SWAP, _TASKS, _UPLOAD = "/face/swap", "/face/tasks", "/files/upload"
#: The management plane's upload route, as the vendor's SDK calls it (`files.upload`).
_PLATFORM_UPLOAD = "/api/v1/files"
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
_MEDIA_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+")
_SUFFIX = re.compile(r"\.([A-Za-z0-9]{1,10})$")


@dataclass(frozen=True)
class _SwapParameters:
    source_image_url: str
    target_image_url: str
    callback_url: str | None
    is_async: bool
    timeout: float


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _url_problem(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return f"{field} is required."
    if not isinstance(value, str):
        return f"{field} must be a string."
    if not _is_http_url(value.strip()):
        return (
            f"{field} must be an http(s) URL of an image file; "
            "base64 and data: URIs are not accepted."
        )
    return None


def _parse_swap(body: dict[str, Any]) -> _SwapParameters | str:
    """The validated swap parameters, or a `bad_request` message."""
    for field in ("source_image_url", "target_image_url"):
        problem = _url_problem(body, field)
        if problem is not None:
            return problem
    callback_url = body.get("callback_url")
    if callback_url is not None and (
        not isinstance(callback_url, str) or not _is_http_url(callback_url)
    ):
        return "callback_url must be an http(s) URL."
    is_async = body.get("async", False)
    if is_async is None:
        is_async = False
    if not isinstance(is_async, bool):
        return "async must be a boolean."
    timeout = body.get("timeout", DEFAULT_TIMEOUT_SECONDS)
    if timeout is None:
        timeout = DEFAULT_TIMEOUT_SECONDS
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        return "timeout must be a positive number of seconds."
    return _SwapParameters(
        source_image_url=body["source_image_url"].strip(),
        target_image_url=body["target_image_url"].strip(),
        callback_url=callback_url,
        is_async=is_async or callback_url is not None,
        timeout=float(timeout),
    )


def _iso_millis(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds and a `Z`, like JavaScript's `toISOString()`."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _upload_type(part: FormPart) -> tuple[str, str]:
    """`(media_type, extension)` of an uploaded file."""
    media_type = sniff_media_type(part.data)
    declared = (part.content_type or "").split(";")[0].strip().lower()
    if (
        media_type is None
        and _MEDIA_TYPE.fullmatch(declared)
        and declared != "application/octet-stream"
    ):
        media_type = declared
    if media_type is None and part.filename:
        media_type = mimetypes.guess_type(part.filename)[0]
    media_type = media_type or "application/octet-stream"
    suffix = _SUFFIX.search(part.filename or "")
    extension = _EXTENSIONS.get(media_type) or (suffix.group(1).lower() if suffix else "bin")
    return media_type, extension


class AceDataVendor(Vendor):
    """AceDataCloud Face Swap, mounted at `/acedata/`."""

    name: ClassVar[str] = "acedata"
    default_api_keys: ClassVar[tuple[str, ...]] = ("acedata-sandbox",)
    options_model: ClassVar[type[VendorOptions]] = AceDataOptions
    error_envelopes: ClassVar[tuple[str, ...]] = tuple(ENVELOPES)
    options: AceDataOptions

    def __init__(self, context: VendorContext, options: VendorOptions | None = None) -> None:
        super().__init__(context, options)
        self.tasks = AceDataTasks(self.name, context, self.options)

    # -- routing and errors -------------------------------------------------------------------

    def handle(self, request: SandboxRequest, path: str) -> SandboxResponse:
        """Route one request (path relative to `/acedata`)."""
        folder, _, filename = path.strip("/").rpartition("/")
        if folder in (RESULT_FOLDER, UPLOAD_FOLDER) and request.method in ("GET", "HEAD"):
            return self.context.results.serve(request, filename, folder=folder)
        trace_id = str(uuid.uuid4())
        routes: dict[str, Callable[[SandboxRequest, str, str], SandboxResponse]] = {
            _SWAP: self._swap,
            _TASKS: self._tasks,
            _UPLOAD: self._upload,
            _PLATFORM_UPLOAD: self._platform_upload,
        }
        route = path.rstrip("/")
        answer = routes.get(route)
        if answer is None or request.method != "POST":
            return self._error("no_api", trace_id)
        bucket = f"{self.name}:tasks" if route == _TASKS else self.name
        management = route == _PLATFORM_UPLOAD
        return self._authenticated(request, trace_id, bucket, answer, management=management)

    def error_response(self, status: int) -> SandboxResponse:
        """The standard (or configured) envelope with the code documented for `status`."""
        return self._error(code_for_status(status), str(uuid.uuid4()), status=status)

    def fault_response(self, fault: Fault) -> SandboxResponse:
        """An injected status fault, honouring `fault.code` and `fault.envelope`.

        An envelope name of another vendor (a fault for every provider) gives the default shape.
        """
        envelope = ENVELOPES.get(fault.envelope or "")
        if fault.code is None:
            code, status = code_for_status(fault.effective_status), fault.effective_status
        else:
            code = fault.code
            status = fault.status or ERROR_CODES.get(code, (500, ""))[0]
        return self._error(code, str(uuid.uuid4()), status=status, envelope=envelope)

    def _error(
        self,
        code: str,
        trace_id: str,
        message: str | None = None,
        *,
        status: int | None = None,
        envelope: AceDataEnvelope | None = None,
    ) -> SandboxResponse:
        return error_response(
            code,
            trace_id,
            message,
            status=status,
            envelope=envelope or self.options.error_envelope,
        )

    def _authenticated(
        self,
        request: SandboxRequest,
        trace_id: str,
        bucket: str,
        answer: Callable[[SandboxRequest, str, str], SandboxResponse],
        *,
        management: bool = False,
    ) -> SandboxResponse:
        authorization = (request.header("authorization") or "").strip()
        if not authorization:
            return self._error("no_token", trace_id)
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return self._error("invalid_token", trace_id)
        if token.startswith("platform-"):
            if management:  # the management plane takes its own tokens
                return answer(request, token, trace_id)
            return self._error(
                "token_mismatched",
                trace_id,
                "A platform- token is for the management APIs only, not for this service.",
                status=self.options.token_mismatched_status,
            )
        if token not in self.api_keys:
            return self._error("invalid_token", trace_id)
        decision = self.context.accounts.check_rate(bucket, token)
        if decision is not None and not decision.allowed:
            return self._error("too_many_requests", trace_id)
        return answer(request, token, trace_id)

    def _json_object(
        self, request: SandboxRequest, trace_id: str
    ) -> dict[str, Any] | SandboxResponse:
        try:
            payload = json.loads(request.body or b"null")
        except ValueError:
            return self._error("bad_request", trace_id, "The request body is not valid JSON.")
        if not isinstance(payload, dict):
            return self._error("bad_request", trace_id, "The request body must be a JSON object.")
        return payload

    # -- swaps --------------------------------------------------------------------------------

    def _swap(self, request: SandboxRequest, key: str, trace_id: str) -> SandboxResponse:
        body = self._json_object(request, trace_id)
        if isinstance(body, SandboxResponse):
            return body
        params = _parse_swap(body)
        if isinstance(params, str):
            return self._error("bad_request", trace_id, params)
        credits_left = self.context.accounts.credits_left(self.name, key)
        if credits_left is not None and credits_left <= 0:
            return self._error("used_up", trace_id)
        if params.is_async:
            return self._submit(request, key, trace_id, body, params)
        return self._run(request, key, trace_id, body, params)

    def _read_images(self, params: _SwapParameters, origin: str) -> tuple[SwapImage, SwapImage]:
        images = []
        for field, url in (
            ("source_image_url", params.source_image_url),
            ("target_image_url", params.target_image_url),
        ):
            data = self.context.fetch_image(
                url, origin=origin, field_name=field, max_bytes=MAX_FILE_BYTES
            )
            image = self.context.images.open(data, field)
            if not image.derive(has_face):
                raise ImageProblem("no_face", field)
            images.append(image)
        return images[0], images[1]

    def _take_job_fault(self, request: SandboxRequest) -> Fault | None:
        return self.context.faults.take(
            self.name,
            request.method,
            request.path.removeprefix(f"/{self.name}"),
            request.path,
            job_faults=True,
        )

    def _run(
        self,
        request: SandboxRequest,
        key: str,
        trace_id: str,
        body: dict[str, Any],
        params: _SwapParameters,
    ) -> SandboxResponse:
        """The sync gateway: wait for the task (on the sandbox clock, so no wall time)."""
        try:
            source, target = self._read_images(params, request.origin)
        except ImageProblem as exc:
            code, message = image_problem_error(exc)
            return self._error(code, trace_id, message)
        fault = self._take_job_fault(request)
        job_seconds = self.context.settings.job_seconds
        if (fault is not None and fault.kind == "never_finish") or job_seconds > params.timeout:
            return self._error("timeout", trace_id)
        if fault is not None:
            return self._error(fault.code or "api_error", trace_id)
        if not self.context.accounts.charge(self.name, key):
            return self._error("used_up", trace_id)
        job = self.tasks.create(
            key=key,
            origin=request.origin,
            trace_id=trace_id,
            request_body=body,
            callback_url=params.callback_url,
            asynchronous=False,
            outcome="completed",
            duration=job_seconds,
            images=(source, target),
        )
        return json_response(200, self.tasks.response_body(job, request.origin))

    def _submit(
        self,
        request: SandboxRequest,
        key: str,
        trace_id: str,
        body: dict[str, Any],
        params: _SwapParameters,
    ) -> SandboxResponse:
        """Accept an async task; its outcome is decided now and revealed after `job_seconds`."""
        outcome: JobOutcome = "completed"
        duration = self.context.settings.job_seconds
        error: tuple[str, str] | None = None
        images: tuple[SwapImage, SwapImage] | None = None
        try:
            images = self._read_images(params, request.origin)
        except ImageProblem as exc:
            outcome, duration, error = "failed", 0.0, image_problem_error(exc)
        else:
            fault = self._take_job_fault(request)
            if fault is not None and fault.kind == "never_finish":
                outcome = "never"
            elif fault is not None:
                code = fault.code or "api_error"
                outcome, error = (
                    "failed",
                    (code, ERROR_CODES.get(code, (500, "Face swap failed."))[1]),
                )
        if outcome == "completed" and not self.context.accounts.charge(self.name, key):
            return self._error("used_up", trace_id)
        job = self.tasks.create(
            key=key,
            origin=request.origin,
            trace_id=trace_id,
            request_body=body,
            callback_url=params.callback_url,
            asynchronous=True,
            outcome=outcome,
            duration=duration,
            images=images if outcome == "completed" else None,
            error=error,
        )
        answer: dict[str, Any] = {"task_id": job.job_id}
        if self.options.async_success:
            answer = {"success": True, **answer}
        return json_response(200, answer)

    # -- task queries -------------------------------------------------------------------------

    def _tasks(self, request: SandboxRequest, key: str, trace_id: str) -> SandboxResponse:
        body = self._json_object(request, trace_id)
        if isinstance(body, SandboxResponse):
            return body
        jobs = self.context.jobs
        action = body.get("action")
        if action == "retrieve":
            task_id = body.get("id")
            if not isinstance(task_id, str) or not task_id:
                return self._error("bad_request", trace_id, "id is required to retrieve a task.")
            job = jobs.get(self.name, task_id, api_key=key)
            if job is None:
                return self._error("not_found", trace_id, f"Task {task_id[:64]} not found.")
            return json_response(200, self.tasks.record(job, request.origin))
        if action == "retrieve_batch":
            ids = body.get("ids")
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                return self._error("bad_request", trace_id, "ids must be a list of task ids.")
            found = [jobs.get(self.name, task_id, api_key=key) for task_id in ids]
            items = [self.tasks.record(job, request.origin) for job in found if job is not None]
            return json_response(200, {"items": items, "count": len(items)})
        return self._error(
            "bad_request", trace_id, "action must be 'retrieve' or 'retrieve_batch'."
        )

    # -- uploads ------------------------------------------------------------------------------

    def _upload(self, request: SandboxRequest, key: str, trace_id: str) -> SandboxResponse:
        """Seed 002's `POST /files/upload`: ``{success, url, expires_at}``."""
        stored = self._store_upload(request, trace_id)
        if isinstance(stored, SandboxResponse):
            return stored
        url, _, expires_at = stored
        return json_response(200, {"success": True, "url": url, "expires_at": expires_at})

    def _platform_upload(self, request: SandboxRequest, key: str, trace_id: str) -> SandboxResponse:
        """The vendor SDK's `files.upload` (`POST /api/v1/files/`): ``{file_url, mime}``."""
        stored = self._store_upload(request, trace_id)
        if isinstance(stored, SandboxResponse):
            return stored
        url, media_type, expires_at = stored
        return json_response(200, {"file_url": url, "mime": media_type, "expires_at": expires_at})

    def _store_upload(
        self, request: SandboxRequest, trace_id: str
    ) -> tuple[str, str, str] | SandboxResponse:
        """Store the multipart field ``file``: its URL, media type and expiry, or the error."""
        try:
            parts = parse_multipart(request.header("content-type"), request.body)
        except ValueError:
            return self._error(
                "bad_request", trace_id, "Send the file as multipart/form-data in the field file."
            )
        part = next((p for p in parts if p.name == "file"), None)
        if part is None:
            return self._error("bad_request", trace_id, "The field file is required.")
        if not part.data:
            return self._error("bad_request", trace_id, "The file is empty.")
        if len(part.data) > MAX_FILE_BYTES:
            return self._error("bad_request", trace_id, "The file is larger than 25 MB.")
        media_type, extension = _upload_type(part)
        stored = self.context.results.put(
            part.data,
            extension=extension,
            media_type=media_type,
            result_id=str(uuid.uuid4()),
            folder=UPLOAD_FOLDER,
            signed=False,
            ttl_seconds=UPLOAD_TTL_SECONDS,
        )
        return (
            stored.url(request.origin, self.name),
            media_type,
            _iso_millis(stored.expires_epoch),
        )

    def reset(self) -> None:
        """Forget the per-token identity ids of task records."""
        self.tasks.reset()
