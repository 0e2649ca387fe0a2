"""swapkit's one error tree.

Every exception swapkit raises on purpose derives from `SwapError`::

    SwapError
    ├── ProviderError                 a vendor (or swapkit on its behalf) refused or failed a swap
    │   ├── InvalidRequest            the request is wrong; another vendor would refuse it too
    │   │   ├── NoFaceDetected        no usable face in the source or target
    │   │   ├── ImageTooLarge         an image is over a vendor's size limit
    │   │   └── UnsupportedImage      not an image, or a format the vendor cannot read
    │   ├── AuthenticationError       missing, invalid or expired credentials
    │   ├── InsufficientCredits       the account has no balance or quota left
    │   ├── PermissionDenied          the account or key is suspended or lacks access
    │   ├── RateLimited               too many requests; `retry_after` says how long to wait
    │   ├── ContentRefused            moderation or policy refusal
    │   ├── ProviderUnavailable       5xx, gateway errors, connection failures
    │   ├── ProviderTimeout           the vendor did not answer or finish in time
    │   ├── JobFailed                 the vendor accepted the job and then reported failure
    │   ├── JobNotFound               the vendor does not know the job id
    │   ├── ResultExpired             the result URL is no longer served
    │   ├── ResultInvalid             the vendor said "done" but the image is missing or broken
    │   │   └── MalformedResponse     a 2xx answer that cannot be read (cut, not JSON, absurd)
    │   ├── OutcomeUnknown            a submit's answer was lost: the vendor may have accepted it
    │   └── LocalFailure              this side could not send (a full pool, a closed client)
    ├── ConfigurationError            a setting is missing or wrong; names the variable that sets it
    ├── InvalidSignature              a webhook or callback failed verification
    ├── NoEligibleProvider            no configured provider can take the request; says why for each
    ├── AllProvidersFailed            every eligible provider failed; carries every attempt
    ├── JobStillRunning               a bounded wait for a job ended; the job goes on
    ├── IdempotencyConflict           an idempotency key was already used for another request
    ├── BatchBudgetReached            a batch item was not sent: the batch's money cap was reached
    └── LedgerUnavailable             the ledger (the job store) could not be read or written

Design notes:

* ``InvalidRequest`` and its children are also raised *before* any network call, when swapkit
  can already tell an input is bad (a missing file, bytes that are not an image, an image over a
  provider's limit).  Then ``status_code`` is ``None`` and ``provider`` is the provider whose
  limit was hit, or ``None`` when the input is bad for everyone.  An application that shows
  "bad input" to its user catches one class, wherever the problem was found.
* ``retryable`` says whether sending the *same* request again is safe and may succeed: true for
  429, for a 5xx answer (the vendor answered that it failed: Prospolabs documents refunds for
  500 and 504, and 502/503 come from gateways in front of the vendor's application; a
  provider whose vendor says otherwise overrides it), and for connections that never reached
  the vendor; false for a read timeout or dropped connection after a submit, where the vendor
  may have accepted (and charged for) the job.
* The mapping from HTTP status to class lives in exactly one table, `error_class_for_status`;
  providers map their own structured codes before falling back to it.
* What a swap does about each class (retry, fail over, end, unknown outcome) is decided in one
  place, `swapkit.core.policy.FailoverPolicy`, never by ``isinstance`` lists elsewhere.
* Every error a swap ends with carries the swap's money: ``swap_id``, ``attempts`` (each try,
  with whether it was charged) and ``spent_usd`` (what the swap may have cost; None when a
  price is unknown).  Errors raised before anything was tried have no attempts and spent 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swapkit.core.models import Attempt

__all__ = [
    "AllProvidersFailed",
    "AuthenticationError",
    "BatchBudgetReached",
    "ConfigurationError",
    "ContentRefused",
    "IdempotencyConflict",
    "ImageTooLarge",
    "InsufficientCredits",
    "InvalidRequest",
    "InvalidSignature",
    "JobFailed",
    "JobNotFound",
    "JobStillRunning",
    "LedgerUnavailable",
    "LocalFailure",
    "MalformedResponse",
    "NoEligibleProvider",
    "NoFaceDetected",
    "OutcomeUnknown",
    "PermissionDenied",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "ResultExpired",
    "ResultInvalid",
    "SwapError",
    "UnsupportedImage",
    "error_class_for_status",
]


class SwapError(Exception):
    """Base class of every error swapkit raises.

    An error that ends a swap also says what the swap did before it ended: its `swap_id`, its
    `attempts` and `spent_usd`, the sum of the attempts' `cost_usd` (None when any is unknown).
    """

    #: The id of the swap this error ended (None when it was raised before a swap began).
    swap_id: str | None = None
    #: Every provider tried or passed over, in order (empty before anything was tried).
    attempts: Sequence[Attempt] = ()
    #: What the swap may have cost in US dollars (None when a price is unknown).
    spent_usd: float | None = 0.0


class ProviderError(SwapError):
    """A swap failed at (or on behalf of) one provider.

    Attributes carry the context needed to log, report or route around the failure: the
    provider name, the HTTP status, the vendor's own error code, a human message, whether the
    same request may be sent again, the raw response body and the vendor's request id.
    """

    #: Whether this class of failure is, by default, safe to retry with the same request.
    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        retryable: bool | None = None,
        body: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.code = code
        self.retryable = self.default_retryable if retryable is None else retryable
        self.body = body
        self.request_id = request_id
        #: False when the failure says nothing about the vendor's health: it happened on this
        #: side, or the vendor was not given a fair time to answer.  Breakers ignore those.
        self.blames_vendor = True
        #: True when a successful answer about an accepted job said the job ended without a
        #: result (failed, no face, refused): the vendor's billing for failed jobs applies.
        self.job_ended = False
        #: False when the request never reached the vendor (no connection could be made).
        self.reached_vendor = True

    def __str__(self) -> str:
        where = []
        if self.provider:
            where.append(self.provider)
        if self.status_code is not None:
            where.append(f"HTTP {self.status_code}")
        if self.code:
            where.append(self.code)
        return f"[{', '.join(where)}] {self.message}" if where else self.message


class InvalidRequest(ProviderError):
    """The request is wrong in a way another attempt or another vendor would not fix."""


class NoFaceDetected(InvalidRequest):
    """No usable face was found in the source or the target image."""


class ImageTooLarge(InvalidRequest):
    """An image is over the provider's size limit (checked before upload where possible)."""


