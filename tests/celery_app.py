"""The Celery application the worker processes of `tests/test_celery.py` run.

    python -m celery -A tests.celery_app worker --pool=threads -Q QUEUE

Configured from the environment the test gives each worker: the broker, the queue, the ledger
and the providers (JSON, pointing at the test's loopback sandbox).
"""

from __future__ import annotations

import json
import os

import stamina
from celery import Celery

from swapkit import SwapClient
from swapkit.integrations.celery import advance_task

stamina.set_testing(True, attempts=1)  # retries without waits, as in the rest of the suite

app = Celery("swapkit_tests", broker=os.environ.get("SWAPKIT_TEST_BROKER", "redis://127.0.0.1"))
app.conf.update(
    task_default_queue=os.environ.get("SWAPKIT_TEST_QUEUE", "swapkit-tests"),
    worker_prefetch_multiplier=1,
    # a task whose worker died is delivered again after this long (Redis broker)
    broker_transport_options={"visibility_timeout": 5},
    broker_connection_retry_on_startup=True,
)


def _client() -> SwapClient:
    return SwapClient(
        providers=json.loads(os.environ["SWAPKIT_TEST_PROVIDERS"]),
        ledger=os.environ["SWAPKIT_TEST_LEDGER"],
        deadline=float(os.environ.get("SWAPKIT_TEST_DEADLINE", "60")),
    )


advance = advance_task(app, _client, countdown=0.2)
