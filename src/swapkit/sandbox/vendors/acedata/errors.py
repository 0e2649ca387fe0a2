"""AceDataCloud's error codes and error envelopes, as the emulator answers them.

Design decisions:

- One table, `ERROR_CODES`, gives every code the emulator uses its HTTP status and default
  message (the vendor's documented codes plus `not_found`, the sandbox's choice for an unknown
  task id). A caller may override the status (a fault's `status`) or the message (a field name,
  "fetch failed").
- An error without a code (an injected status) gets the code the vendor documents for that
  status (`code_for_status`): 400 `bad_request`, 401 `invalid_token`, 403 `used_up`, 404
  `no_api`, 429 `too_many_requests`, 500 `api_error`, 504 `timeout`; any other 4xx
  `bad_request`, any other 5xx `api_error`.
- The vendor documents four error-body shapes (`AceDataEnvelope`, also the names a fault's
  `envelope` may take for this vendor); `error_body` builds each of them, so the vendor's default
  (`AceDataOptions.error_envelope`) and a fault's one-off `envelope` share one implementation.
  Task and callback failure bodies are not API errors and keep their own documented shape.
- Input-image problems (`ImageProblem`) map to a code and message in one place,
  `image_problem_error`, used by sync calls (answered at once) and async tasks (failed at once).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Literal, get_args

from ...images import ImageProblem
from ...messages import SandboxResponse, json_response

__all__ = [
    "ENVELOPES",
    "ERROR_CODES",
    "AceDataEnvelope",
    "code_for_status",
    "error_body",
    "error_response",
    "image_problem_error",
]

AceDataEnvelope = Literal["standard", "success_false", "success_false_no_trace_id", "bare"]
"""AceDataCloud's documented error-body shapes.

`standard`: `{"error": {"code", "message"}, "trace_id"}`; `success_false`: the same plus
`"success": false`; `success_false_no_trace_id`: `{"success": false, "error": {"code",
"message"}}`; `bare`: `{"error": "<message>"}`.
"""

ENVELOPES: dict[str, AceDataEnvelope] = {name: name for name in get_args(AceDataEnvelope)}
"""The envelopes by name, for a fault's `envelope` (another vendor's name is not here)."""

ERROR_CODES: dict[str, tuple[int, str]] = {
    "bad_request": (400, "Bad request, possibly due to missing or invalid parameters."),
    "no_token": (400, "Missing authorization token."),
    "api_not_implemented": (400, "API not implemented."),
    "invalid_token": (401, "Unauthorized, invalid or missing authorization token."),
    "token_expired": (401, "The token has expired."),
    # seed 002 lists "400 token_mismatched"; the responses concept page has 401 (an option)
    "token_mismatched": (400, "The token is not valid for this service."),
    "disabled": (403, "The credential or application is disabled."),
    "used_up": (403, "Your balance or quota has been used up."),
    "forbidden": (403, "The content was rejected by moderation."),
    "no_api": (404, "API not found."),
    "not_found": (404, "Task not found."),  # the sandbox's choice: the vendor documents none
    "too_many_requests": (429, "Too many requests, you have exceeded the rate limit."),
    "rate_limited": (429, "Too many concurrent requests for this token."),
    "api_error": (500, "Internal server error, something went wrong on the server."),
    "timeout": (504, "Timeout to generate the image."),
}
"""Every error code the emulator answers with: HTTP status and default message."""

_FETCH_FAILED = "fetch failed"  # the guide's message for an input URL it cannot fetch

_CODE_FOR_STATUS = {
    400: "bad_request",
    401: "invalid_token",
    403: "used_up",
    404: "no_api",
    429: "too_many_requests",
    500: "api_error",
    504: "timeout",
}


def code_for_status(status: int) -> str:
    """The error code the vendor documents for an HTTP status."""
    return _CODE_FOR_STATUS.get(status) or ("api_error" if status >= 500 else "bad_request")


def error_body(code: str, message: str, trace_id: str, envelope: AceDataEnvelope) -> Any:
    """The JSON error body in one of the vendor's documented envelopes."""
    error = {"code": code, "message": message}
    if envelope == "bare":
        return {"error": message}
    if envelope == "success_false":
        return {"success": False, "error": error, "trace_id": trace_id}
    if envelope == "success_false_no_trace_id":
        return {"success": False, "error": error}
    return {"error": error, "trace_id": trace_id}


def error_response(
    code: str,
    trace_id: str,
    message: str | None = None,
    *,
    status: int | None = None,
    envelope: AceDataEnvelope,
) -> SandboxResponse:
    """An error answer: `code`'s documented status and message unless overridden.

    An unknown code (a fault may name any) is 500 with the status's reason phrase.
    """
    default_status, default_message = ERROR_CODES.get(code, (500, ""))
    status = default_status if status is None else status
    if message is None:
        message = default_message or _phrase(status)
    return json_response(status, error_body(code, message, trace_id, envelope))


def image_problem_error(problem: ImageProblem) -> tuple[str, str]:
    """`(code, message)` for an input image the vendor would refuse."""
    if problem.kind == "fetch":
        return "api_error", _FETCH_FAILED
    if problem.kind == "too_large":
        return "bad_request", f"{problem.field} is larger than 25 MB, the limit per image."
    if problem.kind == "no_face":
        return "bad_request", f"No face detected in {problem.field}."
    return "bad_request", f"{problem.field} does not point to a JPEG, PNG or WebP image file."


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
