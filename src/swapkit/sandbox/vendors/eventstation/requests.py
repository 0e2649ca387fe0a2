"""EventStation's generation requests: the body of each run endpoint, validated FastAPI's way.

Design decisions:

- One pydantic model per body, validated in pydantic's lax mode like a FastAPI app (so `"12"`
  is accepted for an integer `filter_id` and `"1"` for `gender`); unknown fields are ignored
  (the older page's "capture mode" and anything else). Failures are FastAPI's 422 list.
- v6 (`POST /v6/run/face_swap`) [D: E-V6]: `base64` (base64 image or URL) and `gender` (0 male,
  1 female, 2 boy, 3 girl, 4 group) and `filter_id` (int or UUID) required, `ratio`
  (`portrait` default) and `quality_mode` (`v6.1` default, or `v6`) optional. Two checks need
  two fields and are answered as `value_error`s on one of them: group mode (`gender` 4) with a
  UUID filter, and an explicit `quality_mode` with a UUID filter ("applies to integer filter ids
  only" read strictly [I]).
- v1 (`POST /v1/run/faceswap`, and the older name `POST /v2/run/filter_id/` [D: E-DS]): only
  `filter_id` (an integer) is documented [D: E-V1]; the "optional parameters" are read from v6
  and the older page [I]: `base64` (required: a face swap needs the face), `gender` (optional,
  0-4, group allowed: v1 filter ids are always integers) and `ratio`.
- Self-prompt (`POST /v2/run/self-prompt`): `prompt` (a non-empty string) [D: E-V1], plus an
  optional `base64` face and `gender` [I] and `ratio`.
- `parse_generation` turns any of them into one `Generation`: which status family it belongs to
  (`v1` or `v6`), what it costs (2 credits for v6, 1 otherwise [D: E-V6, E-DS]) and the inputs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...fastapi_errors import RequestValidationError, validate_payload, value_error
from .filters import FilterKey, Ratio, filter_key

__all__ = [
    "ROUTES",
    "V1_CREDITS",
    "V6_CREDITS",
    "FaceSwapV1Body",
    "FaceSwapV6Body",
    "Generation",
    "GenerationFamily",
    "RunRoute",
    "SelfPromptBody",
    "parse_generation",
]

V6_CREDITS = 2
"""Credits per v6 request [D: E-V6]."""
V1_CREDITS = 1
"""Credits per v1 or self-prompt request (the older page's "1 credit per image") [D: E-DS]."""

GenerationFamily = Literal["v1", "v6"]
"""Which status path serves a job: `v1` at `/v2/status/{id}`, `v6` at `/v6/status/{id}`."""
RunRoute = Literal["faceswap", "filter_id", "self-prompt", "face_swap"]

ROUTES: dict[str, RunRoute] = {
    "/v1/run/faceswap": "faceswap",
    "/v2/run/filter_id/": "filter_id",
    "/v2/run/self-prompt": "self-prompt",
    "/v6/run/face_swap": "face_swap",
}
"""The run endpoints (paths relative to the vendor's mount)."""

GROUP = 4
"""`gender` 4: group mode."""


class FaceSwapV6Body(BaseModel):
    """`POST /v6/run/face_swap` [D: E-V6]."""

    model_config = ConfigDict(extra="ignore")

    base64: str
    gender: int = Field(ge=0, le=4)
    filter_id: int | uuid.UUID
    ratio: Ratio = "portrait"
    quality_mode: Literal["v6.1", "v6"] | None = None


class FaceSwapV1Body(BaseModel):
    """`POST /v1/run/faceswap` and `POST /v2/run/filter_id/` (optional fields [I])."""

    model_config = ConfigDict(extra="ignore")

    filter_id: int
    base64: str
    gender: int | None = Field(default=None, ge=0, le=4)
    ratio: Ratio = "portrait"


class SelfPromptBody(BaseModel):
    """`POST /v2/run/self-prompt` (`prompt` [D]; the face, gender and ratio [I])."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(min_length=1)
    base64: str | None = None
    gender: int | None = Field(default=None, ge=0, le=4)
    ratio: Ratio = "portrait"


@dataclass(frozen=True)
class Generation:
    """A validated generation request, whichever endpoint it came from."""

    route: RunRoute
    family: GenerationFamily
    credits: int
    image: str | None
    gender: int | None
    ratio: Ratio
    filter: FilterKey | None = None
    quality_mode: str | None = None
    prompt: str | None = None


def parse_generation(route: RunRoute, payload: Any) -> Generation:
    """Validate a run endpoint's parsed JSON body; raises `RequestValidationError` (422)."""
    if route == "face_swap":
        v6 = validate_payload(FaceSwapV6Body, payload)
        problems = []
        if isinstance(v6.filter_id, uuid.UUID):
            if v6.gender == GROUP:
                problems.append(
                    value_error(
                        "gender", "group mode (gender 4) works only with integer filter ids", 4
                    )
                )
            if v6.quality_mode is not None:
                problems.append(
                    value_error(
                        "quality_mode",
                        "quality_mode applies to integer filter ids only",
                        v6.quality_mode,
                    )
                )
        if problems:
            raise RequestValidationError(problems)
        return Generation(
            route=route,
            family="v6",
            credits=V6_CREDITS,
            image=v6.base64,
            gender=v6.gender,
            ratio=v6.ratio,
            filter=filter_key(v6.filter_id),
            quality_mode=v6.quality_mode or ("v6.1" if isinstance(v6.filter_id, int) else None),
        )
    if route == "self-prompt":
        prompt = validate_payload(SelfPromptBody, payload)
        return Generation(
            route=route,
            family="v1",
            credits=V1_CREDITS,
            image=prompt.base64,
            gender=prompt.gender,
            ratio=prompt.ratio,
            prompt=prompt.prompt,
        )
    v1 = validate_payload(FaceSwapV1Body, payload)
    return Generation(
        route=route,
        family="v1",
        credits=V1_CREDITS,
        image=v1.base64,
        gender=v1.gender,
        ratio=v1.ratio,
        filter=v1.filter_id,
    )
