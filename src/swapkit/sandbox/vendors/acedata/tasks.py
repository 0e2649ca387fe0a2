"""AceDataCloud tasks: their creation, result files and callbacks, and the records of `/face/tasks`.

Design decisions:

- A task is a shared `Job` (vendor `acedata`, model `face-swap`) plus the vendor's extras:
  `object_id` (the record's 24-hex `_id`), the submit's `trace_id`, the `request` body as sent,
  `created_epoch` (wall clock, for the record's timestamps), `error_code` and the result `size`.
  Its outcome is fixed when it is created (the vendor module decides it, faults included); the
  result file exists from the moment the task finishes, unsigned under `RESULT_FOLDER`, and is
  kept `AceDataOptions.result_ttl_seconds`.
- Sync calls create finished tasks too, so every swap can be retrieved. Async tasks finish after
  their duration on the sandbox clock (at once for an input problem), and then, if they have a
  `callback_url`, POST their body there: compact JSON, no signature, through the shared webhook
  dispatcher (which retries).
- One body (`response_body`) is the sync answer, the callback and a finished record's
  `response`: success `{success, task_id, trace_id, image_url, image_width, image_height,
  image_size}` or failure `{success: false, task_id, trace_id, error: {code, message}}`.
- A record (`record`) has no status field unless `AceDataOptions.task_status_words`, and no
  `response`/`finished_at` until the task is done. Its `application_id`, `credential_id` and
  `user_id` are random per token and stable until the sandbox is reset.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from ...images import SwapImage, composite, encode_image
from ...jobs import Job, JobOutcome

if TYPE_CHECKING:
    from ...vendor import VendorContext
    from .options import AceDataOptions

__all__ = ["RESULT_FOLDER", "AceDataTasks"]

RESULT_FOLDER = "cdn/face"
"""Where result files are served, unsigned: `/acedata/cdn/face/<task_id>.png`."""

_API_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://api.acedata.cloud/face/swap"))
_STATUS_WORDS = {"processing": "processing", "completed": "succeeded", "failed": "failed"}


class AceDataTasks:
    """The AceDataCloud vendor's tasks (jobs in the shared `JobStore`) and their records."""

    def __init__(self, vendor_name: str, context: VendorContext, options: AceDataOptions) -> None:
        self._vendor_name = vendor_name
        self._context = context
        self._options = options
        self._lock = threading.Lock()
        self._identities: dict[str, dict[str, str]] = {}

    def create(
        self,
        *,
        key: str,
        origin: str,
        trace_id: str,
        request_body: dict[str, Any],
        callback_url: str | None,
        asynchronous: bool,
        outcome: JobOutcome,
        duration: float,
        images: tuple[SwapImage, SwapImage] | None,
        error: tuple[str, str] | None = None,
    ) -> Job:
        """Record a task whose outcome is already decided; store its result if it succeeds.

        A sync task is finished at once; an async one finishes after `duration` (and then calls
        back), unless its outcome is `never`. `images` (source, target) are composited now;
        `error` is the `(code, message)` of a failing task.
        """
        context = self._context
        now = context.clock()
        ready_at = now + duration if asynchronous else now
        job = Job(
            job_id=str(uuid.uuid4()),
            vendor=self._vendor_name,
            api_key=key,
            model="face-swap",
            created_at=now,
            ready_at=ready_at,
            outcome=outcome,
            processing_seconds=duration,
            origin=origin,
            webhook_url=callback_url if asynchronous else None,
            error=error[1] if error else None,
        )
        job.extra.update(
            object_id=secrets.token_hex(12),
            trace_id=trace_id,
            request=request_body,
            created_epoch=time.time(),
            error_code=error[0] if error else None,
        )
        if images is not None:
            source, target = images
            job.extra["size"] = target.image.size  # a composite keeps the target's size
            data = context.images.render(
                (source, target),
                (self._vendor_name, "png", 95),
                lambda: encode_image(composite(source.image, target.image), "png", 95),
            )
            job.result = context.results.put(
                data,
                extension="png",
                media_type="image/png",
                result_id=job.job_id,
                available_at=ready_at,
                folder=RESULT_FOLDER,
                signed=False,
                ttl_seconds=self._options.result_ttl_seconds,
            )
        context.jobs.add(job)
        if asynchronous and outcome != "never":
            if ready_at <= now:
                self._finish(job)
            else:
                context.scheduler.schedule(ready_at, lambda: self._finish(job))
        return job

    def response_body(self, job: Job, origin: str) -> dict[str, Any]:
        """The sync/callback body of a finished task (success or failure)."""
        trace_id = job.extra["trace_id"]
        if job.outcome == "completed" and job.result is not None:
            width, height = job.extra["size"]
            as_str = self._options.dimension_type == "str"
            return {
                "success": True,
                "task_id": job.job_id,
                "trace_id": trace_id,
                "image_url": job.result.url(origin, self._vendor_name),
                "image_width": str(width) if as_str else width,
                "image_height": str(height) if as_str else height,
                "image_size": len(job.result.data),
            }
        return {
            "success": False,
            "task_id": job.job_id,
            "trace_id": trace_id,
            "error": {"code": job.extra["error_code"], "message": job.error},
        }

    def record(self, job: Job, origin: str) -> dict[str, Any]:
        """The task record `POST /face/tasks` answers with."""
        state = job.state(self._context.clock())
        created = round(job.extra["created_epoch"], 3)
        record: dict[str, Any] = {
            "_id": job.extra["object_id"],
            "id": job.job_id,
            "api_id": _API_ID,
            **self._identity(job.api_key),
            "trace_id": job.extra["trace_id"],
            "created_at": created,
            "request": job.extra["request"],
            "started_at": created,
        }
        if state != "processing":
            record["response"] = self.response_body(job, origin)
            record["finished_at"] = round(created + job.processing_seconds, 3)
        if self._options.task_status_words:
            record["status"] = _STATUS_WORDS[state]
        return record

    def reset(self) -> None:
        """Forget the per-token identity ids of task records (the jobs are in the shared store)."""
        with self._lock:
            self._identities.clear()

    def _finish(self, job: Job) -> None:
        """A task reached its end: POST the callback (unsigned)."""
        if job.webhook_url is None:
            return
        body = json.dumps(self.response_body(job, job.origin), separators=(",", ":")).encode()
        self._context.webhooks.send(job.webhook_url, body, {"content-type": "application/json"})

    def _identity(self, key: str) -> dict[str, str]:
        with self._lock:
            ids = self._identities.get(key)
            if ids is None:
                names = ("application_id", "credential_id", "user_id")
                ids = self._identities[key] = {name: str(uuid.uuid4()) for name in names}
            return dict(ids)
