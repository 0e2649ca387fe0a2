"""EventStation jobs: their outcome, the status words they move through and the status body.

Design decisions:

- A job is a shared `Job` (vendor `eventstation`, `model` = the run route) plus the vendor's
  extras in `Job.extra`: `family` (`v1` or `v6`: which status path serves it), `final` (its
  terminal word), `images` (the base64 strings of `output.images`), `error` (FAILED only) and
  `started_at`. Its outcome is fixed when it is created and revealed on the sandbox clock.
- Timeline: waiting for the first half of `job_seconds` (`QUEUED` on v1, `IN_QUEUE` on v6),
  processing for the second half (`RUNNING` / `IN_PROGRESS`, RunPod's word [I]), then the
  terminal word. `job_seconds=0` makes a job terminal at once (the run answer still says
  `QUEUED` / `IN_QUEUE`).
- Outcomes: `COMPLETED` with one image; `FAILED` with an `error` string. An input the worker
  cannot use (not base64 or a URL of an image, over 10 MiB, an unreachable URL, or one flat
  colour: the sandbox's no-face rule) is accepted and then fails like any other job; with the
  option `invalid_input_outcome="empty"` it is `COMPLETED` with an empty `output.images`
  instead (the help page's "invalid inputs may cause empty outputs").
- Job faults: `never_finish` keeps the job `RUNNING` / `IN_PROGRESS` forever; `job_failed`
  ends it with the word in the fault's `code`: `FAILED` (default), `CANCELLED`, `TIMED_OUT`
  (RunPod's other terminal words [I]) or `COMPLETED` (done, with an empty `output.images`); any
  other `code` is `FAILED` with that text as `error`.
- Status body: `{"id", "status"}`, plus `output: {"images": [...]}` once `COMPLETED` and
  `error` once `FAILED`. With timing fields on (option `timing_fields`, v6 only by default:
  v6's envelope is RunPod's, v1 renames RunPod's words so it has its own [I]) `delayTime`
  (milliseconds waiting) appears once the job leaves the queue and `executionTime`
  (milliseconds processing) once it is terminal.
- Retention: a terminal job is forgotten `job_ttl_seconds` after it ends (RunPod keeps `/run`
  results 30 minutes [I]); then its status is 404 like an unknown id.
- A job belongs to its API key and its family: another key, or the other generation's status
  path, finds nothing.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PIL import Image

from ...images import (
    ImageProblem,
    has_face,
    split_image_reference,
)
from ...jobs import Job, JobOutcome
from .filters import filter_scene, prompt_scene, render_result, result_size

if TYPE_CHECKING:
    from ...faults import Fault
    from ...vendor import VendorContext
    from .options import EventStationOptions
    from .requests import Generation

__all__ = ["MAX_IMAGE_BYTES", "QUEUED_WORDS", "RUNNING_WORDS", "TERMINAL_WORDS", "EventStationJobs"]

MAX_IMAGE_BYTES = 10 * 1024 * 1024
"""The input limit [U], read from RunPod's 10 MB `/run` payload limit [I], as 10 MiB decoded."""

QUEUED_WORDS = {"v1": "QUEUED", "v6": "IN_QUEUE"}
RUNNING_WORDS = {"v1": "RUNNING", "v6": "IN_PROGRESS"}
TERMINAL_WORDS = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})

_FAULT_FAILURE = "Generation failed: the worker could not process this job."
_INPUT_ERRORS = {
    "no_face": "No face detected in the input image.",
    "too_large": "The input image is larger than 10 MB.",
    "fetch": "Could not download the input image from the URL.",
    "format": (
        "The input image could not be read: send a base64-encoded JPEG, PNG or WebP image "
        "or a public image URL."
    ),
}


