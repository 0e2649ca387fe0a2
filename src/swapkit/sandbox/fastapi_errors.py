"""FastAPI's error answers, for the vendors whose servers are (or look like) FastAPI apps.

Design: a vendor that documents `{"detail": "<message>"}` bodies, or whose help pages point at a
FastAPI Swagger UI, answers errors the way a FastAPI app does out of the box. The shapes live
here once, for every such vendor:

- `detail_response`: an `HTTPException`, `{"detail": ...}`.
- `validate_body` (= `read_json` then `validate_payload`): the request body read and validated
  FastAPI's way, raising `RequestValidationError` whose `errors` are FastAPI's 422 list: a body
  that is not JSON is `json_invalid` at `["body", <position>]`, an empty (or `null`) body is
  `missing` at `["body"]`, and pydantic's own errors get `"body"` prepended to their `loc`.
  The two steps are separate because FastAPI decodes the JSON before it runs the route's
  dependencies (authentication) and validates the fields after them.
- `value_error`: a semantic check (one field against another) answered like a pydantic
  `value_error` on that field, as a model validator raising `ValueError` would be.

Long strings in an error's `input` are cut (`shorten`) so an error never echoes a whole base64
image.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .messages import SandboxResponse, json_response

__all__ = [
    "RequestValidationError",
    "detail_response",
    "phrase",
    "read_json",
    "shorten",
    "validate_body",
    "validate_payload",
    "validation_errors",
    "value_error",
]

ModelT = TypeVar("ModelT", bound=BaseModel)


class RequestValidationError(Exception):
    """A request FastAPI would answer with 422; `errors` is the `detail` list."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


def detail_response(status: int, detail: Any, *headers: tuple[str, str]) -> SandboxResponse:
    """`{"detail": detail}` with `status` (FastAPI's `HTTPException` body)."""
    return json_response(status, {"detail": detail}, headers)


def phrase(status: int) -> str:
    """The reason phrase of `status` (`"Error"` for codes Python does not know)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def shorten(value: Any) -> Any:
    """Keep validation errors small: long strings (base64 images) are cut."""
    if isinstance(value, str) and len(value) > 64:
        return value[:32] + "..."
    if isinstance(value, dict):
        return {key: shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shorten(item) for item in value]
    return value


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic errors in FastAPI's `RequestValidationError` shape (`loc` starts with "body")."""
    errors = []
    for error in exc.errors(include_url=False):
        item: dict[str, Any] = {
            "type": error["type"],
            "loc": ["body", *error["loc"]],
            "msg": error["msg"],
            "input": shorten(error.get("input")),
        }
        if "ctx" in error:
            item["ctx"] = {
                key: value if isinstance(value, (str, int, float, bool)) else str(value)
                for key, value in error["ctx"].items()
            }
        errors.append(item)
    return errors


def value_error(field: str, message: str, value: Any) -> dict[str, Any]:
    """One FastAPI 422 item for a semantic check on `field` ("Value error, <message>")."""
    return {
        "type": "value_error",
        "loc": ["body", field],
        "msg": f"Value error, {message}",
        "input": shorten(value),
        "ctx": {"error": message},
    }


def read_json(body: bytes) -> Any:
    """The JSON body as FastAPI reads it before anything else: None when empty.

    Bytes that are not JSON raise `RequestValidationError` (`json_invalid`) at once: FastAPI
    decodes the body before it runs the route's dependencies (authentication included).
    """
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        error = {
            "type": "json_invalid",
            "loc": ["body", getattr(exc, "pos", 0)],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": getattr(exc, "msg", str(exc))},
        }
        raise RequestValidationError([error]) from exc


def validate_payload(model: type[ModelT], payload: Any) -> ModelT:
    """Validate a parsed body against `model`; None (no body) is `missing` at `["body"]`."""
    if payload is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
        )
    try:
        # FastAPI validates bodies with `from_attributes`, so a non-object body is reported as
        # `model_attributes_type` ("a valid dictionary or object to extract fields from").
        return model.model_validate(payload, from_attributes=True)
    except ValidationError as exc:
        raise RequestValidationError(validation_errors(exc)) from exc


def validate_body(model: type[ModelT], body: bytes) -> ModelT:
    """Parse `body` as JSON and validate it against `model`, or raise `RequestValidationError`."""
    return validate_payload(model, read_json(body))
