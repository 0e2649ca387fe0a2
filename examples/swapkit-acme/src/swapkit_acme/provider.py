"""Acme Faces (``acme``): the swapkit provider for an imaginary asynchronous face-swap vendor.

The vendor's contract, as this adapter reads it (the package README has the whole of it):

* ``POST /v1/swaps`` with ``Authorization: Bearer <key>`` and a JSON body
  ``{"source_image": <base64>, "target_image": <base64>, "output_format": "png"|"jpeg"|"webp"}``
  answers **202** ``{"id": "...", "status": "queued"}``.  The job is charged ($0.02) when it is
  accepted and refunded if it fails.  There is no blocking endpoint: swapkit always polls.
* ``GET /v1/swaps/{id}`` answers ``{"id", "status", "result_url"?, "error"?}`` with ``status``
  ``queued`` → ``running`` → ``succeeded`` (with ``result_url``, valid one hour, downloaded
  without credentials) or ``failed`` (with ``error: {"code", "message"}``).
* Errors are ``{"error": {"code", "message"}}``: 400 ``bad_request``, 401 ``unauthorized``,
  402 ``insufficient_credits``, 404 ``not_found`` (a job) or ``no_such_route``, 413
  ``image_too_large``, 415 ``bad_image``, 422 ``no_face``, 429 ``rate_limited`` with
  ``Retry-After`` seconds, and 500 ``internal_error`` / 503 ``unavailable``.  A failed job
  carries an ``error`` in the same shape (``processing_failed``).

Design decisions:

* The vendor's codes are structured, so they alone pick the error class of an HTTP error
  (`_CODES`); a code this adapter does not know falls back to swapkit's status table through
  `Provider.status_error`, and so does a body that is not Acme's envelope (a proxy's HTML page,
  a cut answer).  Whether an error may be retried is the HTTP status's to say, never the code's.
* A failed job is `JobFailed` whatever its code (kept in ``.code``): that class is how swapkit
  knows the vendor ended an accepted job, and so that Acme refunded it.
* Every answer is read through `swapkit.provider.json_object`, so a hostile or broken body is a
  swapkit error (`MalformedResponse` for a 2xx, `ProviderUnavailable` otherwise), never a
  Python exception.  A job id goes into the poll URL percent-encoded, whatever it contains.
* A status word the adapter does not know is taken as "still running": the vendor may add
  states, and the swap's deadline still ends a job that never finishes.

Plugin registration, in the distribution's ``pyproject.toml``::

    [project.entry-points.swapkit]
    acme = "swapkit_acme.provider"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import swapkit
from swapkit.errors import (
    AuthenticationError,
    ImageTooLarge,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    JobNotFound,
    MalformedResponse,
    NoFaceDetected,
    ProviderError,
    RateLimited,
    ResultInvalid,
    UnsupportedImage,
)
from swapkit.provider import (
    Capabilities,
    Done,
    Outcome,
    Pending,
    Plan,
    PreparedSwap,
    Provider,
    ProviderSettings,
    VendorResult,
    describe_response,
    error_message,
    json_body,
    json_object,
    json_request,
)

__all__ = ["Acme", "AcmeSettings", "register_providers"]

#: Acme's error codes, HTTP errors and failed jobs alike, and the swapkit class of each.
_CODES: Mapping[str, type[ProviderError]] = {
    "bad_request": InvalidRequest,
    "no_such_route": InvalidRequest,
    "bad_image": UnsupportedImage,
    "image_too_large": ImageTooLarge,
    "no_face": NoFaceDetected,
    "unauthorized": AuthenticationError,
    "insufficient_credits": InsufficientCredits,
    "not_found": JobNotFound,
    "rate_limited": RateLimited,
}
_PENDING = frozenset({"queued", "running"})
#: Result URLs are served for one hour after the job succeeds.
_RESULT_LIFETIME = timedelta(hours=1)
#: Longer ids or codes are not Acme's: they are refused rather than carried around.
_MAX_ID_CHARS = 200
_MAX_CODE_CHARS = 100


class AcmeSettings(ProviderSettings):
    """Acme Faces settings (``SWAPKIT_ACME_<SETTING>``; the key also ``ACME_FACES_API_KEY``)."""

    base_url: str = "https://api.acme-faces.invalid"
    poll_interval: float = 1.0


class Acme(Provider):
    """Adapter for the Acme Faces API: submit a job, poll it, download its result."""

    name = "acme"
    display_name = "Acme Faces (example plugin)"
    settings_class = AcmeSettings
    env_aliases: ClassVar[Mapping[str, Sequence[str]]] = {"api_key": ("ACME_FACES_API_KEY",)}
    capabilities = Capabilities(
        input_kinds=frozenset({"bytes"}),
        target_kinds=frozenset({"image"}),
        styles=frozenset({"realistic"}),
        output_formats=frozenset({"jpeg", "png", "webp"}),
        max_image_bytes=8 * 1024 * 1024,
        modes=frozenset({"async"}),
        typical_latency_seconds=5.0,
        default_price_usd=0.02,
        charges_when="accepted",
        refunds_failed_jobs=True,
    )

    # -- requests -----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}

    def build_submit(self, prepared: PreparedSwap, plan: Plan) -> httpx.Request:
        if prepared.target is None:
            raise InvalidRequest("Acme Faces needs a target image", provider=self.name)
        payload: dict[str, Any] = {
            "source_image": prepared.source.encoded,  # encoded as the body is sent
            "target_image": prepared.target.encoded,
            "output_format": prepared.request.output_format,
        }
        return json_request("POST", f"{self.settings.base_url}/v1/swaps", payload, self._headers())

    def build_poll(self, job: Pending) -> httpx.Request:
        url = f"{self.settings.base_url}/v1/swaps/{quote(job.job_id, safe='')}"
        return httpx.Request("GET", url, headers=self._headers())

    # -- answers ------------------------------------------------------------------------------

    def parse_submit(self, response: httpx.Response, plan: Plan) -> Outcome:
        return self._outcome(response, previous=None)

    def parse_poll(self, response: httpx.Response, job: Pending) -> Outcome:
        return self._outcome(response, previous=job)

    def _outcome(self, response: httpx.Response, previous: Pending | None) -> Outcome:
        """A job object, submitted or polled: pending, done, or a typed error."""
        data = json_object(response, self.name)
        job_id = _short_string(data.get("id"), _MAX_ID_CHARS) or (
            previous.job_id if previous else None
        )
        if job_id is None:
            raise MalformedResponse(
                "the answer names no job id",
                provider=self.name,
                status_code=response.status_code,
                body=data,
            )
        status = data.get("status")
        if not isinstance(status, str):
            raise MalformedResponse(
                f"the job's status is not a word: {status!r:.80}",
                provider=self.name,
                status_code=response.status_code,
                body=data,
                request_id=job_id,
            )
        if status == "succeeded":
            url = data.get("result_url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ResultInvalid(
                    "the job succeeded but has no result_url",
                    provider=self.name,
                    body=data,
                    request_id=job_id,
                )
            return Done(
                VendorResult(
                    job_id=job_id,
                    url=url,
                    expires_at=datetime.now(timezone.utc) + _RESULT_LIFETIME,
                    raw=data,
                )
            )
        if status == "failed":
            code, message = _code_and_message(data)
            raise JobFailed(
                f"the swap failed: {message or 'no reason given'}",
                provider=self.name,
                status_code=response.status_code,
                code=code,
                body=data,
                request_id=job_id,
            )
        # queued, running, or a state this adapter does not know yet: poll again
        return Pending(job_id=job_id, status=status[:40], raw=data)

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        try:
            data = json_body(response, self.name)
        except ProviderError:
            data = None
        code, message = _code_and_message(data)
        return self.status_error(
            response,
            message=message or describe_response(response),
            code=code,
            error_class=_CODES.get(code or ""),
            body=data,
        )


def _short_string(value: Any, limit: int) -> str | None:
    """`value` when it is a non-empty string of at most `limit` characters, else None."""
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _code_and_message(data: Any) -> tuple[str | None, str]:
    """The ``error: {"code", "message"}`` of an Acme body (None and "" when absent)."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, ""
    return _short_string(error.get("code"), _MAX_CODE_CHARS), error_message(error.get("message"))


@swapkit.hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register the Acme Faces provider."""
    register(Acme)
