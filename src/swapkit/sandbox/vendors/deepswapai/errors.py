"""DeepSwapAI's error codes, statuses and envelopes, as the emulator answers them.

The vendor documents three codes for `POST /v1/image-swap` and nothing else about errors: not the
body, not the HTTP statuses, not the codes of auth, credit or rate-limit failures (§4 of
reference/provider-contracts.md). So every unknown is a reading the tests can switch:

- `ERROR_CODES` gives each code the emulator uses its two statuses (under
  `error_statuses="400"` and under `"specific"`) and its default message. The documented codes
  are `NO_FACE_DETECTED` (400, or 422 when specific), `IMAGE_TOO_LARGE` (400 / 413) and
  `INVALID_FORMAT` (400 / 415); the rest are the sandbox's inventions, each with the one status
  that fits it (`INVALID_API_KEY` 401, `INSUFFICIENT_CREDITS` 402, `RATE_LIMIT_EXCEEDED` 429,
  ...). `INSUFFICIENT_CREDITS` follows the `credits_status` option (402 or 403).
- `error_body` builds the three envelopes (`DeepSwapAIEnvelope`): `nested` (the default,
  mirroring the success body's `"success": true`), `flat` and `top_level`.
- An error without a code (an injected status) gets the code that fits the status
  (`ErrorPolicy.code_for`), so a fault reads like one of the vendor's own answers.
- `ErrorPolicy` holds the three options that shape every error (envelope, statuses, errors
  inside a 200) and answers them in one place, `ErrorPolicy.response`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from ...fastapi_errors import phrase
from ...images import ImageProblem
from ...messages import SandboxResponse, json_response

__all__ = [
    "DOCUMENTED_CODES",
    "ENVELOPES",
    "ERROR_CODES",
    "DeepSwapAIEnvelope",
    "ErrorPolicy",
    "ErrorStatuses",
    "code_for_status",
    "error_body",
    "image_problem_error",
]

DeepSwapAIEnvelope = Literal["nested", "flat", "top_level"]
"""DeepSwapAI's possible error-body shapes (its envelope is undocumented).

