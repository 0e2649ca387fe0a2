"""One webhook endpoint for every vendor: per-job URLs, verification, and completing the job.

The application gives swapkit one base URL (``SwapClient(webhook_url="https://app/hooks/x")``).
For each job and each vendor it is tried at, swapkit sends the vendor its own URL derived from
it, carrying four query parameters: the job id, the provider, an expiry, and a token, the
HMAC-SHA256 of the three keyed with a secret derived from the ledger's.  A delivery therefore
says which job and which vendor it belongs to, whatever failover did in between, and nobody who
does not hold the ledger's secret can make such a URL.

`Webhooks.handle` (``client.webhooks.handle``) takes the raw request and, in this order:

1. checks the method and the URL's token and expiry (`InvalidSignature` otherwise; nothing of
   the body is read before);
2. verifies the body the vendor's way: Prospolabs' HMAC over the raw bytes (and, as its own
   example signs, over their compact re-serialisation), with every configured secret (for
   rotation), and its signed ``timestamp`` within `tolerance` (300 s by default, both ways).
   AceDataCloud signs nothing: its delivery is trusted for nothing but naming the job;
3. checks that the delivery is about the job the URL names (the vendor's job id).  A signed
   delivery for a job whose submit answer was lost (``submitting`` or ``unknown``, no vendor
   job id) settles it: the vendor's signature says it accepted the job, and its id is recorded;
4. claims the delivery in the ledger, once: a repeat (a vendor retry, a replay) is answered
   without effect (``event.duplicate``); an unsigned vendor's delivery is single-use per job;
5. completes the job: a signed result is downloaded from the URL it names, an unsigned one is
   fetched again from the vendor's task API; a signed failure fails the job.  Any process
   waiting on the job (`SwapJob.wait`, same ledger) sees the result.

Polling remains the backstop: a job waited for is polled as usual, so a webhook that never
arrives loses nothing, and one that arrives first saves the waiting processes their polls.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from swapkit.core.errors import InvalidSignature, JobFailed, ProviderUnavailable
from swapkit.core.flow import Step
from swapkit.core.jobflow import JobContext, record_error, resume_job, stored_job
from swapkit.core.models import WebhookEvent

if TYPE_CHECKING:
    from swapkit.core.client import AsyncSwapClient, SwapClient, _BaseClient

__all__ = ["AsyncWebhooks", "Webhooks", "job_webhook_url"]

JOB, PROVIDER, EXPIRES, TOKEN = (
    "swapkit_job",
    "swapkit_provider",
    "swapkit_expires",
    "swapkit_token",
)
#: How long after a job's deadline its URL still takes deliveries (vendors retry for an hour).
URL_GRACE_SECONDS = 2 * 60 * 60
_MAX_URL = 8192


def _key(secret: bytes) -> bytes:
    return hmac.new(secret, b"swapkit webhook urls", hashlib.sha256).digest()


def _token(key: bytes, job_id: str, provider: str, expires: int) -> str:
    message = f"{job_id}|{provider}|{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def job_webhook_url(
    base: str, secret: bytes, job_id: str, provider: str, deadline_at: float
) -> str:
    """The URL a vendor is given for `job_id` at `provider` (see the module docstring)."""
    expires = int(deadline_at + URL_GRACE_SECONDS)
    parts = urlsplit(base)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [
        (JOB, job_id),
        (PROVIDER, provider),
        (EXPIRES, str(expires)),
        (TOKEN, _token(_key(secret), job_id, provider, expires)),
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


class _Receiver:
    def __init__(self, client: _BaseClient, tolerance: float = 300.0) -> None:
        self._client = client
        self.tolerance = tolerance

    def _flow(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Generator[Step, Any, WebhookEvent]:
        ctx: JobContext = self._client._job_context()
        if method.upper() != "POST":
            raise InvalidSignature(f"webhooks are POSTed, not sent with {method[:10]!r}")
        job_id, name = self._check_url(url, ctx)
        record = ctx.store.get(job_id)
        if record is None:
            raise InvalidSignature(f"no job {job_id} in this ledger (purged, or another ledger)")
        provider = ctx.provider(name)
        caps = provider.capabilities
        if caps.signs_webhooks:
            event = provider.parse_webhook(headers, body)
            self._check_time(event)
            delivery = f"{name}:{hashlib.sha256(body).hexdigest()}"
        else:
            event = provider.read_webhook(headers, body)
            delivery = f"{name}:{job_id}"  # an unsigned vendor's URL is single-use
        lost = record.vendor_job_id is None and record.state in ("submitting", "unknown")
        if lost and caps.signs_webhooks and record.provider == name:
            # the submit's answer was lost (or its process died), but the vendor's own
            # signature now says it accepted the job: this settles the unknown outcome
            record = dataclasses.replace(
                record, state="running", vendor_job_id=event.job_id, error=None
            )
            ctx.store.save(record)
            if ctx.router.events is not None:
                ctx.router.events.job_changed(record.id, "running", name, event.job_id)
        if record.vendor_job_id is None:
            # the vendor answered the submit after calling back (or the answer is not
            # recorded yet): let it retry, later
            raise ProviderUnavailable(
                f"job {job_id} is not recorded as accepted yet; deliver again later",
                provider=name,
                retryable=True,
            )
        if event.job_id != record.vendor_job_id:
            raise InvalidSignature(
                f"the delivery is about {provider.display_name} job {event.job_id!r}, not the "
                f"job this URL was made for"
            )
        event = _tagged(event, job_id)
        fresh = ctx.store.claim_delivery(delivery, job_id)
        if not fresh or record.final or record.provider != name:
            return _tagged(event, job_id, duplicate=True)
        if event.status == "failed":
            failure = JobFailed(
                f"{provider.display_name} reports the job failed: {event.error or 'no reason'}",
                provider=name,
                request_id=event.job_id,
            )
            record_error(ctx, job_id, failure)
            return event
        if caps.signs_webhooks and event.result_url:
            running = stored_job(ctx.store, job_id)
            running.result = {"url": event.result_url}
            ctx.store.save(running)
        current = stored_job(ctx.store, job_id)
        yield from resume_job(ctx, current, None, late=True)  # a signed URL, or the task API
        return event

    def _check_url(self, url: str, ctx: JobContext) -> tuple[str, str]:
        if not isinstance(url, str) or len(url) > _MAX_URL:
            raise InvalidSignature("the delivery's URL is missing or too long")
        try:
            query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        except ValueError:
            raise InvalidSignature("the delivery's URL cannot be parsed") from None
        job_id, name = query.get(JOB, ""), query.get(PROVIDER, "")
        expires, token = query.get(EXPIRES, ""), query.get(TOKEN, "")
        if not (job_id and name and expires.isdigit() and token):
            raise InvalidSignature(
                "not a swapkit webhook URL: it has no job, provider, expiry and token (pass the "
                "full URL the delivery arrived at, query string included)"
            )
        expected = _token(_key(ctx.store.secret()), job_id, name, int(expires))
        if not hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace")):
            raise InvalidSignature("the delivery's URL token does not match: not made by swapkit")
        if int(expires) < time.time():
            raise InvalidSignature("the delivery's URL has expired")
        return job_id, name

    def _check_time(self, event: WebhookEvent) -> None:
        if event.timestamp is None:
            return
        skew = abs(time.time() - event.timestamp.timestamp())
        if skew > self.tolerance:
            raise InvalidSignature(
                f"the delivery's signed timestamp is {skew:.0f} s away from now, beyond the "
                f"{self.tolerance:.0f} s tolerance: a replay, or a clock far off"
            )


def _tagged(event: WebhookEvent, job_id: str, *, duplicate: bool = False) -> WebhookEvent:
    return dataclasses.replace(event, swap_id=job_id, duplicate=duplicate)


class Webhooks(_Receiver):
    """The webhook receiver of a `SwapClient` (``client.webhooks``)."""

    _client: SwapClient

    def handle(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookEvent:
        """Verify a delivery, record it once, and complete its job (see the module docstring).

        `url` is the full URL the delivery arrived at, query string included; `body` the raw
        bytes, exactly as received.  `InvalidSignature` for anything not genuine; a repeat
        returns the event with ``duplicate=True`` and does nothing.
        """
        event: WebhookEvent = self._client._drive(self._flow(method, url, headers, body))
        return event


class AsyncWebhooks(_Receiver):
    """The webhook receiver of an `AsyncSwapClient` (``client.webhooks``)."""

    _client: AsyncSwapClient

    async def handle(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookEvent:
        """Verify, record once and complete; see `Webhooks.handle`."""
        event: WebhookEvent = await self._client._drive(self._flow(method, url, headers, body))
        return event


#: What a web framework answers for each outcome (see `answer`).
ACCEPTED, REFUSED, RETRY = 200, 400, 503


def answer(error: BaseException | None, event: WebhookEvent | None) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body a framework adapter sends back.

    2xx for an accepted or a duplicate delivery; 400 for a refused one (never retried by a
    vendor that honours it); 5xx for anything else (the vendor retries, and swapkit's claim
    makes the retry harmless).
    """
    if error is None and event is not None:
        return ACCEPTED, {"ok": True, "swap_id": event.swap_id, "duplicate": event.duplicate}
    if isinstance(error, InvalidSignature):
        return REFUSED, {"ok": False, "error": str(error)[:300]}
    return RETRY, {"ok": False, "error": type(error).__name__}
