"""The one swap flow: a generator that yields I/O steps and receives their results.

Like httpx's ``Auth.auth_flow``, the flow is written once and driven by two small loops, one
blocking (`SwapClient`) and one ``async`` (`AsyncSwapClient`).  It yields:

* `Send`: one try of an HTTP exchange in one phase of an attempt (upload, submit, poll,
  download).  The driver sends it, bounds the whole exchange by the deadline, translates
  transport errors with `transport_error`, and sends back the response (or what the step's
  ``parse`` made of it).  A swapkit error from the exchange is thrown into the generator at the
  ``yield``, where `exchange` decides, from the swap's `FailoverPolicy`, whether to send it
  again after a `Backoff`: retries are part of the flow, so their waits run on the client's
  clock (a fake one in tests) and can never outlast the deadline.
* `Sleep`: wait this many seconds (between polls, or until a circuit breaker may reopen);
  `Backoff`, a `Sleep` before an exchange is sent again.
* `Accepted`: the vendor accepted a paid job.  The driver reports it (the ``job_accepted``
  hook) before the flow goes on; it is the boundary a durable record is built on.

For one provider the flow is: upload local images if the vendor takes URLs only (once per
swap, see `swapkit.core.uploads`); submit; while the job is pending, wait and poll; download
the result if the vendor gave a URL; check and measure the image; convert it if the vendor
cannot produce the requested format.

**The accepted boundary.**  `Run` follows what the attempt may have cost.  Nothing is charged
before the submit.  A submit that was never sent, never fully written, or answered with an
error is not charged; a submit whose answer was lost after it was sent (a dropped connection,
an answer after the timeout, a 2xx that cannot be read) has an unknown outcome and becomes
`OutcomeUnknown`; a job id (or a result) means the vendor accepted.  From then on the job is
polled and downloaded, never submitted again, and whether it stays charged follows the
vendor's declared billing (`Capabilities.charges_when`, ``refunds_failed_jobs``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable, Generator
from typing import Any, cast

import httpx

from swapkit.core.errors import (
    JobFailed,
    LocalFailure,
    MalformedResponse,
    OutcomeUnknown,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ResultInvalid,
)
from swapkit.core.http import Exchange
from swapkit.core.images import ImageInfo, convert_image, inspect_image, sniff_media_type
from swapkit.core.models import SwapResult, Template
from swapkit.core.policy import FailoverPolicy, Phase
from swapkit.core.provider import (
    Done,
    Outcome,
    Pending,
    Plan,
    PreparedSwap,
    Provider,
    VendorResult,
)
from swapkit.core.retry import Budget, retry_hook
from swapkit.core.uploads import Uploader

__all__ = [
    "Accepted",
    "Backoff",
    "Finish",
    "Flow",
    "Handoff",
    "Milestone",
    "Run",
    "Send",
    "Sleep",
    "Step",
    "Submitting",
    "Uploads",
    "exchange",
    "poll_once_flow",
    "provider_flow",
    "resume_flow",
    "templates_flow",
    "transport_error",
]


@dataclasses.dataclass(frozen=True)
class Send:
    """Send `request` in `phase`; a response that is not a 2xx becomes `error_for`'s error.

    With `parse`, the driver sends back ``parse(response)`` instead of the response, and an
    error from it is retried like a failed exchange (a cut poll answer is read again).
    """

    request: httpx.Request
    provider: str
    phase: Phase
    timeout: float
    budget: Budget
    policy: FailoverPolicy
    error_for: Callable[[httpx.Response], ProviderError]
    #: Retries allowed for this exchange (None: only the budget and the deadline limit them).
    retries: int | None = None
    parse: Callable[[httpx.Response], Any] | None = None
    #: The provider's declared typical latency (seconds), if any.
    typical_latency: float | None = None
    #: The swap this exchange belongs to (for logs).
    swap_id: str | None = None
    #: Told every response before it is checked (the pacer reads rate-limit headers).
    observe: Callable[[httpx.Response], None] | None = None

    def ready(self) -> httpx.Request:
        """The request, its HTTP timeout set to what the deadline leaves (for each try)."""
        seconds = self.timeout_now()  # httpx.Timeout(seconds).as_dict(), without the object
        self.request.extensions["timeout"] = dict.fromkeys(_TIMEOUT_KEYS, seconds)
        return self.request

    def check(self, response: httpx.Response) -> Any:
        """Raise the swapkit error for a response that is not a success; else its value."""
        if self.observe is not None:
            self.observe(response)
        if not response.is_success:
            raise self.error_for(response)
        return self.parse(response) if self.parse is not None else response

    def timeout_now(self) -> float:
        """The HTTP timeout for this exchange: the provider's, cut to the swap's deadline."""
        return max(0.001, min(self.timeout, self.budget.remaining_seconds()))

    @property
    def fair_seconds(self) -> float:
        """How long the vendor must have held a request for its timeout to blame it: twice
        its typical latency (at least a second), and never more than its `timeout`."""
        typical = self.typical_latency
        return min(self.timeout, max(1.0, 2 * typical)) if typical else self.timeout / 2

    def retry_hook(self) -> Callable[[Exception], bool | float]:
        """When this exchange fails: the wait before a retry, or False (`swapkit.core.retry`)."""
        return retry_hook(self.budget, self.policy, self.phase, limit=self.retries)


_TIMEOUT_KEYS = ("connect", "read", "write", "pool")


@dataclasses.dataclass(frozen=True)
class Sleep:
    """Wait `seconds` before the next step."""

    seconds: float


@dataclasses.dataclass(frozen=True)
class Backoff(Sleep):
    """Wait `seconds` before sending again the exchange that failed with `error` (the
    `retry`-th retry).  Waited on the client's clock, like `Sleep`; skipped (not waited) while
    ``stamina.set_testing`` is on, and reported to the ``swapkit`` log and stamina's hooks."""

    error: Exception = dataclasses.field(default_factory=Exception)
    retry: int = 1
    waited: float = 0.0
    #: What is retried, for logs: the provider and the phase.
    what: str = ""
    provider: str = ""
    swap_id: str | None = None