`nested`: `{"success": false, "error": {"code", "message"}}`; `flat`: `{"success": false,
"error": "<CODE>", "message"}`; `top_level`: `{"success": false, "code", "message"}`.
"""

ENVELOPES: dict[str, DeepSwapAIEnvelope] = {name: name for name in get_args(DeepSwapAIEnvelope)}
"""The envelopes by name, for a fault's `envelope` (another vendor's name is not here)."""

ErrorStatuses = Literal["400", "specific"]
"""`"400"`: every input error is 400; `"specific"`: 422 no face, 413 too large, 415 format."""


@dataclass(frozen=True)
class _Code:
    status: int  # under error_statuses="400"
    specific_status: int  # under error_statuses="specific"
    message: str


ERROR_CODES: dict[str, _Code] = {
    # documented [D: D-IMG]; statuses [U]
    "NO_FACE_DETECTED": _Code(400, 422, "No face detected in the source or target image."),
    "IMAGE_TOO_LARGE": _Code(400, 413, "Image exceeds the maximum size of 50MB."),
    "INVALID_FORMAT": _Code(400, 415, "Unsupported image format. Use JPEG, PNG or WebP."),
    # the sandbox's inventions [U]
    "INVALID_REQUEST": _Code(400, 400, "The request is invalid."),
    "IMAGE_FETCH_FAILED": _Code(400, 400, "Could not download the image from the URL."),
    "INVALID_API_KEY": _Code(401, 401, "Invalid or missing API key."),
    "INSUFFICIENT_CREDITS": _Code(402, 402, "Insufficient credits. Please top up your account."),
    "FORBIDDEN": _Code(403, 403, "Access to this resource is forbidden."),
    "NOT_FOUND": _Code(404, 404, "Endpoint not found."),
    "JOB_NOT_FOUND": _Code(404, 404, "Job not found."),
    "METHOD_NOT_ALLOWED": _Code(405, 405, "Method not allowed."),
    "RATE_LIMIT_EXCEEDED": _Code(429, 429, "Rate limit exceeded. Please slow down."),
    "INTERNAL_ERROR": _Code(500, 500, "Internal server error."),
    "PROCESSING_FAILED": _Code(500, 500, "Face swap processing failed. No credits were used."),
    "SERVICE_UNAVAILABLE": _Code(503, 503, "Service temporarily unavailable."),
    "PROCESSING_TIMEOUT": _Code(504, 504, "Face swap processing timed out. No credits were used."),
}
"""Every code the emulator answers with: its statuses and default message."""

_FIFTY_MIB = 50 * 1024 * 1024

DOCUMENTED_CODES = frozenset({"NO_FACE_DETECTED", "IMAGE_TOO_LARGE", "INVALID_FORMAT"})

_CODE_FOR_STATUS = {
    400: "INVALID_REQUEST",
    401: "INVALID_API_KEY",
    402: "INSUFFICIENT_CREDITS",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "IMAGE_TOO_LARGE",
    415: "INVALID_FORMAT",
    422: "NO_FACE_DETECTED",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
    504: "PROCESSING_TIMEOUT",
}


def code_for_status(status: int) -> str:
    """The code that fits an HTTP status (other 4xx: `INVALID_REQUEST`, other 5xx and the rest:
    `INTERNAL_ERROR`)."""
    return _CODE_FOR_STATUS.get(status) or ("INVALID_REQUEST" if status < 500 else "INTERNAL_ERROR")


def error_body(code: str, message: str, envelope: DeepSwapAIEnvelope) -> dict[str, Any]:
    """The JSON error body in one of the three envelopes."""
    if envelope == "flat":
        return {"success": False, "error": code, "message": message}
    if envelope == "top_level":
        return {"success": False, "code": code, "message": message}
    return {"success": False, "error": {"code": code, "message": message}}


def image_problem_error(problem: ImageProblem, max_bytes: int) -> tuple[str, str]:
    """`(code, message)` for an input image the vendor refuses; the message names the field."""
    field = problem.field
    if problem.kind == "too_large":
        limit = "50MB" if max_bytes == _FIFTY_MIB else f"{max_bytes} bytes"
        return "IMAGE_TOO_LARGE", f"{field} exceeds the maximum size of {limit}."
    if problem.kind == "no_face":
        return "NO_FACE_DETECTED", f"No face detected in {field}."
    if problem.kind == "fetch":
        return "IMAGE_FETCH_FAILED", f"Could not download {field} from the URL."
    return "INVALID_FORMAT", f"{field} is not a supported image. Use JPEG, PNG or WebP."


@dataclass(frozen=True)
class ErrorPolicy:
    """How errors are answered: the vendor options that shape every error."""

    envelope: DeepSwapAIEnvelope = "nested"
    statuses: ErrorStatuses = "400"
    credits_status: int = 402
    errors_in_200: bool = False

    def code_for(self, status: int) -> str:
        """The code of an injected `status`: `code_for_status`, except that the configured
        `credits_status` is `INSUFFICIENT_CREDITS`."""
        return "INSUFFICIENT_CREDITS" if status == self.credits_status else code_for_status(status)

    def status_for(self, code: str) -> int:
        """The HTTP status of `code` under these options (an unknown code is 500)."""
        if code == "INSUFFICIENT_CREDITS":
            return self.credits_status
        entry = ERROR_CODES.get(code)
        if entry is None:
            return 500
        return entry.specific_status if self.statuses == "specific" else entry.status

    def response(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        envelope: DeepSwapAIEnvelope | None = None,
        in_200: bool | None = None,
    ) -> SandboxResponse:
        """An error answer.

        `status` overrides the code's status (an injected fault's); `in_200` overrides the
        `errors_in_200` option (routing errors and faults with a status keep theirs).
        """
        real_status = self.status_for(code) if status is None else status
        if message is None:
            entry = ERROR_CODES.get(code)
            message = entry.message if entry is not None else phrase(real_status)
        body = error_body(code, message, envelope or self.envelope)
        inside_200 = self.errors_in_200 if in_200 is None else in_200
        headers: tuple[tuple[str, str], ...] = ()
        if real_status == 401 and not inside_200:
            headers = (("www-authenticate", "Bearer"),)
        return json_response(200 if inside_200 else real_status, body, headers)
