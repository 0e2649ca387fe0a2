"""Running swaps as durable jobs: the flows behind `swap()`, `submit()` and job handles.

Like the swap flow, these are generators that yield I/O steps (HTTP exchanges, sleeps,
milestones), driven by `SwapClient` or `AsyncSwapClient`; they read and write the `JobStore`
directly (a local SQLite write is a millisecond).

* `job_flow` starts a swap as a job.  It looks in the result cache (when asked), claims the
  idempotency key (the store's atomic verb), runs the swap flow (detached for `submit()`) and
  records how it ended.  A key another call already holds joins that job instead.
* `settle_flow` brings an existing job to its end, in any process: it returns a stored result,
  raises a stored error, resumes polling a job the vendor accepted, waits while another live
  process is submitting, and settles a job whose process died: one that never reached the
  vendor is run again (when this process has its images) or fails, and one that died between
  "about to submit" and the vendor's answer becomes ``unknown`` (`OutcomeUnknown`): never
  resubmitted.
* `token_flow` finishes a job from its token alone, without a store.

The steps they are made of are shared with queued jobs (`swapkit.core.queued`) and webhooks:
`new_job_record`, `run_job` (run a job this process owns), `resume_job` (finish an accepted
one), and the recording helpers `stored_job`, `save_job`, `record_success`, `record_error`.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from swapkit.core.clock import Clock
from swapkit.core.errors import (
    ConfigurationError,
    IdempotencyConflict,
    InvalidRequest,
    JobStillRunning,
    ProviderError,
    ProviderTimeout,
    ResultExpired,
    SwapError,
)
from swapkit.core.flow import Finish, Run, Sleep, Step, Uploads, resume_flow
from swapkit.core.images import inspect_image
from swapkit.core.jobs import (
    CacheMode,
    JobStatus,
    JobToken,
    attempt_from_record,
    attempt_record,
    error_from_record,
    error_record,
    keyed_summary,
    request_key,
    request_summary,
    result_record,
    unknown_from_record,
)
from swapkit.core.ledger import JobRecord, JobStore, MemoryJobStore, owner_alive, owner_id
from swapkit.core.models import SwapResult
from swapkit.core.provider import Pending, PreparedSwap, Provider
from swapkit.core.retry import Budget
from swapkit.core.routing import Router, Submitted, spent, swap_flow
from swapkit.core.uploads import Uploader

__all__ = [
    "JobContext",
    "job_flow",
    "new_job_record",
    "record_error",
    "record_success",
    "resume_job",
    "run_job",
    "save_job",
    "settle_flow",
    "stored_job",
    "token_flow",
]

#: How often a call waiting on another process's job looks at the store again (seconds).
_RECHECK_SECONDS = 0.25


@dataclasses.dataclass
class JobContext:
    """What the job flows need of a client."""

    providers: tuple[Provider, ...]
    router: Router
    store: JobStore
    clock: Clock
    uploader: Uploader | None
    deadline: float
    max_attempts: int
    cache: bool
    #: The application's webhook base URL (None: no webhooks asked of vendors).
    webhook_base: str | None = None

    def provider(self, name: str) -> Provider:
        for provider in self.providers:
            if provider.name == name:
                return provider
        raise ConfigurationError(
            f"the job ran at provider {name!r}, which this client does not have; configure it "
            "(with the same settings) to finish the job"
        )

    def budget(
        self, deadline_at: float, limit: float | None = None, attempts: int | None = None
    ) -> Budget:
        """A budget ending at the epoch `deadline_at` (or `limit` seconds from now)."""
        left = max(0.0, deadline_at - time.time())
        if limit is not None:
            left = min(left, max(0.0, limit))
        clock = self.clock.monotonic
        return Budget(attempts or self.max_attempts, clock() + left, clock)


def job_flow(
    ctx: JobContext,
    prepared: PreparedSwap,
    *,
    idempotency_key: str | None = None,
    cache: CacheMode | None = None,
    detach: bool = False,
) -> Generator[Step, Any, SwapResult | JobRecord]:
    """Start (or join) the job for `prepared`; its result, or with `detach` its record."""
    store = ctx.store
    mode: CacheMode | None = cache or ("reuse" if ctx.cache else None)
    compared = idempotency_key is not None or mode is not None
    durable = not isinstance(store, MemoryJobStore)
    record = new_job_record(
        ctx, prepared, idempotency_key, owner=owner_id(), digests=compared or durable
    )
    key = record.request_key
    held = store.claim(record)
    if held.id != record.id:
        if held.request_key != key:
            raise IdempotencyConflict(
                f"the idempotency key {idempotency_key!r} belongs to job {held.id}, made for "
                "another request (other images or output fields); use a new key for a new swap",
                job_id=held.id,
            )
        flow = settle_flow(ctx, held.id, prepared=prepared, detach=detach)
        return (yield from _observed(ctx, held.id, flow))
    if mode == "reuse":
        hit = _cached(ctx, key)
        if hit is not None:
            save_job(ctx, held, state="succeeded", result=result_record(hit), spent_usd=0.0)
            hit = dataclasses.replace(hit, swap_id=held.id)
            return stored_job(store, held.id) if detach else hit
    flow = run_job(ctx, held, prepared, detach, mode, fresh=True)
    return (yield from _observed(ctx, held.id, flow))


def new_job_record(
    ctx: JobContext,
    prepared: PreparedSwap,
    idempotency_key: str | None,
    *,
    owner: str | None,
    digests: bool = True,
) -> JobRecord:
    """A new ``queued`` record for `prepared` (nothing sent yet).

    Without `digests` (a swap in a process-local store, with no idempotency key and no cache:
    nothing will ever compare it to another request) the input images are not hashed, which
    saves milliseconds on large images; its `request_key` is then empty.
    """
    request = prepared.request
    secret = ctx.store.secret()
    summary = request_summary(prepared) if digests else {}
    now = time.time()
    return JobRecord(
        id=f"swp_{secrets.token_hex(16)}",
        state="queued",
        request_key=request_key(summary, secret) if digests else "",
        created_at=now,
        updated_at=now,
        deadline_at=now + (request.deadline or ctx.deadline),
        idempotency_key=idempotency_key,
        owner=owner,
        request={
            **(keyed_summary(summary, secret) if digests else {}),
            "finish": _finish_fields(prepared),
            "budget": {
                "max_attempts": request.max_attempts or ctx.max_attempts,
                "max_cost_usd": request.max_cost_usd,
            },
        },
    )


def _observed(
    ctx: JobContext, swap_id: str, flow: Generator[Step, Any, SwapResult | JobRecord]
) -> Generator[Step, Any, SwapResult | JobRecord]:
    """`flow`, told to the observers: `swap_started`, then `swap_finished` with its result or
    error (neither, when `submit()` hands the accepted job off)."""
    events = ctx.router.events
    if events is None:
        return (yield from flow)
    events.swap_started(swap_id)
    try:
        outcome = yield from flow
    except SwapError as exc:
        events.swap_finished(swap_id, None, exc)
        raise
    events.swap_finished(swap_id, outcome if isinstance(outcome, SwapResult) else None, None)
    return outcome


def _finish_fields(prepared: PreparedSwap) -> dict[str, Any]:
    request = prepared.request
    return {"output_format": request.output_format, "output_quality": request.output_quality}


def run_job(
    ctx: JobContext,
    record: JobRecord,
    prepared: PreparedSwap,
    detach: bool,
    mode: CacheMode | None,
    *,
    fresh: bool = False,
) -> Generator[Step, Any, SwapResult | JobRecord]:
    """Run the swap flow for a job this process owns, and record how it ended.

    A `fresh` job (created by this call) gets its whole deadline on the client's clock; one
    taken over gets what is left of its recorded (wall-clock) deadline.
    """
    request = prepared.request
    if fresh:
        clock = ctx.clock.monotonic
        seconds = request.deadline or ctx.deadline
        budget = Budget(request.max_attempts or ctx.max_attempts, clock() + seconds, clock)
    else:
        budget = ctx.budget(record.deadline_at, attempts=request.max_attempts)
    uploads = Uploads(ctx.uploader)
    webhook = None
    if ctx.webhook_base is not None and request.webhook_url is None:
        from swapkit.core.webhooks import job_webhook_url

        base, secret = ctx.webhook_base, ctx.store.secret()

        def webhook(provider: str) -> str:
            return job_webhook_url(base, secret, record.id, provider, record.deadline_at)

    flow = swap_flow(
        ctx.providers,
        prepared,
        budget,
        ctx.router,
        uploads,
        record.id,
        detach=detach,
        webhook=webhook,
    )
    try:
        outcome = yield from flow
    except SwapError as exc:
        record_error(ctx, record.id, exc)
        raise
    except GeneratorExit:
        _abandoned(ctx, record.id)
        raise
    if isinstance(outcome, Submitted):
        current = stored_job(ctx.store, record.id)
        save_job(
            ctx,
            current,
            attempts=[attempt_record(a) for a in outcome.attempts],
            spent_usd=outcome.spent_usd,
        )
        return stored_job(ctx.store, record.id)
    record_success(ctx, record.id, outcome, mode)
    return outcome


def settle_flow(
    ctx: JobContext,
    job_id: str,
    *,
    timeout: float | None = None,
    prepared: PreparedSwap | None = None,
    detach: bool = False,
) -> Generator[Step, Any, SwapResult | JobRecord]:
    """Bring the stored job `job_id` to its end (see the module docstring).

    `timeout` bounds this wait only (`JobStillRunning` when it passes); `prepared` lets a job
    that never reached a vendor be run here; `detach` returns the record once the vendor has
    accepted the job, without waiting for it.
    """
    store = ctx.store
    waited_until = None if timeout is None else time.time() + timeout
    while True:
        record = store.get(job_id)
        if record is None:
            raise InvalidRequest(
                f"no job {job_id!r} in this client's ledger; pass its token, or the ledger "
                "it was submitted with (SwapClient(ledger=...))"
            )
        if record.state == "succeeded":
            if detach:
                return record
            return (yield from _stored_result(ctx, record))
        if record.state == "failed":
            raise _with_attempts(error_from_record(record.error or {}), record)
        if record.state == "unknown":
            raise _with_attempts(unknown_from_record(record), record)
        accepted = record.state == "running" and (
            record.vendor_job_id is not None or (record.result or {}).get("url")
        )
        if accepted:
            if detach:
                return record
            left = None if waited_until is None else waited_until - time.time()
            return (yield from resume_job(ctx, record, left))
        dead = not owner_alive(record.owner) or time.time() >= record.deadline_at
        if dead:
            settled = yield from _orphan(ctx, record, prepared, detach)
            if settled is not None:
                return settled
            continue
        if waited_until is not None and time.time() >= waited_until:
            raise JobStillRunning(
                f"job {job_id} is still being submitted by another process",
                job_id=job_id,
                status=JobStatus.of(record),
            )
        yield Sleep(_RECHECK_SECONDS)


def _orphan(
    ctx: JobContext, record: JobRecord, prepared: PreparedSwap | None, detach: bool
) -> Generator[Step, Any, SwapResult | JobRecord | None]:
    """Settle a job whose process died (or whose deadline passed) before the vendor accepted
    it.  None when another process took it first (look again)."""
    store = ctx.store
    me = owner_id()
    if record.state == "queued":
        # nothing was sent: safe to run, if this process can
        if prepared is not None and time.time() < record.deadline_at:
            if not store.take_over(record.id, record.owner, me):
                return None
            taken = stored_job(store, record.id)
            mode: CacheMode | None = "reuse" if ctx.cache else None
            return (yield from run_job(ctx, taken, prepared, detach, mode))
        error = SwapError(
            f"job {record.id} was never sent: the process running it stopped first; submit it again"
        )
        record_error(ctx, record.id, error, state="failed")
        raise _with_attempts(error, record)
    # it died between "about to submit" and the vendor's answer: never sent again
    if not store.take_over(record.id, record.owner, me):
        return None
    taken = stored_job(store, record.id)
    save_job(ctx, taken, state="unknown")
    raise _with_attempts(unknown_from_record(taken), taken)


def resume_job(
    ctx: JobContext, record: JobRecord, limit: float | None, *, late: bool = False
) -> Generator[Step, Any, SwapResult]:
    """Finish a job the vendor accepted: poll (free), download, record the result.

    `late` (a webhook that says the job is done) gives the fetch a fresh deadline of its own,
    whatever is left of the job's.
    """
    provider = ctx.provider(record.provider or "")
    finish = Finish(**(record.request.get("finish") or {}))
    url = (record.result or {}).get("url")
    pending = Pending(job_id=record.vendor_job_id or "", model=record.model)
    deadline_at = time.time() + ctx.deadline if late else record.deadline_at
    budget = ctx.budget(deadline_at, limit)
    run = Run(provider, budget, ctx.router.policy, record.id, model=record.model)
    try:
        result = yield from resume_flow(run, pending, finish, result_url=url)
    except ProviderTimeout as exc:
        if limit is not None and time.time() < record.deadline_at:
            raise JobStillRunning(
                f"job {record.id} is still running at {provider.name}; wait again, or later "
                f"with client.job({record.id!r})",
                job_id=record.id,
                status=JobStatus.of(record),
            ) from None
        record_error(ctx, record.id, exc)
        raise _with_attempts(exc, record) from None
    except SwapError as exc:
        record_error(ctx, record.id, exc)
        raise _with_attempts(exc, record) from None
    attempts = tuple(attempt_from_record(a) for a in record.attempts)
    result = dataclasses.replace(
        result, swap_id=record.id, attempts=attempts, spent_usd=record.spent_usd
    )
    mode: CacheMode | None = "reuse" if ctx.cache else None
    record_success(ctx, record.id, result, mode)
    return result


def token_flow(
    ctx: JobContext, token: JobToken, timeout: float | None = None
) -> Generator[Step, Any, SwapResult]:
    """Finish a job from its token alone (no store): poll, download, measure."""
    provider = ctx.provider(token.provider)
    budget = ctx.budget(token.deadline_at, timeout)
    run = Run(provider, budget, ctx.router.policy, token.id, model=token.model)
    pending = Pending(job_id=token.vendor_job_id, model=token.model)
    try:
        result = yield from resume_flow(run, pending, token.finish)
    except ProviderTimeout:
        if timeout is not None and time.time() < token.deadline_at:
            raise JobStillRunning(
                f"job {token.id} is still running at {provider.name}",
                job_id=token.id,
                status=JobStatus(token.id, "running", token.provider, token.vendor_job_id),
            ) from None
        raise
    return dataclasses.replace(result, swap_id=token.id)


def _stored_result(ctx: JobContext, record: JobRecord) -> Generator[Step, Any, SwapResult]:
    """The result of a job that succeeded: its cached file, or fetched again from its URL."""
    result = record.result or {}
    cached = result.get("cache_path")
    attempts = tuple(attempt_from_record(a) for a in record.attempts)
    if cached and Path(cached).is_file():
        return _from_metadata(Path(cached).read_bytes(), result, record, attempts)
    url = result.get("url")
    expires = result.get("expires_at")
    if not url or (expires is not None and expires <= time.time()):
        raise _with_attempts(
            ResultExpired(
                f"job {record.id} succeeded, but its result was not kept and the vendor's URL "
                "has expired; turn the result cache on (SwapClient(cache=True)) to keep results",
                provider=record.provider,
            ),
            record,
        )
    provider = ctx.provider(record.provider or "")
    run = Run(provider, ctx.budget(time.time() + ctx.deadline), ctx.router.policy, record.id)
    pending = Pending(job_id=record.vendor_job_id or "", model=record.model)
    fetched = yield from resume_flow(
        run, pending, Finish(**(record.request.get("finish") or {})), url
    )
    return dataclasses.replace(
        fetched,
        swap_id=record.id,
        attempts=attempts,
        spent_usd=record.spent_usd,
        cost_usd=result.get("cost_usd"),
        elapsed_seconds=float(result.get("elapsed_seconds") or 0.0),
    )


def _from_metadata(
    image: bytes, result: dict[str, Any], record: JobRecord, attempts: tuple[Any, ...]
) -> SwapResult:
    info = inspect_image(image, provider=result.get("provider"))
    return SwapResult(
        provider=result.get("provider") or record.provider or "",
        image=image,
        media_type=info.media_type,
        width=info.width,
        height=info.height,
        model=result.get("model"),
        job_id=result.get("job_id"),
        processing_seconds=result.get("processing_seconds"),
        elapsed_seconds=float(result.get("elapsed_seconds") or 0.0),
        cost_usd=result.get("cost_usd"),
        credits_used=result.get("credits_used"),
        faces_detected=result.get("faces_detected"),
        attempts=attempts,
        spent_usd=record.spent_usd,
        swap_id=record.id,
    )


# -- the result cache ------------------------------------------------------------------------


def _cached(ctx: JobContext, key: str) -> SwapResult | None:
    entry = ctx.store.cache_get(key)
    if entry is None or not Path(entry.path).is_file():
        return None
    image = Path(entry.path).read_bytes()
    info = inspect_image(image)
    meta = entry.metadata
    return SwapResult(
        provider=meta.get("provider") or "",
        image=image,
        media_type=info.media_type,
        width=info.width,
        height=info.height,
        model=meta.get("model"),
        job_id=meta.get("job_id"),
        processing_seconds=meta.get("processing_seconds"),
        cost_usd=0.0,
        spent_usd=0.0,
        cached=True,
    )


def _keep(ctx: JobContext, key: str, result: SwapResult) -> str | None:
    """Store the result's bytes in the ledger's folder (cache on only); the file's path."""
    from swapkit.core.ledger import CacheEntry

    folder = ctx.store.folder
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.{result.extension}"
    temporary = path.with_suffix(path.suffix + ".part")
    temporary.write_bytes(result.image)
    temporary.replace(path)
    metadata = result_record(result)
    metadata.pop("url", None)  # a vendor URL is never handed out again from the cache
    ctx.store.cache_put(CacheEntry(key, str(path), result.media_type, time.time(), metadata))
    return str(path)


