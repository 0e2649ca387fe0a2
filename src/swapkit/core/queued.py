"""Queued jobs: `enqueue` records a job here, `advance_flow` moves it forward anywhere.

The two functions behind `SwapClient.enqueue` / `SwapClient.advance`, which let any task queue
(Celery, arq, RQ, …) run swaps while swapkit alone decides what is safe to send:

* `enqueue` checks the inputs now and records a ``queued`` job, with no network call.  The
  inputs are kept by reference (a path the workers can read, a URL) with their keyed digests,
  never as images: the ledger keeps facts, not faces.
* `advance_flow` leases the job to one caller, then takes one step: a ``queued`` job is
  submitted (through the same flow as `swap()`, so ``submitting`` is recorded before the paid
  request and failover applies), an accepted job is polled once, and a job left
  ``submitting`` by a caller that is gone becomes ``unknown``, never sent again.  Any number
  of workers may call it on one job at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

from swapkit.core.errors import IdempotencyConflict, InvalidRequest, SwapError
from swapkit.core.flow import Finish, Run, Step, poll_once_flow
from swapkit.core.images import is_file_reference
from swapkit.core.jobflow import (
    JobContext,
    new_job_record,
    record_error,
    record_success,
    resume_job,
    run_job,
    save_job,
    stored_job,
)
from swapkit.core.jobs import attempt_from_record, request_key, request_summary
from swapkit.core.ledger import JobRecord, JobStore, owner_alive, owner_id
from swapkit.core.models import SwapRequest, Template
from swapkit.core.provider import Pending, PreparedSwap
from swapkit.core.routing import prepare

__all__ = ["advance_flow", "enqueue"]


def _reference(value: Any, what: str) -> Any:
    """How a queued job names an input so that another process can load it: a URL or an
    absolute path, never the image itself (the ledger keeps facts, not faces)."""
    if isinstance(value, Template):
        return {"template": dataclasses.asdict(value)}
    if value is None:
        return None
    if isinstance(value, bytes):
        raise InvalidRequest(
            f"a queued job is run by another process, which cannot see {what} bytes held in "
            f"this one: save the {what} where the workers can read it and pass its path, or "
            "pass a URL"
        )
    if isinstance(value, Path) or is_file_reference(value):
        return str(Path(value).expanduser().resolve())
    return str(value)


def _unreference(value: Any) -> Any:
    if isinstance(value, dict) and "template" in value:
        return Template(**value["template"])
    return value


def enqueue(ctx: JobContext, request: SwapRequest, idempotency_key: str | None) -> JobRecord:
    """Record a ``queued`` job for `request`, with no network call; the job that already holds
    `idempotency_key` when there is one (`IdempotencyConflict` for another request).

    The inputs are loaded and checked now (a missing file fails here, not in a worker), and
    recorded by reference, with their keyed digests: `advance_flow` loads them again and
    refuses inputs that changed in between.
    """
    prepared = prepare(request)
    record = new_job_record(ctx, prepared, idempotency_key, owner=None)
    record.request["inputs"] = {
        "source": _reference(request.source, "source"),
        "target": _reference(request.target, "target"),
        "fields": request.model_dump(mode="json", exclude={"source", "target"}),
    }
    held = ctx.store.claim(record)
    if held.id != record.id and held.request_key != record.request_key:
        raise IdempotencyConflict(
            f"the idempotency key {idempotency_key!r} belongs to job {held.id}, made for "
            "another request (other images or output fields); use a new key for a new swap",
            job_id=held.id,
        )
    if held.id == record.id and ctx.router.events is not None:
        ctx.router.events.job_changed(held.id, "queued", None, None)
    return held


def _queued_request(ctx: JobContext, record: JobRecord) -> PreparedSwap:
    """The queued job's request, loaded again from its references and checked unchanged."""
    inputs = record.request.get("inputs")
    if not isinstance(inputs, dict):
        raise InvalidRequest(
            f"job {record.id} was not enqueued (it has no recorded inputs): it cannot be "
            "advanced from another process"
        )
    fields = dict(inputs.get("fields") or {})
    request = SwapRequest(
        source=_unreference(inputs.get("source")),
        target=_unreference(inputs.get("target")),
        **fields,
    )
    prepared = prepare(request)
    if request_key(request_summary(prepared), ctx.store.secret()) != record.request_key:
        raise InvalidRequest(
            f"the inputs of job {record.id} changed after it was enqueued (a file was "
            "replaced or edited); enqueue the swap again"
        )
    return prepared


