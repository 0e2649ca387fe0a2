"""A process that swaps through a ledger and may die on purpose (`tests/test_jobs.py`).

    python -m tests.jobs_child LEDGER BASE_URL KEY [--die-at POINT] [--submit] [--out FILE]

It swaps the face and scene it writes itself through Prospolabs' async endpoint on the loopback
sandbox at BASE_URL, with idempotency key KEY, and prints one JSON line: the outcome.  With
`--die-at`, it kills itself with SIGKILL at that point: ``before-post`` (the submit is about
to leave), ``accepted`` (the vendor accepted the job), ``polling`` (the first poll) or
``downloading`` (the result's download).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

import httpx

import swapkit
from swapkit import SwapClient, errors

from .conftest import make_image

FACE = make_image((48, 40), (220, 180, 150))
SCENE = make_image((64, 56), (30, 90, 160))
_PATHS = {"before-post": "/async", "polling": "/v1/jobs/", "downloading": "/results/"}


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class _DieOnAccept:
    @swapkit.hookimpl
    def job_accepted(self) -> None:
        _die()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("ledger")
    parser.add_argument("base_url")
    parser.add_argument("key")
    parser.add_argument("--die-at", choices=[*_PATHS, "accepted"])
    parser.add_argument("--submit", action="store_true")
    args = parser.parse_args()

    def hook(request: httpx.Request) -> None:
        if args.die_at in _PATHS and _PATHS[args.die_at] in request.url.path:
            _die()

    http = httpx.Client(event_hooks={"request": [hook]}, transport=swapkit.deadline_transport())
    observers = [_DieOnAccept()] if args.die_at == "accepted" else []
    settings = {
        "api_key": "prsp-sandbox",
        "base_url": args.base_url,
        "mode": "async",
        "poll_interval": 0.05,
    }
    providers = {"prospolabs": settings}
    outcome: dict[str, Any]
    with SwapClient(
        providers=providers, ledger=args.ledger, http_client=http, observers=observers
    ) as client:
        try:
            if args.submit:
                job = client.submit(source=FACE, target=SCENE, idempotency_key=args.key)
                outcome = {"submitted": job.id, "state": job.status().state}
            else:
                result = client.swap(source=FACE, target=SCENE, idempotency_key=args.key)
                outcome = {"result": result.swap_id, "size": [result.width, result.height]}
        except errors.SwapError as exc:
            outcome = {"error": type(exc).__name__, "swap_id": exc.swap_id}
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
