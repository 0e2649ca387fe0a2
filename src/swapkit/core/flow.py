"""The one swap flow: a generator that yields I/O steps and receives their results.

Like httpx's ``Auth.auth_flow``, the flow is written once and driven by two small loops, one
blocking (`SwapClient`) and one ``async`` (`AsyncSwapClient`).  It yields:

* `Send`: an HTTP exchange.  The driver sends it (retrying through stamina as the step's
  policy allows), translates transport errors with `transport_error`, runs the step's
  ``check`` on the response, and sends the `httpx.Response` back in.  A swapkit error from the
  exchange is thrown into the generator at the ``yield``.
* `Sleep`: wait this many seconds (between polls).

For one provider the flow is: upload local images if the vendor takes URLs only (once per
swap, see `swapkit.core.uploads`); submit; while the job is pending, wait and poll (backing off,
never past the deadline); download the result if the vendor gave a URL; check and measure the
image; convert it if the vendor cannot produce the requested format.  A submit is sent exactly
once unless the vendor cannot have accepted it; once a job id is known it is only ever polled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from typing import Any

import httpx

from swapkit.core.errors import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ResultInvalid,
)
from swapkit.core.images import convert_image, inspect_image
from swapkit.core.models import SwapResult, Template
from swapkit.core.provider import Done, Pending, Plan, PreparedSwap, Provider, VendorResult
from swapkit.core.retry import Budget
from swapkit.core.uploads import Uploader

__all__ = [
    "Flow",
    "Send",
    "Sleep",
    "Step",
    "Uploads",
    "provider_flow",
    "templates_flow",
    "transport_error",
]


@dataclasses.dataclass(frozen=True)
class Send:
    """Send `request`; a response that is not a 2xx becomes the error `error_for` returns."""

    request: httpx.Request
    provider: str
    idempotent: bool
    timeout: float
    budget: Budget
    error_for: Callable[[httpx.Response], ProviderError]

    @classmethod
    def to(
        cls,
        provider: Provider,
        request: httpx.Request,
        budget: Budget,
        *,
        idempotent: bool = True,
        error_for: Callable[[httpx.Response], ProviderError] | None = None,
    ) -> Send:
        """An exchange with `provider` (its name and timeout; its API errors by default)."""
        return cls(
            request,
            provider.name,
            idempotent,
            provider.settings.timeout,
            budget,
            error_for or provider.error_from_response,
        )

    def ready(self) -> httpx.Request:
        """The request, its HTTP timeout set to what the deadline leaves (for each try)."""
        self.request.extensions["timeout"] = httpx.Timeout(self.timeout_now()).as_dict()
        return self.request

    def check(self, response: httpx.Response) -> None:
        """Raise the swapkit error for a response that is not a success."""
        if not response.is_success:
            raise self.error_for(response)

    def timeout_now(self) -> float:
        """The HTTP timeout for this exchange: the provider's, cut to the swap's deadline."""
        return max(0.001, min(self.timeout, self.budget.remaining_seconds()))


@dataclasses.dataclass(frozen=True)
class Sleep:
    """Wait `seconds` before the next step."""

    seconds: float


Step = Send | Sleep
Flow = Generator[Step, Any, SwapResult]


def transport_error(exc: httpx.TransportError, step: Send) -> ProviderError:
    """The one place transport failures become swapkit errors.

    A connection that was never made is safe to retry for any request.  Once the request may
    have reached the vendor (a read timeout, a dropped connection), only an idempotent request
    is retried: a swap the vendor may have accepted is not sent again.
    """
    url = str(step.request.url.copy_with(query=None))
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return ProviderUnavailable(
            f"could not connect to {url}: {exc}", provider=step.provider, retryable=True
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeout(
            f"no answer from {url} within {step.timeout_now():.1f}s",
            provider=step.provider,
            retryable=step.idempotent,
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ProviderUnavailable(
            f"cannot request {url}: {exc}", provider=step.provider, retryable=False
        )
    return ProviderUnavailable(
        f"connection to {url} failed mid-request ({type(exc).__name__}: {exc})",
        provider=step.provider,
        retryable=step.idempotent,
    )


@dataclasses.dataclass
class Uploads:
    """The swap's uploader (if the application has one) and the URLs uploaded so far."""

    uploader: Uploader | None = None
    urls: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)

    def can_serve(self, provider: Provider) -> bool:
        """Whether bytes can reach `provider` when it takes URLs only."""
        return self.uploader is not None or provider.capabilities.uploads