@dataclasses.dataclass(frozen=True)
class Submitting:
    """The paid request is about to be sent: from here, until the vendor answers, a crash
    leaves the swap's outcome unknown (a ledger records this before the request goes out)."""

    swap_id: str
    provider: str
    model: str | None


@dataclasses.dataclass(frozen=True)
class Accepted:
    """The vendor accepted a paid job: from here it is polled, never submitted again.

    `job_id` is None for a vendor that finished the job in its answer and named no id;
    `running` says whether the job still has to be polled.
    """

    swap_id: str
    provider: str
    job_id: str | None
    model: str | None
    running: bool = False
    #: The result's URL when the vendor answered with the finished job (not yet downloaded).
    result_url: str | None = None


Milestone = Submitting | Accepted
Step = Send | Sleep | Submitting | Accepted


@dataclasses.dataclass(frozen=True)
class Finish:
    """What turning a finished job into the swap's result needs, besides the job itself: the
    requested format, and the digest of the target (a result equal to it is refused).  It is
    small enough to travel in a job token, so another process can finish the job."""

    output_format: str | None = None
    output_quality: int | None = None
    target_digest: str | None = None
    #: The target's length: a result of another length cannot equal it (no hash needed).
    target_size: int | None = None
    #: The target itself, in the process that has it: compared directly, never hashed.
    target: bytes | None = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, prepared: PreparedSwap) -> Finish:
        target = prepared.target
        data = target.data if target is not None else None
        size = len(data) if data is not None else None
        request = prepared.request
        return cls(request.output_format, request.output_quality, None, size, data)

    def is_target(self, image: bytes) -> bool:
        """Whether `image` is the target itself, unchanged."""
        if self.target_size is not None and len(image) != self.target_size:
            return False
        if self.target is not None:
            return image == self.target
        if self.target_digest is None:
            return False
        return hashlib.sha256(image).hexdigest() == self.target_digest


