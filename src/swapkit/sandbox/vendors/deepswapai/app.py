"""DeepSwapAI image-swap emulator, written from the vendor's documents (seed 004, §4 of
reference/provider-contracts.md), never from swapkit's adapter.

Documented behaviour reproduced as written: `Authorization: Bearer <key>` with a JSON body;
`POST /v1/image-swap` with `source_image` (the face) and `target_image` (the scene), each base64
or a URL, `output_format` (`png` default, `jpg`, `webp`), `quality` (`standard`, `high` default,
`4k`) and `face_index` (0-indexed); the synchronous answer `{"success": true, "job_id":
"job_…", "output_url", "output_format", "resolution": "WxH", "processing_time" (integer
milliseconds), "faces_detected" (faces in the target), "credits_used": 1}`; the output URL valid
for 24 hours; the codes `NO_FACE_DETECTED` (no face in the source or the target),
`IMAGE_TOO_LARGE` (over 50 MB) and `INVALID_FORMAT`; `GET /v1/status/{job_id}` with the words
`queued`, `processing`, `completed`, `failed`.

Where the vendor is silent ([U]) or only inferred ([I]), the choices below (the full table is in
docs/sandbox.md). Several are the vendor's options, `DeepSwapAIOptions`
(`Sandbox(vendor_options={"deepswapai": {...}})`).

- Error body [U]: `nested` `{"success": false, "error": {"code", "message"}}` by default
  (mirroring `success: true` [I]); option `error_envelope` `flat` / `top_level`. Statuses [U]:
  every input error 400 by default; option `error_statuses="specific"` gives 422 / 413 / 415;
  option `errors_in_200` answers every endpoint error with 200 and `success: false`. The codes
  of everything undocumented are invented (`errors.ERROR_CODES`).
- Check order: route (404 `NOT_FOUND`, 405 `METHOD_NOT_ALLOWED`, before auth), auth (401
  `INVALID_API_KEY`), rate limit (429 `RATE_LIMIT_EXCEEDED`, no headers), the body (400
  `INVALID_REQUEST`), credits (402 `INSUFFICIENT_CREDITS`, option `credits_status=403`), the
  source image, the target image, `face_index` (`NO_FACE_DETECTED` when the target has fewer
  faces), then the swap.
- `output_format` is exactly `png`, `jpg` or `webp`: `"jpeg"` is `INVALID_REQUEST` (option
  `accept_jpeg` takes it as `jpg`). `face_index` defaults to 0; a negative or non-integer one is
  `INVALID_REQUEST`. `null` means the default for every optional field; unknown fields are
  ignored.
- 50 MB is 50 MiB of decoded bytes per image (option `max_image_bytes`). An input URL is read
  only from the sandbox itself or loopback; otherwise `IMAGE_FETCH_FAILED` 400.
- Credits: 1 per successful swap; refused and failed requests cost nothing.
- The output is served unsigned at `<origin>/deepswapai/cdn/results/<id>.<ext>` (like the
  example's CDN URL) for 24 hours on the sandbox clock (`Sandbox(result_ttl_seconds=...)`), then
  404 `NoSuchKey`.
- `processing_time` is `job_seconds` plus the real compute time, in integer milliseconds.
- `GET /v1/status/{job_id}` [I]: an image job is `completed` at once, with the swap answer's
  fields plus `type: "image_swap"`, `status`, `progress: 100` and `expires_at` (the output URL's
  expiry, ISO 8601). Unknown ids and other keys' jobs are 404 `JOB_NOT_FOUND`. Video and batch
  swaps are not emulated (404 `NOT_FOUND`).
- Faults: `job_failed` makes the swap answer `PROCESSING_FAILED` (500; `code` picks another);
  `never_finish` makes it answer `PROCESSING_TIMEOUT` (504), the sync call having given up.

Layout: this module has the routing, auth and both endpoints; the options are in `options`, the
request body in `requests`, the codes, statuses and envelopes in `errors`, face counting, output
sizes and the swap in `images`.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, ClassVar

from ...faults import Fault
from ...images import (
    MEDIA_TYPES,
    ImageProblem,
    SwapImage,
    encode_image,
    has_face,
    split_image_reference,
)
from ...jobs import Job
from ...messages import SandboxRequest, SandboxResponse, json_response
from ...vendor import Vendor, VendorContext, VendorOptions
from .errors import ENVELOPES, ErrorPolicy, image_problem_error
from .images import detect_faces, output_size, swap_face
from .options import DeepSwapAIOptions
from .requests import BadRequest, SwapParameters, parse_swap

__all__ = ["DEFAULT_API_KEY", "RESULT_FOLDER", "DeepSwapAIVendor"]

DEFAULT_API_KEY = "ds-sandbox"
RESULT_FOLDER = "cdn/results"
"""Where outputs are served, unsigned: `/deepswapai/cdn/results/<id>.<ext>`."""


_SWAP = "/v1/image-swap"
_STATUS_ROUTE = re.compile(r"/v1/status/([^/]+)")
_ENCODER_FORMATS = {"png": "png", "jpg": "jpeg", "webp": "webp"}
_ENCODER_QUALITY = 92


def _iso(epoch: float) -> str:
    """ISO 8601 UTC with a `Z`, whole seconds: `2026-03-01T12:00:00Z`."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class DeepSwapAIVendor(Vendor):
    """DeepSwapAI, mounted at `/deepswapai/`."""

    name: ClassVar[str] = "deepswapai"
    default_api_keys: ClassVar[tuple[str, ...]] = (DEFAULT_API_KEY,)
    options_model: ClassVar[type[VendorOptions]] = DeepSwapAIOptions
    error_envelopes: ClassVar[tuple[str, ...]] = tuple(ENVELOPES)
    options: DeepSwapAIOptions

    def __init__(self, context: VendorContext, options: VendorOptions | None = None) -> None:
        super().__init__(context, options)
        self.errors = ErrorPolicy(
            envelope=self.options.error_envelope,
            statuses=self.options.error_statuses,
            credits_status=self.options.credits_status,
            errors_in_200=self.options.errors_in_200,
        )

    # -- routing and errors -------------------------------------------------------------------

    def handle(self, request: SandboxRequest, path: str) -> SandboxResponse:
        """Route one request (path relative to `/deepswapai`)."""
        folder, _, filename = path.strip("/").rpartition("/")
        if folder == RESULT_FOLDER and filename:
            if request.method not in ("GET", "HEAD"):
                return self._route_error("METHOD_NOT_ALLOWED", ("allow", "GET, HEAD"))
            return self.context.results.serve(request, filename, folder=RESULT_FOLDER)
        if path == _SWAP:
            if request.method != "POST":
                return self._route_error("METHOD_NOT_ALLOWED", ("allow", "POST"))
            return self._authenticated(request, lambda key: self._swap(request, key))
        if match := _STATUS_ROUTE.fullmatch(path):
            if request.method != "GET":
                return self._route_error("METHOD_NOT_ALLOWED", ("allow", "GET"))
            job_id = match.group(1)
            return self._authenticated(request, lambda key: self._status(request, key, job_id))
        return self._route_error("NOT_FOUND")

    def error_response(self, status: int) -> SandboxResponse:
        """The configured envelope with the code that fits `status`, at that status."""
        return self.errors.response(self.errors.code_for(status), status=status, in_200=False)

    def fault_response(self, fault: Fault) -> SandboxResponse:
        """An injected status fault, honouring `fault.code` and `fault.envelope`.

        A fault with a `status` answers with it; one with only a `code` answers as the vendor
        would answer that code (the status options and `errors_in_200` apply). An envelope name
        of another vendor gives the configured envelope.
        """
        envelope = ENVELOPES.get(fault.envelope or "")
        if fault.code is None:
            code = self.errors.code_for(fault.effective_status)
            return self.errors.response(
                code, status=fault.effective_status, envelope=envelope, in_200=False
            )
        if fault.status is not None:
            return self.errors.response(
                fault.code, status=fault.status, envelope=envelope, in_200=False
            )
        return self.errors.response(fault.code, envelope=envelope)

    def _route_error(self, code: str, *headers: tuple[str, str]) -> SandboxResponse:
        """404/405 before authentication; never inside a 200."""
        return self.errors.response(code, in_200=False).with_headers(*headers)

    def _authenticated(
        self, request: SandboxRequest, answer: Callable[[str], SandboxResponse]
    ) -> SandboxResponse:
        """Check the bearer key and the rate limit, then run `answer(key)`."""
        authorization = (request.header("authorization") or "").strip()
        if not authorization:
            return self.errors.response(
                "INVALID_API_KEY", "Missing API key. Send 'Authorization: Bearer <API key>'."
            )
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or key not in self.api_keys:
            return self.errors.response("INVALID_API_KEY", "Invalid API key.")
        decision = self.context.accounts.check_rate(self.name, key)
        if decision is not None and not decision.allowed:
            return self.errors.response("RATE_LIMIT_EXCEEDED")
        return answer(key)

    # -- image swap ---------------------------------------------------------------------------

    def _swap(self, request: SandboxRequest, key: str) -> SandboxResponse:
        try:
            payload = json.loads(request.body)
        except (ValueError, RecursionError):
            return self.errors.response("INVALID_REQUEST", "The request body is not valid JSON.")
        try:
            params = parse_swap(payload, accept_jpeg=self.options.accept_jpeg)
        except BadRequest as exc:
            return self.errors.response("INVALID_REQUEST", str(exc))
        accounts = self.context.accounts
        credits_left = accounts.credits_left(self.name, key)
        if credits_left is not None and credits_left <= 0:
            return self.errors.response("INSUFFICIENT_CREDITS")
        started = time.perf_counter()
        max_bytes = self.options.max_image_bytes
        try:
            source = self._read_image(params.source_image, "source_image", request.origin)
            target = self._read_image(params.target_image, "target_image", request.origin)
        except ImageProblem as exc:
            return self.errors.response(*image_problem_error(exc, max_bytes))
        faces = target.derive(detect_faces)
        if params.face_index >= len(faces):
            return self.errors.response(
                "NO_FACE_DETECTED",
                f"No face at face_index {params.face_index}: "
                f"{len(faces)} face(s) detected in target_image.",
            )
        fault = self._take_job_fault(request)
        if fault is not None and fault.kind == "never_finish":
            return self.errors.response("PROCESSING_TIMEOUT")
        if fault is not None:
            return self.errors.response(fault.code or "PROCESSING_FAILED")
        if not accounts.charge(self.name, key):
            return self.errors.response("INSUFFICIENT_CREDITS")
        size = output_size(target.image.size, params.quality, self.options.output_scale)
        face = faces[params.face_index]
        encoder_format = _ENCODER_FORMATS[params.output_format]
        data = self.context.images.render(
            (source, target),
            (self.name, face, size, encoder_format),
            lambda: encode_image(
                swap_face(source.image, target.image, face, size), encoder_format, _ENCODER_QUALITY
            ),
        )
        elapsed = self.context.settings.job_seconds + time.perf_counter() - started
        job = self._record(request, key, params, data, size, len(faces), elapsed)
        return json_response(200, self._swap_view(job, request.origin))

    def _read_image(self, value: str, field_name: str, origin: str) -> SwapImage:
        max_bytes = self.options.max_image_bytes
        kind, payload = split_image_reference(value)
        if kind == "url":
            data = self.context.fetch_image(
                payload, origin=origin, field_name=field_name, max_bytes=max_bytes
            )
            image = self.context.images.open(data, field_name)
        else:
            image = self.context.images.decode(payload, field_name, max_bytes)
        if not image.derive(has_face):
            raise ImageProblem("no_face", field_name)
        return image

    def _take_job_fault(self, request: SandboxRequest) -> Fault | None:
        return self.context.faults.take(
            self.name,
            request.method,
            request.path.removeprefix(f"/{self.name}"),
            request.path,
            job_faults=True,
        )

    def _record(
        self,
        request: SandboxRequest,
        key: str,
        params: SwapParameters,
        data: bytes,
        size: tuple[int, int],
        faces_detected: int,
        elapsed_seconds: float,
    ) -> Job:
        """Store the output and a completed job for `GET /v1/status/{job_id}`."""
        context = self.context
        now = context.clock()
        job_id = f"job_{secrets.token_hex(6)}"
        media_type = MEDIA_TYPES[_ENCODER_FORMATS[params.output_format]]
        job = Job(
            job_id=job_id,
            vendor=self.name,
            api_key=key,
            model="image_swap",
            created_at=now,
            ready_at=now,
            outcome="completed",
            processing_seconds=elapsed_seconds,
            origin=request.origin,
            extra={
                "output_format": params.output_format,
                "resolution": f"{size[0]}x{size[1]}",
                "processing_time": round(elapsed_seconds * 1000),
                "faces_detected": faces_detected,
                "credits_used": 1,
            },
        )
        job.result = context.results.put(
            data,
            extension=params.output_format,
            media_type=media_type,
            result_id=uuid.uuid4().hex,
            folder=RESULT_FOLDER,
            signed=False,
        )
        context.jobs.add(job)
        return job

    def _swap_view(self, job: Job, origin: str) -> dict[str, Any]:
        assert job.result is not None
        return {
            "success": True,
            "job_id": job.job_id,
            "output_url": job.result.url(origin, self.name),
            **job.extra,
        }

    # -- status -------------------------------------------------------------------------------

    def _status(self, request: SandboxRequest, key: str, job_id: str) -> SandboxResponse:
        job = self.context.jobs.get(self.name, job_id, api_key=key)
        if job is None:
            return self.errors.response("JOB_NOT_FOUND", f"Job {job_id[:64]} not found.")
        assert job.result is not None
        return json_response(
            200,
            {
                "success": True,
                "job_id": job.job_id,
                "type": "image_swap",
                "status": "completed",
                "progress": 100,
                "output_url": job.result.url(request.origin, self.name),
                **job.extra,
                "expires_at": _iso(job.result.expires_epoch),
            },
        )
