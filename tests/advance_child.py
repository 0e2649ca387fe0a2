"""A worker process that advances jobs until they end (`tests/test_advance.py`).

python -m tests.advance_child LEDGER PROVIDERS_JSON JOB_ID...
"""

from __future__ import annotations

import json
import sys
import time

import stamina

from swapkit import SwapClient
from swapkit.core.plugins import make_plugin_manager


def main() -> int:
    ledger, providers, *job_ids = sys.argv[1:]
    stamina.set_testing(True, attempts=1)
    manager = make_plugin_manager(entry_points=False)
    with SwapClient(
        providers=json.loads(providers), ledger=ledger, plugin_manager=manager, deadline=60
    ) as client:
        for _ in range(400):
            states = [client.advance(job_id).state for job_id in job_ids]
            if all(state not in ("queued", "running") for state in states):
                return 0
            time.sleep(0.02)
    return 1


if __name__ == "__main__":
    sys.exit(main())
