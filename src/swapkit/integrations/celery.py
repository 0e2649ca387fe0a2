"""Run swaps on Celery workers, each paid request sent exactly once.

    pip install 'swapkit[celery]'

    # tasks.py
    from celery import Celery
    from swapkit import SwapClient
    from swapkit.integrations.celery import advance_task

    app = Celery("myapp", broker="redis://localhost:6379/0")
    advance = advance_task(app, lambda: SwapClient(ledger="/srv/shared/swapkit.db"))

    # in the web process
    job_id = client.enqueue(source="/srv/shared/in/42.png", target="/srv/shared/pages/3.png")
    advance.delay(job_id)

Celery only schedules the work; swapkit decides what is safe to do.  The task calls
`SwapClient.advance` (which leases the job, submits it only from ``queued``, polls it once
otherwise, and settles a submit that died half-way as ``unknown``), then, while the job is
``queued`` or ``running``, schedules itself again after `countdown` seconds.  So:

- a **redelivered** task (a worker killed mid-task with ``task_acks_late``, or Redis's
  ``visibility_timeout`` passing under a long task) and a **duplicate** task (the job's id sent
  twice) are harmless: a second `advance` either finds the lease held and only re-schedules, or
  finds the job further along;
- the tasks are registered with ``acks_late=True`` and ``reject_on_worker_lost=True``, so a job
  whose worker died is picked up again rather than forgotten;
- each worker process builds its client once, from `client_factory`, on its first task.

The same two functions drive any engine; see docs/scaling.md for arq and RQ.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from celery import Celery, Task

from swapkit.core.client import SwapClient

__all__ = ["advance_task"]

#: States in which a job needs another `advance`.
_UNFINISHED = frozenset({"queued", "running"})


def advance_task(
    app: Celery,
    client_factory: Callable[[], SwapClient],
    *,
    name: str = "swapkit.advance",
    countdown: float = 2.0,
    **options: Any,
) -> Task:
    """Register, on `app`, the task that advances one job and re-schedules itself.

    `client_factory` builds the worker's `SwapClient` (it must share the ledger the jobs were
    enqueued in).  `countdown` is the pause, in seconds, between two looks at a job the vendor
    is still working on.  Other keywords are Celery task options (``queue=``,
    ``rate_limit=``, …); ``acks_late`` and ``reject_on_worker_lost`` default to True.
    The task returns the job's state.
    """
    if not countdown >= 0:
        raise ValueError("countdown must be 0 or more seconds")
    clients: dict[int, SwapClient] = {}
    lock = threading.Lock()

    def client() -> SwapClient:
        pid = os.getpid()  # a forked pool child builds its own: connections do not survive fork
        with lock:
            if pid not in clients:
                clients[pid] = client_factory()
            return clients[pid]

    task_options: dict[str, Any] = {
        "acks_late": True,
        "reject_on_worker_lost": True,
        "ignore_result": True,
        **options,
    }

    @app.task(name=name, bind=True, **task_options)  # type: ignore[untyped-decorator]
    def advance(self: Task, job_id: str) -> str:
        status = client().advance(job_id)
        if status.state in _UNFINISHED:
            self.apply_async((job_id,), countdown=countdown)
        return status.state

    task: Task = advance
    return task