class UnsupportedImage(InvalidRequest):
    """The input is not an image, or is in a format the provider cannot read."""


class AuthenticationError(ProviderError):
    """The API key is missing, invalid, expired or not valid for this service."""


class InsufficientCredits(ProviderError):
    """The vendor account has no credits, balance or quota left."""


class PermissionDenied(ProviderError):
    """The account or key is suspended, disabled, or not allowed to use this endpoint."""


class RateLimited(ProviderError):
    """The vendor asked us to slow down; `retry_after` is the wait in seconds, when known."""

    default_retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ContentRefused(ProviderError):
    """The vendor refused the content on moderation or policy grounds."""


class ProviderUnavailable(ProviderError):
    """The vendor failed: a 5xx answer, a gateway error, or a connection that failed."""

    default_retryable = True


class ProviderTimeout(ProviderError):
    """The vendor did not answer, or the job did not finish, within the allowed time."""


class JobFailed(ProviderError):
    """The vendor accepted the job and later reported that it failed."""


class JobNotFound(ProviderError):
    """The vendor does not know the job id that was polled."""


class ResultExpired(ProviderError):
    """The result URL has expired or is no longer served."""


class ResultInvalid(ProviderError):
    """The vendor reported success but the image is missing, undecodable or unchanged."""


class MalformedResponse(ResultInvalid):
    """The vendor answered 2xx with a body that cannot be read: cut short, not JSON, nested or
    sized past swapkit's bounds, or not the shape its API promises.

    Reading it again is safe for a poll (swapkit does); for a submit, the vendor may have
    accepted the job it answered for, so the swap's outcome is unknown (`OutcomeUnknown`).
    """

    default_retryable = True


