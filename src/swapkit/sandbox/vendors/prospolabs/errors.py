"""Prospolabs' error bodies: `{"detail"}` as documented, plus the code and message seed 001
promises.

Design: the messages per status are the documents' where they give one (403's "Insufficient
credits. Please top up your balance."), the codes are the sandbox's own [I] (seed 001 promises
"a machine-readable code" and names none). `error_body` builds every error the vendor answers,
so routing errors, injected faults and validation errors share one shape.
"""

from __future__ import annotations

from typing import Any

from ...images import ImageProblem

__all__ = [
    "ERROR_CODES",
    "ERROR_MESSAGES",
    "FAILURE_MESSAGE",
    "IMAGE_CODES",
    "error_body",
    "image_message",
]

FAILURE_MESSAGE = (
    "Face swap failed: the inference worker could not process this request. "
    "Your credits have been refunded."
)
"""The `error` of a failed job (poll and webhook)."""

ERROR_MESSAGES = {
    400: "Bad request",
    401: "Invalid API key",
    403: "Insufficient credits. Please top up your balance.",
    404: "Not Found",
    429: "Rate limit exceeded. Please retry after the time given in X-RateLimit-Reset.",
    500: "Internal server error. Your credits have been refunded.",
    502: "Bad gateway",
    503: "Service temporarily unavailable. Please retry shortly.",
    504: "GPU service unavailable or timed out. Your credits have been refunded.",
}
"""The `detail` of an error at each status (others: the status's reason phrase)."""

ERROR_CODES = {
    400: "bad_request",
    401: "invalid_api_key",
    403: "insufficient_credits",
    404: "not_found",
    405: "method_not_allowed",
    422: "validation_error",
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gpu_timeout",
}
"""The sandbox's code for each status [I]: seed 001 promises codes and names none."""

IMAGE_CODES = {
    "no_face": "no_face_detected",
    "too_large": "image_too_large",
    "fetch": "image_fetch_failed",
}
"""Codes of the image checks' 400s, by `ImageProblem.kind` [I] (others: `invalid_image`)."""


def error_body(status: int, detail: Any, *, code: str | None, with_code: bool) -> dict[str, Any]:
    """`{"detail"}`, plus `code` and a one-line `message` when `with_code` (an option)."""
    body: dict[str, Any] = {"detail": detail}
    if with_code:
        body["code"] = code or ERROR_CODES.get(status, "error")
        body["message"] = _one_line(detail)
    return body


def _one_line(detail: Any) -> str:
    """A one-line message for a `detail` that may be FastAPI's list of problems."""
    if isinstance(detail, list):
        return "; ".join(str(item.get("msg", item)) for item in detail if isinstance(item, dict))
    return str(detail)


def image_message(problem: ImageProblem) -> str:
    """The `detail` of an image check's 400, naming the field."""
    field_name = problem.field
    if problem.kind == "too_large":
        megabytes = int(problem.detail) / (1024 * 1024) if problem.detail.isdigit() else 0
        return (
            f"Image too large: {field_name} is {megabytes:.1f} MB. "
            "The maximum size is 10 MB per image."
        )
    if problem.kind == "no_face":
        return (
            f"No face detected in {field_name}. "
            "Please use a clear, well-lit photo with a visible face."
        )
    if problem.kind == "fetch":
        return f"Could not fetch image from URL in {field_name}."
    return f"Invalid image format for {field_name}: expected a JPEG, PNG or WebP image."