# -- recording -------------------------------------------------------------------------------


def stored_job(store: JobStore, job_id: str) -> JobRecord:
    """The job's record, which must exist (it was just written, or read a moment ago)."""
    record = store.get(job_id)
    if record is None:  # pragma: no cover - the job was just written
        raise InvalidRequest(f"job {job_id} vanished from the ledger")
    return record


def _abandoned(ctx: JobContext, job_id: str) -> None:
    """Record a swap this process stopped running (a cancelled task, Ctrl-C) so that nobody
    waits for it: a job never sent is released for the next caller to run; one whose submit
    may have gone out is ``unknown`` (never sent again); an accepted one stays ``running``,
    for anyone to resume."""
    try:
        record = ctx.store.get(job_id)
        if record is None or record.owner != owner_id():
            return
        if record.state == "queued":
            save_job(ctx, record, owner=None)
        elif record.state == "submitting":
            save_job(ctx, record, state="unknown")
    except Exception:  # recording must not mask the cancellation itself
        logging.getLogger("swapkit").exception("swapkit: could not record job %s", job_id)


def save_job(ctx: JobContext, record: JobRecord, **changes: Any) -> None:
    """Store `record` with `changes`; a change of state is told to the observers and logged."""
    saved = record.copy(updated_at=time.time(), **changes)
    ctx.store.save(saved)
    if saved.state != record.state and ctx.router.events is not None:
        ctx.router.events.job_changed(saved.id, saved.state, saved.provider, saved.vendor_job_id)