@dataclasses.dataclass(frozen=True)
class Handoff:
    """A job the vendor accepted and is still running, left to be finished later (by
    `resume_flow`, perhaps in another process): what `submit()` returns instead of waiting."""

    provider: str
    job: Pending
    finish: Finish


def exchange(step: Send) -> Generator[Step, Any, Any]:
    """Perform `step`, sending it again after a failure for as long as the swap's policy says
    (see `swapkit.core.retry`), with a `Backoff` before each resend; its checked value."""
    decide: Callable[[Exception], bool | float] | None = None  # made at the first failure
    retries, waited = 0, 0.0
    while True:
        try:
            return (yield step)
        except ProviderError as exc:
            decide = decide or step.retry_hook()
            wait = decide(exc)
            if wait is False:
                raise
            retries += 1
            what = f"swapkit {step.provider} {step.phase}"
            yield Backoff(
                float(wait),
                error=exc,
                retry=retries,
                waited=waited,
                what=what,
                provider=step.provider,
                swap_id=step.swap_id,
            )
            waited += float(wait)


Flow = Generator[Step, Any, SwapResult]


def transport_error(
    exc: httpx.TransportError, step: Send, exchange: Exchange | None = None
) -> ProviderError:
    """The one place transport failures become swapkit errors.

    A connection that was never made, and a request that was never fully written, cannot have
    started a job: safe to resend.  A full connection pool or a closed client is this side's
    `LocalFailure`.  Once the whole request may have been sent, a lost answer (a timeout, a
    dropped connection) leaves a submit's outcome unknown (`OutcomeUnknown`); any other
    request is a free read and may be sent again.

    A timeout blames the vendor (counts against its breaker) only when the vendor held the
    request for a fair time, `Send.fair_seconds`: not when the request waited for a
    connection from a busy pool, or the swap's deadline left it too little.
    """
    error = _transport_error(exc, step, exchange)
    if isinstance(exc, httpx.TimeoutException):
        held = exchange.held_by_vendor() if exchange is not None else step.timeout_now()
        error.blames_vendor = held >= step.fair_seconds
    return error


def _transport_error(
    exc: httpx.TransportError, step: Send, exchange: Exchange | None
) -> ProviderError:
    url = str(step.request.url.copy_with(query=None))
    limit = exchange.limit if exchange is not None else step.timeout_now()
    if isinstance(exc, httpx.PoolTimeout):
        return LocalFailure(
            f"no free connection in the HTTP client's pool for {url} within "
            f"{limit:.1f}s: more swaps run at once than its limits allow; give "
            "the client a larger pool (httpx.Limits(max_connections=...)) or run fewer at once",
            provider=step.provider,
        )
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        refused = ProviderUnavailable(
            f"could not connect to {url} ({_describe(exc)})", provider=step.provider, retryable=True
        )
        refused.reached_vendor = False
        return refused
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ProviderUnavailable(
            f"cannot request {url} ({_describe(exc)})", provider=step.provider, retryable=False
        )
    unsent = exchange is not None and exchange.connected_at is not None and not exchange.sent_at
    if isinstance(exc, (httpx.WriteError, httpx.WriteTimeout)) or unsent:
        return ProviderUnavailable(
            f"the request to {url} could not be sent in full ({_describe(exc)})",
            provider=step.provider,
            retryable=True,
        )
    timed_out = isinstance(exc, httpx.TimeoutException)
    what = (
        f"no answer from {url} within {limit:.1f}s"
        if timed_out
        else f"the connection to {url} failed after the request was sent ({_describe(exc)})"
    )
    if step.phase == "submit":
        return unknown_outcome(step.provider, what)
    error_class = ProviderTimeout if timed_out else ProviderUnavailable
    return error_class(what, provider=step.provider, retryable=True)


