"""Prospolabs' webhooks: `inference.completed` / `inference.failed`, signed with HMAC-SHA256.

The body is compact JSON (no spaces), so the vendor's own example verifier
(`JSON.stringify(req.body)`) agrees with a verifier that hashes the raw bytes. Delivery and
retries are the shared `WebhookDispatcher`'s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any

from ...jobs import Job

__all__ = ["sign_webhook", "webhook_request"]


def sign_webhook(body: bytes, secret: str) -> str:
    """`X-Prospo-Signature`: lowercase hex HMAC-SHA256 of the raw body, keyed with `secret`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_request(job: Job, result_url: str | None, secret: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the webhook that tells `job`'s end."""
    completed = job.outcome == "completed" and job.result is not None
    data: dict[str, Any] = {
        "job_id": job.job_id,
        "model": job.model,
        "result_url": result_url,
        "processing_time_ms": round(job.processing_seconds * 1000),
    }
    if not completed:
        data["error"] = job.error
    payload = {
        "event": "inference.completed" if completed else "inference.failed",
        "job_id": job.job_id,
        "data": data,
        "timestamp": _timestamp(),
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "content-type": "application/json",
        "user-agent": "Prospolabs-Webhooks/1.0",
        "x-prospo-signature": sign_webhook(body, secret),
    }
    return body, headers


def _timestamp() -> str:
    """ISO 8601 UTC with milliseconds and a `Z`, e.g. `2026-02-19T14:32:27.000Z`."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
