"""Real Celery workers drain queued swaps exactly once, even when one is killed mid-run.

Two worker processes (``celery worker --pool=threads``, Redis broker) advance 200 jobs against
two vendors on the loopback sandbox; the workers try the vendors in opposite orders, so both
get work.  One worker is killed with SIGKILL while jobs are in flight.  Every job must end
(succeeded, failed or unknown: a typed outcome, none lost), and no job may reach a vendor
twice: the sandbox's request log and its credits say what each vendor was asked and charged.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swapkit import SwapClient

from .conftest import make_image

ROOT = Path(__file__).resolve().parent.parent
JOBS = 200

pytestmark = pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1", "localhost"])


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    return {"job_seconds": 0.3, "credits": 10_000}


def _settings(server: Any, name: str) -> dict[str, Any]:
    vendor = server.sandbox.vendors[name]
    return {
        "api_key": vendor.default_api_keys[0],
        "base_url": server.base_url(name),
        "poll_interval": 0.05,
    }


@contextlib.contextmanager
def _worker(
    env: dict[str, str], queue: str, name: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker",
        "--pool=threads", "--concurrency=6", "-Q", queue, "-n", f"{name}@%h",
        "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "WARNING",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)


def _source_key(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    source = data.get("source_image") if isinstance(data, dict) else None
    return str(source)[:200] if source else None


def test_two_workers_drain_jobs_exactly_once_when_one_is_killed(
    redis_url: str, swapkit_sandbox_server: Any, tmp_path: Path
) -> None:
    from celery import Celery

    sandbox = swapkit_sandbox_server.sandbox
    ledger = tmp_path / "swapkit.db"
    prospolabs = {**_settings(swapkit_sandbox_server, "prospolabs"), "mode": "async"}
    deepswapai = _settings(swapkit_sandbox_server, "deepswapai")
    queue = f"swapkit-test-{uuid.uuid4().hex[:8]}"
    base_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SWAPKIT_")},
        "SWAPKIT_SANDBOX_DISABLE_PLUGINS": "1",
        "SWAPKIT_TEST_BROKER": redis_url,
        "SWAPKIT_TEST_QUEUE": queue,
        "SWAPKIT_TEST_LEDGER": str(ledger),
        "SWAPKIT_TEST_DEADLINE": "15",
    }
    orders = [
        {"prospolabs": prospolabs, "deepswapai": deepswapai},
        {"deepswapai": deepswapai, "prospolabs": prospolabs},
    ]
    with SwapClient(providers=orders[0], ledger=ledger, deadline=15) as client:
        folder = tmp_path / "in"
        folder.mkdir()
        job_ids = []
        for index in range(JOBS):
            face, scene = folder / f"f{index}.png", folder / f"s{index}.png"
            face.write_bytes(make_image((48, 40), (index % 256, 150, (index * 7) % 256)))
            scene.write_bytes(make_image((64, 56), (30, 90, 160)))
            job_ids.append(client.enqueue(source=face, target=scene))

        sender = Celery(broker=redis_url)
        sender.conf.broker_connection_retry_on_startup = True
        try:
            with (
                _worker({**base_env, "SWAPKIT_TEST_PROVIDERS": json.dumps(orders[0])}, queue,
                        "first", tmp_path / "first.log") as first,
                _worker({**base_env, "SWAPKIT_TEST_PROVIDERS": json.dumps(orders[1])}, queue,
                        "second", tmp_path / "second.log"),
            ):  # fmt: skip
                for job_id in job_ids:
                    sender.send_task("swapkit.advance", (job_id,), queue=queue)
                    sender.send_task("swapkit.advance", (job_id,), queue=queue)  # a duplicate
                killed = False
                give_up = time.monotonic() + 120
                while time.monotonic() < give_up:
                    states = [status.state for status in client.jobs(limit=JOBS)]
                    done = sum(state not in ("queued", "running") for state in states)
                    if not killed and done >= JOBS // 4:
                        first.send_signal(signal.SIGKILL)  # mid-run, tasks in flight
                        first.wait(timeout=30)
                        killed = True
                    if done == JOBS:
                        break
                    time.sleep(0.25)
                final = {status.id: status for status in client.jobs(limit=JOBS)}
        finally:
            with contextlib.suppress(Exception):
                sender.connection_for_write().default_channel.queue_purge(queue)
            sender.close()

    logs = "\n".join((tmp_path / f"{n}.log").read_text()[-3000:] for n in ("first", "second"))
    assert killed, f"the first worker was never killed: the jobs did not progress\n{logs}"
    unfinished = [s.id for s in final.values() if s.state in ("queued", "running")]
    assert not unfinished, f"{len(unfinished)} jobs were lost\n{logs}"
    assert set(final) == set(job_ids)
    states = [status.state for status in final.values()]
    assert states.count("succeeded") >= JOBS // 2, {s: states.count(s) for s in set(states)}

    # no job reached a vendor twice, and every credit taken belongs to one job's one submit
    submits: dict[str, int] = {}
    for request in sandbox.requests:
        if request.method == "POST":
            key = _source_key(request.body)
            if key is not None:
                submits[key] = submits.get(key, 0) + 1
    assert max(submits.values()) == 1, "a job was submitted twice"
    vendors = {"prospolabs": prospolabs, "deepswapai": deepswapai}
    charged = {
        name: 10_000 - (sandbox.credits_left(name, settings["api_key"]) or 0)
        for name, settings in vendors.items()
    }
    assert all(count > 0 for count in charged.values()), charged  # both vendors did work
    assert sum(charged.values()) == sum(submits.values())
    for status in final.values():
        assert sum(a.charged is not False for a in status.attempts) <= 1, status