def _describe(exc: Exception) -> str:
    """An exception's class and message, the message never empty (httpx's timeouts have none)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def unknown_outcome(
    provider: str, what: str, *, job_id: str | None = None, **context: Any
) -> OutcomeUnknown:
    """The `OutcomeUnknown` for a submit whose answer was lost: what happened, what to do."""
    return OutcomeUnknown(
        f"{what}. The vendor may have accepted the swap and charged for it; swapkit will not "
        "send it again. Check the vendor's dashboard (or wait for its webhook) before "
        "swapping again, or build the client with on_unknown_outcome='failover' to let "
        "another provider try when the budget covers both",
        provider=provider,
        job_id=job_id,
        request_id=job_id,
        **context,
    )


@dataclasses.dataclass
class Run:
    """One attempt at one provider while it runs: its terms, and what is known of its money.

    The terms are fixed: the provider, the swap's budget, policy and id, and `retries`, how
    often one upload or submit exchange may be retried (None: as the budget allows).  The
    rest follows the attempt: its `phase`, whether it is `charged` (False, True, or None for
    unknown; see the module docstring), and the vendor's `job_id` and `model` once seen.
    """

    provider: Provider
    budget: Budget
    policy: FailoverPolicy
    swap_id: str
    retries: int | None = None
    #: The per-job URL the vendor's webhook goes to (None: no webhook wanted).
    webhook_url: str | None = None
    phase: Phase = "upload"
    charged: bool | None = False
    job_id: str | None = None
    model: str | None = None
    #: Reads every response of the attempt for rate-limit news (`Pacer.observe`).
    observe: Callable[[str, httpx.Response], None] | None = None

    def send(
        self,
        request: httpx.Request,
        phase: Phase,
        *,
        error_for: Callable[[httpx.Response], ProviderError] | None = None,
        parse: Callable[[httpx.Response], Any] | None = None,
    ) -> Send:
        """The exchange `request` in `phase`, which the attempt is now in."""
        self.phase = phase
        reads = phase in ("poll", "download")
        return Send(
            request,
            self.provider.name,
            phase,
            self.provider.settings.timeout,
            self.budget,
            self.policy,
            error_for or self.provider.error_from_response,
            retries=self.policy.read_retries if reads else self.retries,
            parse=parse,
            typical_latency=self.provider.capabilities.typical_latency_seconds,
            swap_id=self.swap_id,
            observe=functools.partial(self.observe, self.provider.name) if self.observe else None,
        )

    def accepted(self, outcome: Outcome) -> Accepted:
        """Record that the vendor accepted the job (and finished it, when `outcome` is Done)."""
        if isinstance(outcome, Done):
            self.job_id = outcome.result.job_id
            self.model = outcome.result.model or self.model
            self.charged = True
        else:
            self.job_id = outcome.job_id
            self.model = outcome.model or self.model
            self.charged = self.provider.capabilities.charged_while_running
        running = isinstance(outcome, Pending)
        url = outcome.result.url if isinstance(outcome, Done) else None
        return Accepted(self.swap_id, self.provider.name, self.job_id, self.model, running, url)

    def settle(self, error: ProviderError) -> None:
        """Update `charged` for a vendor's verdict on an accepted job."""
        if isinstance(error, JobFailed) or error.job_ended:
            self.charged = self.provider.capabilities.charged_when_failed
        elif isinstance(error, ResultInvalid):
            self.charged = True  # the vendor called it done, and bills done jobs


@dataclasses.dataclass
class Uploads:
    """The swap's uploader (if the application has one) and the URLs uploaded so far."""

    uploader: Uploader | None = None
    urls: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)

    def can_serve(self, provider: Provider) -> bool:
        """Whether bytes can reach `provider` when it takes URLs only."""
        return self.uploader is not None or provider.capabilities.uploads