def record_success(
    ctx: JobContext, job_id: str, result: SwapResult, mode: CacheMode | None
) -> None:
    """Record the job's result (kept in the cache when `mode` says so): it has succeeded."""
    record = stored_job(ctx.store, job_id)
    metadata = result_record(result)
    if mode is not None and not result.cached:
        path = _keep(ctx, record.request_key, result)
        if path is not None:
            metadata["cache_path"] = path
    save_job(
        ctx,
        record,
        state="succeeded",
        provider=result.provider,
        vendor_job_id=result.job_id or record.vendor_job_id,
        model=result.model or record.model,
        attempts=[attempt_record(a) for a in result.attempts] or record.attempts,
        spent_usd=result.spent_usd if result.attempts else record.spent_usd,
        result=metadata,
        error=None,
    )


def record_error(
    ctx: JobContext, job_id: str, error: SwapError, *, state: str | None = None
) -> None:
    """Record the error a job ended with (an unknown outcome as ``unknown``)."""
    from swapkit.core.errors import OutcomeUnknown

    record = ctx.store.get(job_id)
    if record is None:
        return
    attempts = [attempt_record(a) for a in error.attempts] or record.attempts
    final = state or ("unknown" if isinstance(error, OutcomeUnknown) else "failed")
    provider = error.provider if isinstance(error, ProviderError) else None
    save_job(
        ctx,
        record,
        state=final,
        provider=record.provider or provider,
        attempts=attempts,
        spent_usd=spent(tuple(attempt_from_record(a) for a in attempts)),
        error=error_record(error),
    )


def _with_attempts(error: SwapError, record: JobRecord) -> SwapError:
    """`error`, carrying the job's id, attempts and money as recorded."""
    error.swap_id = record.id
    error.attempts = tuple(attempt_from_record(a) for a in record.attempts)
    error.spent_usd = record.spent_usd
    return error