class OutcomeUnknown(ProviderError):
    """A submit reached the vendor (or may have) and its answer was lost.

    The connection dropped after the request was sent, the answer came after the timeout, or a
    2xx came back unreadable: the vendor may have accepted and charged for the job, and none
    of the four vendors can be asked by anything but the job id that was lost.  swapkit does
    not buy the same swap again, there or elsewhere, unless the client was built with
    ``on_unknown_outcome="failover"``.  `job_id` is the vendor's job id when one was seen.
    The message says what happened and what to do: check the vendor's dashboard or wait for
    its webhook before swapping again.
    """

    def __init__(self, message: str, *, job_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.job_id = job_id


class LocalFailure(ProviderError):
    """swapkit could not send a request for reasons on this side, not the vendor's.

    The HTTP client was closed, or its connection pool had no free connection in the time
    left (more concurrent swaps than ``httpx.Limits(max_connections=...)`` allows).  Nothing
    reached the vendor, nothing was charged, and the provider's circuit breaker is not told.
    """

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.blames_vendor = False


class ConfigurationError(SwapError, ValueError):
    """A setting is missing or invalid; the message names the variable or argument that sets it."""


class InvalidSignature(SwapError):
    """A webhook or callback failed verification and must not be trusted."""


class NoEligibleProvider(SwapError):
    """No configured provider can serve the request; `reasons` maps provider name to why not."""

    def __init__(self, reasons: dict[str, str]) -> None:
        self.reasons = dict(reasons)
        lines = "\n".join(f"  - {name}: {why}" for name, why in self.reasons.items())
        super().__init__(f"no provider can serve this request:\n{lines}")


class AllProvidersFailed(SwapError):
    """Every eligible provider was tried and failed; `attempts` holds each try and its error,
    `spent_usd` what they may have cost together."""

    def __init__(self, attempts: Sequence[Attempt], *, spent_usd: float | None = 0.0) -> None:
        self.attempts = list(attempts)
        self.spent_usd = spent_usd
        lines = "\n".join(
            f"  - {attempt.provider}: {attempt.reason if attempt.skipped else attempt.error}"
            for attempt in self.attempts
        )
        super().__init__(f"every provider failed:\n{lines}")


class JobStillRunning(SwapError):
    """`SwapJob.wait(timeout=...)` ran out of time before the job finished.

    The job was not cancelled (the vendor bills it anyway): wait again, or pick it up later with
    `client.job(job_id)`.  `job_id` is swapkit's id, `status` the job's `JobStatus`.
    """

    def __init__(self, message: str, *, job_id: str, status: Any = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.swap_id = job_id
        self.status = status


class IdempotencyConflict(SwapError):
    """An idempotency key was used again for a request that is not the same swap (other
    images, template or output fields); `job_id` is the job that holds the key."""

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class BatchBudgetReached(SwapError):
    """A batch item was not sent: the batch's `max_total_usd` had been reached (nothing was
    spent on it; run the batch again with a higher cap to do it)."""


_STATUS_TABLE: dict[int, type[ProviderError]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    402: InsufficientCredits,
    403: PermissionDenied,
    404: JobNotFound,
    408: ProviderTimeout,
    409: ProviderUnavailable,
    410: ResultExpired,
    413: ImageTooLarge,
    415: UnsupportedImage,
    422: InvalidRequest,
    429: RateLimited,
    451: ContentRefused,
    504: ProviderTimeout,
}


def error_class_for_status(status_code: int) -> type[ProviderError]:
    """The error class for an HTTP status when the vendor gave nothing more specific."""
    if status_code in _STATUS_TABLE:
        return _STATUS_TABLE[status_code]
    if status_code >= 500:
        return ProviderUnavailable
    return InvalidRequest


class LedgerUnavailable(SwapError):
    """The ledger (the job store: a Redis server, a SQLite file) could not be read or written.

    swapkit never sends a paid request it could not record first, so a swap that meets this
    before its submit sent nothing; one that meets it after the vendor accepted the job leaves
    that job recorded as being submitted, and it is settled (never sent again) once the ledger
    is back.  The message names the ledger and the error.
    """