def _as_urls(
    provider: Provider, prepared: PreparedSwap, budget: Budget, uploads: Uploads
) -> Generator[Step, Any, PreparedSwap]:
    """`prepared` with its local images replaced by uploaded URLs, for a URL-only provider."""
    if "bytes" in provider.capabilities.input_kinds:
        return prepared
    source, target = prepared.source, prepared.target
    for image in (source, target):
        if image is None or image.kind != "bytes":
            continue
        uploader = uploads.uploader
        key = (uploader.name if uploader else f"vendor:{provider.name}", image.role)
        if key not in uploads.urls:
            if uploader is not None:
                step = Send.to(
                    provider, uploader.build_upload(image), budget, error_for=uploader.upload_error
                )
                response = yield step
                uploads.urls[key] = uploader.parse_upload(response, image)
            else:
                response = yield Send.to(provider, provider.build_upload(image), budget)
                uploads.urls[key] = provider.parse_upload(response, image)
        as_url = dataclasses.replace(image, url=uploads.urls[key])
        if image is source:
            source = as_url
        else:
            target = as_url
    return dataclasses.replace(prepared, source=source, target=target)


def provider_flow(
    provider: Provider, prepared: PreparedSwap, budget: Budget, uploads: Uploads | None = None
) -> Flow:
    """Run one swap at one provider, from upload and submit to a measured image."""
    prepared = yield from _as_urls(provider, prepared, budget, uploads or Uploads())
    settings = provider.settings
    remaining = budget.remaining_seconds()
    plan = Plan(provider.choose_mode(prepared.request, remaining), remaining)

    submit = provider.build_submit(prepared, plan)
    response = yield Send.to(provider, submit, budget, idempotent=False)
    outcome = provider.parse_submit(response, plan)
    interval = settings.poll_interval
    while isinstance(outcome, Pending):
        remaining = budget.remaining_seconds()
        if remaining <= 0:
            raise ProviderTimeout(
                f"job {outcome.job_id} was still {outcome.status or 'pending'} "
                "when the swap's deadline ran out",
                provider=provider.name,
                request_id=outcome.job_id,
            )
        yield Sleep(min(interval, remaining))
        response = yield Send.to(provider, provider.build_poll(outcome), budget)
        outcome = provider.parse_poll(response, outcome)
        interval = min(interval * 1.5, settings.max_poll_interval)
    return (yield from _finish(provider, prepared, outcome, budget))


def _finish(provider: Provider, prepared: PreparedSwap, done: Done, budget: Budget) -> Flow:
    result: VendorResult = done.result
    image = result.image
    if image is None:
        if not result.url:
            raise ResultInvalid(
                "the vendor reported success but returned neither an image nor a URL",
                provider=provider.name,
                body=result.raw,
                request_id=result.job_id,
            )
        download = provider.build_download(result.url)
        response = yield Send.to(provider, download, budget, error_for=provider.download_error)
        image = response.content
    info = inspect_image(image, provider=provider.name)
    target = prepared.target
    if target is not None and target.data is not None and image == target.data:
        raise ResultInvalid(
            "the vendor returned the target image unchanged",
            provider=provider.name,
            request_id=result.job_id,
        )
    wanted = prepared.request.output_format
    media_type = info.media_type
    if wanted is not None and media_type != f"image/{wanted}":
        image = convert_image(image, wanted, prepared.request.output_quality)
        media_type = f"image/{wanted}"
    return SwapResult(
        provider=provider.name,
        image=image,
        media_type=media_type,
        width=info.width,
        height=info.height,
        model=result.model,
        job_id=result.job_id,
        url=result.url,
        expires_at=result.expires_at,
        processing_seconds=result.processing_seconds,
        credits_used=result.credits_used,
        faces_detected=result.faces_detected,
        raw=result.raw,
    )


def templates_flow(provider: Provider, budget: Budget) -> Generator[Step, Any, list[Template]]:
    """List a template provider's templates (a read: retried like a poll)."""
    response = yield Send.to(provider, provider.build_list_templates(), budget)
    return provider.parse_templates(response)
