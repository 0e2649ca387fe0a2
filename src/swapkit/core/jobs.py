"""Jobs: one handle for a swap across vendors, retries, processes and crashes.

`client.submit(...)` sends a swap (eligibility, failover and retries exactly as `swap()`) and
returns as soon as a vendor has accepted the job, with a `SwapJob`.  The handle's `id` is
swapkit's own (``swp_…``): the vendor and its job id are facts about the job, recorded in the
ledger (`swapkit.core.ledger`) as they become known.  A handle is rebuilt anywhere with
`client.job(id)` (from the ledger) or `client.job(token)` (from `SwapJob.to_token()`, no ledger
needed): the token names the provider, the vendor's job id and model, the absolute deadline and
what finishing needs (the requested format, the target's digest), and holds no key, no image
and no signed URL.

Finishing a job is free: polls and a download, never a second submit.  `wait(timeout)` stops
waiting when the timeout passes (`JobStillRunning`) and never cancels the job: the vendor bills
it anyway.

**The same swap.**  `request_key` digests swapkit's neutral request: the content digests of the
images (never their names or URLs), the template, prompt, style, quality, output format and
quality, face index and per-provider options, in canonical JSON, keyed with the store's
per-install secret (HMAC-SHA256), so a shared ledger cannot confirm that a given photo was
swapped.  Deadline, budget and webhook URL do not change the output and stay out of it.  An
idempotency key must always be used with the same request key.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any, Literal

from swapkit.core import errors as _errors
from swapkit.core.errors import InvalidRequest, OutcomeUnknown, SwapError
from swapkit.core.flow import Finish
from swapkit.core.images import LoadedImage
from swapkit.core.ledger import JobRecord, JobState
from swapkit.core.models import Attempt, SwapResult, Template
from swapkit.core.provider import PreparedSwap

__all__ = [
    "CacheMode",
    "JobStatus",
    "JobToken",
    "attempt_record",
    "error_from_record",
    "error_record",
    "request_key",
    "request_summary",
    "result_record",
]

CacheMode = Literal["reuse", "refresh"]

_TOKEN_PREFIX = "swk1."


@dataclasses.dataclass(frozen=True)
class JobStatus:
    """Where a job stands.

    `state` is ``queued`` (recorded, nothing sent yet), ``running`` (submitted or accepted and
    not finished), ``succeeded``, ``failed`` or ``unknown`` (a submit whose answer was lost:
    the vendor may have accepted and charged for it).  Times are aware UTC datetimes.
    """

    id: str
    state: Literal["queued", "running", "succeeded", "failed", "unknown"]
    provider: str | None = None
    vendor_job_id: str | None = None
    attempts: tuple[Attempt, ...] = ()
    spent_usd: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, record: JobRecord) -> JobStatus:
        state: JobState = record.state
        shown: Literal["queued", "running", "succeeded", "failed", "unknown"] = (
            "running" if state == "submitting" else state
        )
        return cls(
            id=record.id,
            state=shown,
            provider=record.provider,
            vendor_job_id=record.vendor_job_id,
            attempts=tuple(attempt_from_record(a) for a in record.attempts),
            spent_usd=record.spent_usd,
            created_at=_when(record.created_at),
            updated_at=_when(record.updated_at),
        )


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


@dataclasses.dataclass(frozen=True)
class JobToken:
    """What a job token carries (see the module docstring)."""

    id: str
    provider: str
    vendor_job_id: str
    model: str | None
    deadline_at: float
    finish: Finish
    result_url: str | None = None

    def encode(self) -> str:
        """The token: ``swk1.`` and base64url JSON, no padding."""
        payload = {
            "i": self.id,
            "p": self.provider,
            "j": self.vendor_job_id,
            "m": self.model,
            "d": round(self.deadline_at, 3),
            "f": self.finish.output_format,
            "q": self.finish.output_quality,
            "t": self.finish.target_digest,
            "n": self.finish.target_size,
        }
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> JobToken:
        """A token back; `InvalidRequest` when it is not one swapkit made."""
        if not token.startswith(_TOKEN_PREFIX) or len(token) > 4096:
            raise InvalidRequest("not a swapkit job token (they start with 'swk1.')")
        body = token[len(_TOKEN_PREFIX) :]
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            finish = Finish(data["f"], data["q"], data["t"], data.get("n"))
            parsed = cls(
                id=str(data["i"]),
                provider=str(data["p"]),
                vendor_job_id=str(data["j"]),
                model=data["m"],
                deadline_at=float(data["d"]),
                finish=finish,
            )
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise InvalidRequest(
                "the job token is damaged; pass it exactly as to_token() gave it"
            ) from None
        return parsed


def request_summary(prepared: PreparedSwap) -> dict[str, Any]:
    """The neutral request: what shapes the output, images as content digests (or URLs)."""
    request = prepared.request
    target = request.target
    summary: dict[str, Any] = {
        "source": _image_digest(prepared.source),
        "target": (
            {"template": target.id}
            if isinstance(target, Template)
            else _image_digest(prepared.target)
            if prepared.target is not None
            else None
        ),
        "style": request.style,
        "quality": request.quality,
        "output_format": request.output_format,
        "output_quality": request.output_quality,
        "face_index": request.face_index,
        "prompt": request.prompt,
        "options": {name: dict(values) for name, values in request.options.items()},
    }
    return summary


def _image_digest(image: LoadedImage) -> dict[str, str]:
    if image.data is not None:
        return {"sha256": image.sha256}
    return {"url": image.url or ""}


def request_key(summary: dict[str, Any], secret: bytes) -> str:
    """The keyed digest of a neutral request (see the module docstring)."""
    canonical = json.dumps(summary, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


def keyed_summary(summary: dict[str, Any], secret: bytes) -> dict[str, Any]:
    """`summary` with each image digest keyed by `secret`, as the ledger stores it."""

    def keyed(image: Any) -> Any:
        if isinstance(image, dict) and "sha256" in image:
            mac = hmac.new(secret, image["sha256"].encode(), hashlib.sha256).hexdigest()
            return {"digest": mac}
        if isinstance(image, dict) and "url" in image:
            return {"url": image["url"].split("?", 1)[0]}  # never a signed query
        return image

    return {**summary, "source": keyed(summary["source"]), "target": keyed(summary["target"])}


def attempt_record(attempt: Attempt) -> dict[str, Any]:
    """An attempt as the ledger keeps it."""
    error = attempt.error
    return {
        "provider": attempt.provider,
        "model": attempt.model,
        "reason": attempt.reason[:500],
        "skipped": attempt.skipped,
        "charged": attempt.charged,
        "cost_usd": attempt.cost_usd,
        "job_id": attempt.job_id,
        "elapsed_seconds": round(attempt.elapsed_seconds, 3),
        "error": error_record(error) if error is not None else None,
        "store_degraded": attempt.store_degraded,
    }


def attempt_from_record(data: dict[str, Any]) -> Attempt:
    """An attempt back from the ledger (its error rebuilt as its class, when it had one)."""
    error = data.get("error")
    return Attempt(
        provider=data.get("provider", ""),
        model=data.get("model"),
        reason=data.get("reason", ""),
        error=error_from_record(error) if error else None,
        elapsed_seconds=float(data.get("elapsed_seconds") or 0.0),
        cost_usd=data.get("cost_usd"),
        skipped=bool(data.get("skipped")),
        charged=data.get("charged"),
        job_id=data.get("job_id"),
        store_degraded=bool(data.get("store_degraded")),
    )


def error_record(error: BaseException) -> dict[str, Any]:
    """An error as the ledger keeps it: class, message and context (never a body)."""
    record: dict[str, Any] = {"class": type(error).__name__, "message": str(error)[:2000]}
    if isinstance(error, _errors.ProviderError):
        record.update(
            message=error.message[:2000],
            provider=error.provider,
            code=error.code,
            status_code=error.status_code,
            request_id=error.request_id,
        )
    return record


def error_from_record(data: dict[str, Any]) -> SwapError:
    """The swapkit error a ledger record describes (a `SwapError` for unknown classes)."""
    cls = getattr(_errors, str(data.get("class")), None)
    message = str(data.get("message", ""))
    if isinstance(cls, type) and issubclass(cls, _errors.ProviderError):
        return cls(
            message,
            provider=data.get("provider"),
            code=data.get("code"),
            status_code=data.get("status_code"),
            request_id=data.get("request_id"),
        )
    return SwapError(message)


def result_record(result: SwapResult) -> dict[str, Any]:
    """A result's metadata as the ledger keeps it (no image; the vendor URL and its expiry)."""
    return {
        "provider": result.provider,
        "model": result.model,
        "job_id": result.job_id,
        "media_type": result.media_type,
        "width": result.width,
        "height": result.height,
        "url": result.url,
        "expires_at": result.expires_at.timestamp() if result.expires_at else None,
        "processing_seconds": result.processing_seconds,
        "elapsed_seconds": result.elapsed_seconds,
        "cost_usd": result.cost_usd,
        "credits_used": result.credits_used,
        "faces_detected": result.faces_detected,
    }


def unknown_from_record(record: JobRecord) -> OutcomeUnknown:
    """The `OutcomeUnknown` a job in the ``unknown`` state ends with."""
    stored = record.error or {}
    message = stored.get("message") or (
        f"swap {record.id} was being submitted to {record.provider or 'a vendor'} when the "
        "process running it stopped; the vendor may have accepted and charged for it, so it "
        "is not sent again. Check the vendor's dashboard before swapping again"
    )
    return OutcomeUnknown(message, provider=record.provider, job_id=record.vendor_job_id)