class EventStationJobs:
    """The EventStation vendor's jobs (in the shared `JobStore`) and their status bodies."""

    def __init__(
        self, vendor_name: str, context: VendorContext, options: EventStationOptions
    ) -> None:
        self._vendor_name = vendor_name
        self._context = context
        self._options = options
        self._lock = threading.Lock()
        self._by_key: dict[str, list[Job]] = {}

    # -- creation -----------------------------------------------------------------------------

    def create(
        self,
        *,
        key: str,
        origin: str,
        generation: Generation,
        filter_id: str | None,
        take_fault: Callable[[], Fault | None],
    ) -> Job:
        """Record a job for `generation` (scene `filter_id`, or its prompt); decide its outcome.

        `take_fault` is called (and a job fault consumed) only when the input is usable.
        """
        context = self._context
        now = context.clock()
        duration = context.settings.job_seconds
        images: list[str] = []
        outcome: JobOutcome = "completed"
        try:
            face = self._read_face(generation.image, origin)
        except ImageProblem as problem:
            final, error = "COMPLETED", None
            if self._options.invalid_input_outcome == "failed":
                final, error = "FAILED", _INPUT_ERRORS[problem.kind]
        else:
            fault = take_fault()
            final, error = self._fault_outcome(fault)
            if fault is None:
                images = [self._render(generation, filter_id, face)]
            elif fault.kind == "never_finish":
                outcome = "never"
        if final != "COMPLETED":
            outcome = "failed"
        job = Job(
            job_id=f"{uuid.uuid4()}-u1",
            vendor=self._vendor_name,
            api_key=key,
            model=generation.route,
            created_at=now,
            ready_at=now + duration,
            outcome=outcome,
            processing_seconds=duration,
            origin=origin,
            error=error,
        )
        job.extra.update(
            family=generation.family,
            final=final,
            images=images,
            started_at=now + duration / 2,
        )
        context.jobs.add(job)
        with self._lock:
            self._by_key.setdefault(key, []).append(job)
        return job

    def _read_face(self, value: str | None, origin: str) -> Image.Image | None:
        """The user's photo, or None when the request has none (a prompt job)."""
        if value is None:
            return None
        kind, payload = split_image_reference(value)
        if kind == "url":
            data = self._context.fetch_image(
                payload, origin=origin, field_name="base64", max_bytes=MAX_IMAGE_BYTES
            )
            image = self._context.images.open(data, "base64")
        else:
            image = self._context.images.decode(payload, "base64", MAX_IMAGE_BYTES)
        if not image.derive(has_face):
            raise ImageProblem("no_face", "base64")
        return image.image

    @staticmethod
    def _fault_outcome(fault: Fault | None) -> tuple[str, str | None]:
        """`(terminal word, error)` for a job fault (`never_finish` only delays the word)."""
        if fault is None or fault.kind != "job_failed":
            return "COMPLETED", None
        code = fault.code or "FAILED"
        word = code.upper()
        if word == "FAILED":
            return "FAILED", _FAULT_FAILURE
        if word in TERMINAL_WORDS:
            return word, None
        return "FAILED", code

    def _render(
        self, generation: Generation, filter_id: str | None, face: Image.Image | None
    ) -> str:
        size = result_size(generation.ratio, self._options.result_scale)
        if filter_id is not None:
            scene = filter_scene(filter_id, size)
        else:
            scene = prompt_scene(generation.prompt or "", size)
        data = render_result(scene, face, self._options.output_format)
        return base64.b64encode(data).decode("ascii")

    # -- lookup and status --------------------------------------------------------------------

    def find(self, key: str, job_id: str, family: str) -> Job | None:
        """The job with `job_id` of `key` on status path `family`; None if unknown or expired."""
        job = self._context.jobs.get(self._vendor_name, job_id, api_key=key)
        if job is None or job.extra.get("family") != family:
            return None
        ttl = self._options.job_ttl_seconds
        expired = ttl is not None and self._context.clock() >= job.ready_at + ttl
        return None if expired and job.outcome != "never" else job

    def word(self, job: Job, now: float) -> str:
        """The job's status word at sandbox time `now`."""
        family = job.extra["family"]
        if now < job.extra["started_at"]:
            return QUEUED_WORDS[family]
        if job.outcome == "never" or now < job.ready_at:
            return RUNNING_WORDS[family]
        return str(job.extra["final"])

    def view(self, job: Job) -> dict[str, Any]:
        """The status body of `job` now."""
        now = self._context.clock()
        word = self.word(job, now)
        body: dict[str, Any] = {"id": job.job_id, "status": word}
        timing = self._options.timing_fields
        with_timing = timing == "all" or (timing == "v6" and job.extra["family"] == "v6")
        started_at: float = job.extra["started_at"]
        if with_timing and now >= started_at:
            body["delayTime"] = round((started_at - job.created_at) * 1000)
        if word in TERMINAL_WORDS:
            if with_timing:
                body["executionTime"] = round((job.ready_at - started_at) * 1000)
            if word == "COMPLETED":
                body["output"] = {"images": list(job.extra["images"])}
            elif word == "FAILED":
                body["error"] = job.error
        return body

    def active(self, key: str) -> int:
        """How many jobs of `key` are waiting or running now (never-finishing ones included)."""
        now = self._context.clock()
        with self._lock:
            jobs = [job for job in self._by_key.get(key, []) if job.state(now) == "processing"]
            self._by_key[key] = jobs
            return len(jobs)

    def reset(self) -> None:
        """Forget the per-key job lists (the jobs themselves are in the shared store)."""
        with self._lock:
            self._by_key.clear()
