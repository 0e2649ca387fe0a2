"""Jobs: a swap that completes (or fails, or never finishes) at a time on the sandbox clock.

Design: a job's state is *computed* from the clock rather than stored, so a poll can never see a
stale state and no thread is needed to move jobs along: `processing` until `ready_at`, then its
predetermined `outcome`. The result image is rendered when the job is submitted (once per
distinct input and parameters: `image_cache`) and only revealed once the job is complete. Jobs
belong to one vendor and one API key; a lookup with another key finds nothing, exactly like an
unknown id.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from .results import StoredResult

__all__ = ["Job", "JobOutcome", "JobState", "JobStore"]

JobOutcome = Literal["completed", "failed", "never"]
JobState = Literal["processing", "completed", "failed"]


@dataclass
class Job:
    """One swap job."""

    job_id: str
    vendor: str
    api_key: str
    model: str
    created_at: float
    ready_at: float
    outcome: JobOutcome
    processing_seconds: float
    origin: str
    result: StoredResult | None = None
    error: str | None = None
    webhook_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def state(self, now: float) -> JobState:
        """The job's state at sandbox time `now`."""
        if self.outcome == "never" or now < self.ready_at:
            return "processing"
        return self.outcome


class JobStore:
    """Jobs of every vendor. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str], Job] = {}

    def add(self, job: Job) -> Job:
        """Store `job`."""
        with self._lock:
            self._jobs[(job.vendor, job.job_id)] = job
        return job

    def get(self, vendor: str, job_id: str, api_key: str | None = None) -> Job | None:
        """The job, or None when unknown or (with `api_key`) owned by another key."""
        with self._lock:
            job = self._jobs.get((vendor, job_id))
        if job is None or (api_key is not None and job.api_key != api_key):
            return None
        return job

    def clear(self) -> None:
        """Forget every job."""
        with self._lock:
            self._jobs.clear()