def _as_urls(
    run: Run, prepared: PreparedSwap, uploads: Uploads
) -> Generator[Step, Any, PreparedSwap]:
    """`prepared` with its local images replaced by uploaded URLs, for a URL-only provider."""
    provider = run.provider
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
                step = run.send(
                    uploader.build_upload(image),
                    "upload",
                    error_for=uploader.upload_error,
                    parse=functools.partial(uploader.parse_upload, image=image),
                )
            else:
                step = run.send(
                    provider.build_upload(image),
                    "upload",
                    parse=functools.partial(provider.parse_upload, image=image),
                )
            uploads.urls[key] = yield from exchange(step)
        as_url = dataclasses.replace(image, url=uploads.urls[key])
        if image is source:
            source = as_url
        else:
            target = as_url
    return dataclasses.replace(prepared, source=source, target=target)


def provider_flow(
    run: Run, prepared: PreparedSwap, uploads: Uploads | None = None, *, detach: bool = False
) -> Generator[Step, Any, SwapResult | Handoff]:
    """Run one swap at one provider, from upload and submit to a measured image.

    With `detach`, a job the vendor accepted and is still running is handed off (`Handoff`)
    instead of waited for.
    """
    prepared = yield from _as_urls(run, prepared, uploads or Uploads())
    outcome = yield from _submit(run, prepared)
    finish = Finish.of(prepared)
    if detach and isinstance(outcome, Pending):
        return Handoff(run.provider.name, outcome, finish)
    done = yield from _wait(run, outcome)
    return (yield from _finish(run, finish, done.result))


def resume_flow(run: Run, job: Pending, finish: Finish, result_url: str | None = None) -> Flow:
    """Finish a job the vendor accepted earlier (perhaps in another process): poll it until
    it is done (or take `result_url`, when the vendor already gave it), then fetch, check and
    measure its image.  It is never submitted again."""
    run.job_id, run.charged = job.job_id, run.provider.capabilities.charged_while_running
    if result_url is not None:
        run.charged = True
        done = Done(VendorResult(job_id=job.job_id, model=job.model, url=result_url))
    else:
        done = yield from _wait(run, job)
    return (yield from _finish(run, finish, done.result))


def poll_once_flow(run: Run, job: Pending, finish: Finish) -> Generator[Step, Any, Any]:
    """Ask once how an accepted job is doing: the finished result (fetched and checked), or
    the `Pending` job when the vendor is still working on it.  For callers that schedule the
    next look themselves (`SwapClient.advance`)."""
    run.job_id, run.charged = job.job_id, run.provider.capabilities.charged_while_running
    outcome = yield from _poll(run, job)
    if isinstance(outcome, Pending):
        return outcome
    run.charged = True
    return (yield from _finish(run, finish, outcome.result))


def _poll(run: Run, job: Pending) -> Generator[Step, Any, Outcome]:
    """One poll of an accepted job (free: retried while the deadline allows)."""
    provider = run.provider
    try:
        outcome: Outcome = yield from exchange(
            run.send(
                provider.build_poll(job),
                "poll",
                parse=functools.partial(_verdict, provider.parse_poll, job=job),
            )
        )
    except ProviderError as exc:
        run.settle(exc)
        raise
    return outcome


def _submit(run: Run, prepared: PreparedSwap) -> Generator[Step, Any, Outcome]:
    """Send the paid request once, and learn whether the vendor accepted it."""
    provider = run.provider
    remaining = run.budget.remaining_seconds()
    webhook = run.webhook_url if provider.capabilities.webhooks else None
    plan = Plan(provider.choose_mode(prepared.request, remaining), remaining, webhook)
    request = provider.build_submit(prepared, plan)
    yield Submitting(run.swap_id, provider.name, run.model)
    try:
        response = yield from exchange(run.send(request, "submit"))
    except OutcomeUnknown:
        run.charged = None
        raise
    try:
        outcome = provider.parse_submit(response, plan)
    except (MalformedResponse, ProviderUnavailable, ProviderTimeout) as exc:
        # a 2xx that cannot be read as a job or a refusal: the vendor may have accepted it
        run.charged = None
        raise unknown_outcome(
            provider.name,
            f"the submit was answered HTTP {response.status_code} but the answer could not "
            f"be read ({exc.message})",
            status_code=response.status_code,
            body=exc.body,
        ) from exc
    except ProviderError as exc:
        run.settle(exc)
        raise
    yield run.accepted(outcome)
    return outcome