def advance_flow(
    ctx: JobContext, job_id: str, *, lease_seconds: float
) -> Generator[Step, Any, JobRecord]:
    """Move a job one step forward, safely from any number of processes at once.

    It leases the job (another holder's live lease means someone else is advancing it: the
    record is returned as it is; a lease held by a dead process of this host is taken over),
    then: a ``queued`` job is submitted (``submitting`` is
    recorded before the paid request goes out, and failover runs as for `swap()`); an accepted
    job is polled once, and finished when the vendor is done; a job found ``submitting`` (its
    advancer died between "about to submit" and the vendor's answer, or its lease ran out)
    becomes ``unknown`` and is never submitted again.  Swap errors end the job and are
    recorded, not raised.  The lease is released at the end.
    """
    store = ctx.store
    record = store.get(job_id)
    if record is None:
        raise InvalidRequest(f"no job {job_id!r} in this client's ledger")
    if record.final:
        return record
    holder = f"{owner_id()}:{uuid.uuid4().hex[:12]}"
    if not store.lease(job_id, holder, lease_seconds) and not (
        _release_dead_holder(store, job_id) and store.lease(job_id, holder, lease_seconds)
    ):
        return record
    try:
        record = stored_job(store, job_id)
        if record.final:
            return record
        with contextlib.suppress(SwapError):  # recorded on the job by the flow that raised it
            yield from _advance(ctx, record)
        return stored_job(store, job_id)
    finally:
        store.release_lease(job_id, holder)


def _release_dead_holder(store: JobStore, job_id: str) -> bool:
    """Free the job's lease when its holder is a process of this host that has died (a
    worker killed mid-advance); whether it did.

    A lease outlives its holder by design (a submit's lease lasts until the job's deadline),
    and without this a job whose worker died would wait that long for the next.  A holder on
    another host cannot be seen from here: its lease runs out instead.
    """
    holder_of = getattr(store, "lease_holder", None)  # a store written before it existed
    held_by = holder_of(job_id) if callable(holder_of) else None
    if not isinstance(held_by, str) or owner_alive(held_by.rpartition(":")[0]):
        return False
    store.release_lease(job_id, held_by)  # only if it is still that holder's
    return True


def _advance(ctx: JobContext, record: JobRecord) -> Generator[Step, Any, None]:
    store = ctx.store
    if record.state == "queued":
        if time.time() >= record.deadline_at:
            error = SwapError(f"job {record.id} reached its deadline before it was sent")
            record_error(ctx, record.id, error, state="failed")
            return
        try:
            prepared = _queued_request(ctx, record)
        except InvalidRequest as exc:
            record_error(ctx, record.id, exc, state="failed")
            return
        if not store.take_over(record.id, record.owner, owner_id()):
            return
        taken = stored_job(store, record.id)
        yield from run_job(ctx, taken, prepared, True, "refresh" if store.folder else None)
        return
    accepted = record.state == "running" and (
        record.vendor_job_id is not None or (record.result or {}).get("url")
    )
    if not accepted:
        # the lease is ours, so whoever recorded "submitting" is gone: never send it again
        save_job(ctx, record, state="unknown")
        return
    if (record.result or {}).get("url") or time.time() >= record.deadline_at:
        yield from resume_job(ctx, record, None)
        return
    provider = ctx.provider(record.provider or "")
    finish = Finish(**(record.request.get("finish") or {}))
    pending = Pending(job_id=record.vendor_job_id or "", model=record.model)
    run = Run(
        provider, ctx.budget(record.deadline_at), ctx.router.policy, record.id, model=record.model
    )
    try:
        outcome = yield from poll_once_flow(run, pending, finish)
    except SwapError as exc:
        record_error(ctx, record.id, exc)
        raise
    if isinstance(outcome, Pending):
        save_job(ctx, stored_job(store, record.id))  # touched: shows when it was last looked at
        return
    attempts = tuple(attempt_from_record(a) for a in record.attempts)
    result = dataclasses.replace(
        outcome, swap_id=record.id, attempts=attempts, spent_usd=record.spent_usd
    )
    record_success(ctx, record.id, result, "refresh" if store.folder else None)
