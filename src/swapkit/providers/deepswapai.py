"""DeepSwapAI (``deepswapai``): the millisecond, error-code vendor.

Contract: ``shared/reference/provider-contracts.md`` §4 and the vendor's image-swap page.

* ``POST /v1/image-swap`` (Bearer key) with ``source_image`` / ``target_image`` (base64 or a
  URL), ``output_format`` (``png``, ``jpg``, ``webp``: swapkit's ``jpeg`` is sent as ``jpg``),
  ``quality`` (``standard``, ``high``, ``4k``: from swapkit's ``fast``/``standard`` →
  ``standard``, ``high`` → ``high``, ``max`` → ``4k``) and ``face_index``.  It answers at once.
* The answer is normalised: ``processing_time`` milliseconds → ``processing_seconds``,
  ``resolution`` ``"WxH"`` → width and height, ``faces_detected``, ``credits_used``,
  ``job_id``, and ``output_url``, valid 24 hours, which is then downloaded.
* Errors: the vendor names its codes (``NO_FACE_DETECTED``, ``IMAGE_TOO_LARGE``,
  ``INVALID_FORMAT``) but not the body that carries them, so the code is looked for wherever it
  can be (``error.code``, a string ``error``, a top-level ``code``) and the HTTP status decides
  the rest.  ``success: false`` inside a 200 is an error, never a result.

Plugin registration (built in)::

    [project.entry-points.swapkit]
    deepswapai = "swapkit.providers.deepswapai"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from swapkit.core.errors import (
    ImageTooLarge,
    InsufficientCredits,
    JobFailed,
    NoFaceDetected,
    ProviderError,
    ResultInvalid,
    UnsupportedImage,
)
from swapkit.core.hookspecs import hookimpl
from swapkit.core.models import SwapRequest
from swapkit.core.provider import (
    Capabilities,
    Done,
    Outcome,
    Plan,
    PreparedSwap,
    Provider,
    VendorResult,
    describe_response,
    error_message,
    json_body,
    json_object,
    json_request,
)
from swapkit.core.settings import ProviderSettings
from swapkit.core.untrusted import finite, whole

__all__ = ["Deepswapai", "DeepswapaiSettings", "register_providers"]

#: The vendor's documented codes [D: image-swap page].
_CODES: Mapping[str, type[ProviderError]] = {
    "NO_FACE_DETECTED": NoFaceDetected,
    "IMAGE_TOO_LARGE": ImageTooLarge,
    "INVALID_FORMAT": UnsupportedImage,
}
_QUALITY = {"fast": "standard", "standard": "standard", "high": "high", "max": "4k"}
_FORMATS = {"jpeg": "jpg", "png": "png", "webp": "webp"}
_RESOLUTION = re.compile(r"(\d{1,9}) ?[xX\u00d7] ?(\d{1,9})")
#: Output URLs are valid for 24 hours [D].
_RESULT_LIFETIME = timedelta(hours=24)


class DeepswapaiSettings(ProviderSettings):
    """DeepSwapAI settings (``SWAPKIT_DEEPSWAPAI_<SETTING>``)."""

    base_url: str = "https://api.deepswapai.com"


class Deepswapai(Provider):
    """Adapter for DeepSwapAI's image swap."""

    name = "deepswapai"
    display_name = "DeepSwapAI"
    settings_class = DeepswapaiSettings
    capabilities = Capabilities(
        input_kinds=frozenset({"bytes", "url"}),
        target_kinds=frozenset({"image"}),
        styles=frozenset({"realistic"}),
        output_formats=frozenset({"jpeg", "png", "webp"}),
        max_image_bytes=50 * 1024 * 1024,
        modes=frozenset({"sync"}),
        face_index=True,
        typical_latency_seconds=5.0,
        # "1 credit per image" in its examples, reported with a successful swap only [I]
        charges_when="succeeded",
    )

    def model_for(self, request: SwapRequest) -> str:
        return f"image-swap-{_QUALITY.get(request.quality or 'high', 'high')}"

    def build_submit(self, prepared: PreparedSwap, plan: Plan) -> httpx.Request:
        request, source, target = prepared.request, prepared.source, prepared.target
        if target is None:
            raise ProviderError("DeepSwapAI needs a target image", provider=self.name)
        payload: dict[str, Any] = {
            "source_image": source.url or source.encoded,
            "target_image": target.url or target.encoded,
            "output_format": _FORMATS.get(request.output_format or ""),
            "quality": _QUALITY.get(request.quality or ""),
            "face_index": request.face_index,
            **request.options_for(self.name),
        }
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        return json_request("POST", f"{self.settings.base_url}/v1/image-swap", payload, headers)

    def parse_submit(self, response: httpx.Response, plan: Plan) -> Outcome:
        data = json_object(response, self.name)
        if data.get("success") is False or (data.get("error") and not data.get("output_url")):
            raise self._error(response, data)
        url = data.get("output_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ResultInvalid("the answer has no output_url", provider=self.name, body=data)
        width = height = None
        resolution = data.get("resolution")
        match = (
            _RESOLUTION.fullmatch(resolution.strip()[:40]) if isinstance(resolution, str) else None
        )
        if match:
            width, height = whole(match[1]), whole(match[2])
        milliseconds = finite(data.get("processing_time"))
        job_id = data.get("job_id")
        return Done(
            VendorResult(
                job_id=str(job_id) if isinstance(job_id, (str, int)) else None,
                url=url,
                expires_at=datetime.now(timezone.utc) + _RESULT_LIFETIME,
                processing_seconds=None if milliseconds is None else milliseconds / 1000,
                width=width,
                height=height,
                credits_used=finite(data.get("credits_used")),
                faces_detected=whole(data.get("faces_detected")),
                raw=data,
            )
        )

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        try:
            data = json_body(response, self.name)
        except ProviderError:
            data = None
        return self._error(response, data)

    def _error(self, response: httpx.Response, data: Any) -> ProviderError:
        code, message = _code_and_message(data)
        cls = _CODES.get((code or "").upper())
        if cls is None and response.status_code in (402, 403):
            cls = InsufficientCredits  # the vendor bills in credits; 402/403 mean none left
        if cls is None and response.is_success:
            cls = JobFailed  # success: false with no known code
        return self.status_error(
            response,
            message=message or describe_response(response),
            code=code,
            error_class=cls,
            body=data,
        )


def _code_and_message(data: Any) -> tuple[str | None, str]:
    """The vendor code and message, wherever the undocumented envelope puts them."""
    if not isinstance(data, dict):
        return None, ""
    error = data.get("error")
    code: Any = None
    message = ""
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        message = error_message(error.get("message") or error.get("detail"))
    elif isinstance(error, str):
        if error.isupper() and " " not in error:
            code = error
        else:
            message = error
    code = code or data.get("code") or data.get("error_code")
    message = message or error_message(data.get("message") or data.get("detail"))
    return (code if isinstance(code, str) else None), message


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register the DeepSwapAI provider."""
    register(Deepswapai)