def _verdict(parse: Callable[..., Outcome], response: httpx.Response, **kwargs: Any) -> Outcome:
    """`parse` of a successful answer about a job; an error it raises (other than an
    unreadable answer) is the vendor's verdict that the job ended (`ProviderError.job_ended`)."""
    try:
        return parse(response, **kwargs)
    except ProviderError as exc:
        if not isinstance(exc, ResultInvalid):
            exc.job_ended = True
        raise


def _still_running(provider: str, job: Pending) -> ProviderTimeout:
    return ProviderTimeout(
        f"job {job.job_id} was still {job.status or 'pending'} "
        "when the swap's deadline ran out; the vendor may still finish it",
        provider=provider,
        request_id=job.job_id,
    )


def _wait(run: Run, outcome: Outcome) -> Generator[Step, Any, Done]:
    """Poll an accepted job until it is done, backing off, never past the deadline."""
    provider, budget = run.provider, run.budget
    settings = provider.settings
    interval = settings.poll_interval
    while isinstance(outcome, Pending):
        remaining = budget.remaining_seconds()
        if remaining <= 0:
            raise _still_running(provider.name, outcome)
        yield Sleep(min(interval, remaining))
        if budget.remaining_seconds() <= 0:
            # the wait ended at the deadline: a poll now would have no time to be answered
            raise _still_running(provider.name, outcome)
        outcome = yield from _poll(run, outcome)
        interval = min(interval * 1.5, settings.max_poll_interval)
    run.charged = True
    return outcome


def _finish(run: Run, finish: Finish, result: VendorResult) -> Flow:
    """Fetch (if needed), check, measure and convert the finished job's image."""
    provider = run.provider
    run.phase = "download"
    image = result.image
    if image is None:
        if not result.url:
            raise ResultInvalid(
                "the vendor reported success but returned neither an image nor a URL",
                provider=provider.name,
                body=result.raw,
                request_id=result.job_id,
            )
        image, info = yield from exchange(
            run.send(
                provider.build_download(result.url),
                "download",
                error_for=provider.download_error,
                parse=functools.partial(_decoded, provider=provider.name),
            )
        )
    else:
        info = inspect_image(image, provider=provider.name)
    if finish.is_target(image):
        raise ResultInvalid(
            "the vendor returned the target image unchanged",
            provider=provider.name,
            request_id=result.job_id,
        )
    wanted = finish.output_format
    media_type = info.media_type
    if wanted is not None and media_type != f"image/{wanted}":
        image = convert_image(image, wanted, finish.output_quality)
        media_type = sniff_media_type(image) or media_type  # kept as it came if it cannot be
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


def _decoded(response: httpx.Response, *, provider: str) -> tuple[bytes, ImageInfo]:
    """A downloaded image and its measurements; a cut or broken one is `ResultInvalid`
    (raised inside the exchange, so the download is retried)."""
    return response.content, inspect_image(response.content, provider=provider)


def templates_flow(
    provider: Provider, budget: Budget, policy: FailoverPolicy
) -> Generator[Step, Any, list[Template]]:
    """List a template provider's templates (a free read: retried like a poll)."""
    run = Run(provider, budget, policy, swap_id="")
    templates = yield from exchange(
        run.send(provider.build_list_templates(), "poll", parse=provider.parse_templates)
    )
    return cast("list[Template]", templates)
