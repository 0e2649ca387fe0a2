"""The Acme Faces emulator, mounted at ``/acme/`` in swapkit's sandbox.

Written from the vendor's contract (the package README), never from the adapter in
`swapkit_acme.provider`: it imports nothing from it, so a misreading in the adapter shows up
as a failing test instead of being copied here.

The contract, as emulated:

* ``Authorization: Bearer <key>`` on every API route; a missing or unknown key is 401
  ``unauthorized`` (with ``WWW-Authenticate: Bearer``).  The sandbox key is ``acme-sandbox``.
* ``POST /v1/swaps`` with ``{"source_image", "target_image"}`` (standard base64, or a base64
  ``data:`` URI, never a URL; at most 8 MiB each once decoded; JPEG, PNG or WebP) and an
  optional ``output_format`` (``png`` by default, ``jpeg``, ``webp``; ``null`` means the
  default).  Unknown fields are ignored.  It answers **202** ``{"id": "swp_…", "status":
  "queued"}`` with a ``Location`` header, having taken one credit.
* ``GET /v1/swaps/{id}``: ``{"id", "status"}``, ``status`` being ``queued`` for the first half
  of the sandbox's ``job_seconds``, then ``running``, then ``succeeded`` with ``result_url`` or
  ``failed`` with ``error: {"code", "message"}``.  A job of another key is 404 ``not_found``,
  like an unknown one.
* The result is served at ``/acme/results/<id>.<ext>?token=…&expires=…`` (the sandbox's signed
  result store) for one hour after the job succeeds.
* Errors are ``{"error": {"code", "message"}}`` (`CODES` gives each code its status).  Checks
  run in this order: route (404 ``no_such_route``, 405 ``method_not_allowed``, before auth),
  key (401), rate limit (429 ``rate_limited`` with ``Retry-After`` in whole seconds), the body
  (400 ``bad_request``), credits (402 ``insufficient_credits``), the images (413
  ``image_too_large``, 415 ``bad_image``, then 422 ``no_face`` when the sandbox finds no face
  in one), each naming the image.  Nothing refused is charged.
* A failed job carries ``processing_failed``; its credit is given back when it fails.

Faults (`swapkit.sandbox.Fault`): a ``status`` fault answers Acme's envelope with the code that
fits its status, or with `Fault.code` (at `Fault.status`, else at the code's own status);
``job_failed`` makes the next job fail with ``processing_failed`` (or `Fault.code`);
``never_finish`` keeps the next job ``running`` forever.  Both are consumed when the job is
created, so they never touch a request that creates none.

Everything not specific to Acme (keys and credits, rate windows, jobs on the sandbox clock,
result files, image decoding and the fake swap) is the sandbox's shared machinery.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from swapkit.sandbox import Fault, SandboxRequest, SandboxResponse, Vendor
from swapkit.sandbox.images import (
    MEDIA_TYPES,
    ImageProblem,
    SwapImage,
    composite,
    decode_base64_image,
    encode_image,
    has_face,
    open_image,
    split_image_reference,
)
from swapkit.sandbox.jobs import Job
from swapkit.sandbox.messages import json_response

__all__ = ["CODES", "MAX_IMAGE_BYTES", "AcmeVendor"]

CODES: Mapping[str, tuple[int, str]] = {
    "bad_request": (400, "The request body is not a valid swap."),
    "unauthorized": (401, "Missing or invalid API key."),
    "insufficient_credits": (402, "Your account has no credits left."),
    "no_such_route": (404, "No such route."),
    "not_found": (404, "No such swap."),
    "method_not_allowed": (405, "Method not allowed."),
    "image_too_large": (413, "An image is larger than 8 MiB."),
    "bad_image": (415, "An image is not a JPEG, PNG or WebP file."),
    "no_face": (422, "No face was found in an image."),
    "rate_limited": (429, "Too many requests; retry after the time in Retry-After."),
    "internal_error": (500, "Something went wrong on our side."),
    "unavailable": (503, "The service is temporarily unavailable."),
    # the code of a failed job (answered inside a 200, never as an HTTP status)
    "processing_failed": (500, "The swap could not be processed; your credit was refunded."),
}
"""Every code the emulator answers with: its HTTP status and default message."""

MAX_IMAGE_BYTES = 8 * 1024 * 1024
"""The largest image accepted, in decoded bytes."""

_SWAPS = "/v1/swaps"
_SWAP_ROUTE = re.compile(r"/v1/swaps/([^/]+)")
_RESULT_ROUTE = re.compile(r"/results/([^/]+)")
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
_QUALITY = 90
_RESULT_SECONDS = 60 * 60


def _code_for_status(status: int) -> str:
    """The code of an injected status: the one documented for it, else the nearest kind."""
    for code, (code_status, _) in CODES.items():
        if code_status == status and code not in ("not_found", "processing_failed"):
            return code
    return "bad_request" if status < 500 else "internal_error"


class _BadRequest(Exception):
    """The body is not a swap; the message says why."""


class AcmeVendor(Vendor):
    """Acme Faces, mounted at ``/acme/`` (see the module docstring for its contract)."""

    name: ClassVar[str] = "acme"
    default_api_keys: ClassVar[tuple[str, ...]] = ("acme-sandbox",)

    # -- routing and errors -------------------------------------------------------------------

    def handle(self, request: SandboxRequest, path: str) -> SandboxResponse:
        """Route one request (`path` is relative to ``/acme``)."""
        if match := _RESULT_ROUTE.fullmatch(path):
            if request.method not in ("GET", "HEAD"):
                return self._error("method_not_allowed", headers=(("allow", "GET, HEAD"),))
            return self.context.results.serve(request, match.group(1))
        if path == _SWAPS:
            if request.method != "POST":
                return self._error("method_not_allowed", headers=(("allow", "POST"),))
            return self._authenticated(request, lambda key: self._submit(request, key))
        if match := _SWAP_ROUTE.fullmatch(path):
            if request.method != "GET":
                return self._error("method_not_allowed", headers=(("allow", "GET"),))
            job_id = match.group(1)
            return self._authenticated(request, lambda key: self._poll(request, key, job_id))
        return self._error("no_such_route")

    def error_response(self, status: int) -> SandboxResponse:
        """Acme's envelope with the code that fits `status`, at that status."""
        return self._error(_code_for_status(status), status=status)

    def fault_response(self, fault: Fault) -> SandboxResponse:
        """A ``status`` fault: `Fault.code` when given (at `Fault.status`, else at the code's
        own status), else the code that fits the status.  Acme has one envelope."""
        if fault.code is None:
            return self.error_response(fault.effective_status)
        return self._error(fault.code, status=fault.status)

    def _error(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> SandboxResponse:
        """``{"error": {"code", "message"}}`` at the code's status (or `status`)."""
        code_status, default_message = CODES.get(code, (500, "Error."))
        status = code_status if status is None else status
        if status == 401:
            headers += (("www-authenticate", "Bearer"),)
        if status == 429 and not any(name == "retry-after" for name, _ in headers):
            headers += (("retry-after", "1"),)
        body = {"error": {"code": code, "message": message or default_message}}
        return json_response(status, body, headers)

    def _authenticated(
        self, request: SandboxRequest, answer: Callable[[str], SandboxResponse]
    ) -> SandboxResponse:
        """Check the bearer key, then the rate limit, then run `answer(key)`."""
        scheme, _, key = (request.header("authorization") or "").strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or key not in self.api_keys:
            return self._error("unauthorized")
        decision = self.context.accounts.check_rate(self.name, key)
        if decision is not None and not decision.allowed:
            retry_after = str(max(1, math.ceil(decision.reset_seconds)))
            return self._error("rate_limited", headers=(("retry-after", retry_after),))
        return answer(key)

    # -- submit -------------------------------------------------------------------------------

    def _submit(self, request: SandboxRequest, key: str) -> SandboxResponse:
        try:
            source_value, target_value, output_format = _parse_body(request.json)
        except _BadRequest as exc:
            return self._error("bad_request", str(exc))
        accounts = self.context.accounts
        credits_left = accounts.credits_left(self.name, key)
        if credits_left is not None and credits_left <= 0:
            return self._error("insufficient_credits")
        try:
            source = _read_image(source_value, "source_image")
            target = _read_image(target_value, "target_image")
        except ImageProblem as exc:
            if exc.kind == "too_large":
                return self._error("image_too_large", f"{exc.field} is larger than 8 MiB.")
            if exc.kind == "no_face":
                return self._error("no_face", f"No face was found in {exc.field}.")
            return self._error("bad_image", f"{exc.field} is not a JPEG, PNG or WebP image.")
        if not accounts.charge(self.name, key):
            return self._error("insufficient_credits")
        job = self._create_job(request, key, source, target, output_format)
        location = f"/{self.name}{_SWAPS}/{job.job_id}"
        return json_response(202, {"id": job.job_id, "status": "queued"}, (("location", location),))

    def _create_job(
        self,
        request: SandboxRequest,
        key: str,
        source: SwapImage,
        target: SwapImage,
        output_format: str,
    ) -> Job:
        """A job that ends `job_seconds` from now on the sandbox clock, its end decided now."""
        context = self.context
        fault = context.faults.take(
            self.name,
            request.method,
            request.path.removeprefix(f"/{self.name}"),
            request.path,
            job_faults=True,
        )
        error_code: str | None = None
        if fault is not None and fault.kind == "job_failed":
            error_code = fault.code or "processing_failed"
        never = fault is not None and fault.kind == "never_finish"
        now = context.clock()
        job = Job(
            job_id=f"swp_{secrets.token_hex(8)}",
            vendor=self.name,
            api_key=key,
            model="acme-faces-1",
            created_at=now,
            ready_at=now + context.settings.job_seconds,
            outcome="never" if never else "failed" if error_code else "completed",
            processing_seconds=context.settings.job_seconds,
            origin=request.origin,
            error=CODES.get(error_code, (500, "The swap failed."))[1] if error_code else None,
            extra={"error_code": error_code},
        )
        if job.outcome == "failed":
            # the credit comes back when the job fails, not before
            context.scheduler.schedule(
                job.ready_at, lambda: context.accounts.refund(self.name, key)
            )
        elif job.outcome == "completed":
            swapped = composite(source.image, target.image)
            job.result = context.results.put(
                encode_image(swapped, output_format, _QUALITY),
                extension=_EXTENSIONS[output_format],
                media_type=MEDIA_TYPES[output_format],
                result_id=job.job_id,
                available_at=job.ready_at,
                ttl_seconds=_RESULT_SECONDS,
            )
        return context.jobs.add(job)

    # -- poll ---------------------------------------------------------------------------------

    def _poll(self, request: SandboxRequest, key: str, job_id: str) -> SandboxResponse:
        job = self.context.jobs.get(self.name, job_id, api_key=key)
        if job is None:
            return self._error("not_found", f"No swap {job_id[:64]!r}.")
        return json_response(200, self._job_view(job, request.origin))

    def _job_view(self, job: Job, origin: str) -> dict[str, Any]:
        now = self.context.clock()
        state = job.state(now)
        view: dict[str, Any] = {"id": job.job_id}
        if state == "processing":
            halfway = job.created_at + self.context.settings.job_seconds / 2
            view["status"] = "queued" if now < halfway else "running"
        elif state == "completed" and job.result is not None:
            view["status"] = "succeeded"
            view["result_url"] = job.result.url(origin, self.name)
        else:
            view["status"] = "failed"
            view["error"] = {"code": job.extra.get("error_code"), "message": job.error}
        return view


def _parse_body(payload: Any) -> tuple[str, str, str]:
    """`(source_image, target_image, output_format)` from a submit body, or `_BadRequest`.

    The images are returned as base64 (a ``data:`` URI's prefix removed), not yet decoded.
    """
    if not isinstance(payload, dict):
        raise _BadRequest("The body must be a JSON object.")
    images = []
    for field in ("source_image", "target_image"):
        value = payload.get(field)
        if not isinstance(value, str) or not value.strip():
            raise _BadRequest(f"{field} is required: a base64 image.")
        kind, base64_text = split_image_reference(value)
        if kind == "url":
            raise _BadRequest(f"{field} must be base64 image bytes, not a URL.")
        images.append(base64_text)
    output_format = payload.get("output_format")
    if output_format is None:
        output_format = "png"
    if not isinstance(output_format, str) or output_format not in _EXTENSIONS:
        raise _BadRequest("output_format must be png, jpeg or webp.")
    return images[0], images[1], output_format


def _read_image(base64_text: str, field: str) -> SwapImage:
    """Decode, open and look at one input image; `ImageProblem` when Acme would refuse it."""
    image = open_image(decode_base64_image(base64_text, field, MAX_IMAGE_BYTES), field)
    if not has_face(image.image):
        raise ImageProblem("no_face", field)
    return image
