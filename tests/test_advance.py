"""Engine-neutral jobs: `enqueue` records a job with no network call, `advance` moves it one step
and is safe from any number of workers at once (threads, processes), never submitting twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pluggy
import pytest

from swapkit import AsyncSwapClient, JobStatus, SwapClient, errors
from swapkit.core.ledger import SqliteLedger
from swapkit.sandbox import Fault
from swapkit.testing import FakeClock

from .conftest import make_image

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    return {"job_seconds": 0.2, "credits": 10_000}


@pytest.fixture
def sandbox(swapkit_sandbox_server: Any) -> Any:
    return swapkit_sandbox_server.sandbox


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger" / "swapkit.db"


@pytest.fixture
def options(
    swapkit_sandbox_server: Any, ledger: Path, plugin_manager: pluggy.PluginManager
) -> dict[str, Any]:
    def settings(name: str) -> dict[str, Any]:
        vendor = swapkit_sandbox_server.sandbox.vendors[name]
        return {
            "api_key": vendor.default_api_keys[0],
            "base_url": swapkit_sandbox_server.base_url(name),
            "mode": "async",
            "poll_interval": 0.05,
        }

    return {
        "providers": {"prospolabs": settings("prospolabs"), "deepswapai": settings("deepswapai")},
        "ledger": ledger,
        "plugin_manager": plugin_manager,
        "deadline": 60,
    }


def _images(folder: Path, count: int) -> list[tuple[Path, Path]]:
    """`count` distinct face/scene pairs on disk (distinct, so the sandbox's request log tells
    the jobs apart by their images)."""
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for index in range(count):
        face, scene = folder / f"face-{index}.png", folder / f"scene-{index}.png"
        face.write_bytes(make_image((48, 40), (200, 150, (index * 7) % 256)))
        scene.write_bytes(make_image((64, 56), (30, 90, (index * 11) % 256)))
        pairs.append((face, scene))
    return pairs


def _enqueued(options: dict[str, Any], folder: Path, count: int) -> list[str]:
    """`count` jobs enqueued (nothing sent), each with images of its own."""
    with SwapClient(**options) as client:
        return [client.enqueue(source=f, target=s) for f, s in _images(folder / "in", count)]


def _record(store: SqliteLedger, job_id: str, **changes: Any) -> None:
    """Change a job's record behind swapkit's back, as a worker that died would have left it."""
    record = store.get(job_id)
    assert record is not None
    store.save(record.copy(**changes))


def _submits_per_job(sandbox: Any) -> dict[str, int]:
    """How many submits reached any vendor for each source image (one job each)."""
    counts: dict[str, int] = {}
    for request in sandbox.requests:
        if request.method != "POST" or not request.body.startswith(b"{"):
            continue
        digest = hashlib.sha256(request.body[:4000]).hexdigest()
        try:
            body = json.loads(request.body)
        except ValueError:
            continue
        source = body.get("source_image") or body.get("source") or digest
        key = hashlib.sha256(str(source).encode()).hexdigest()[:12]
        counts[key] = counts.get(key, 0) + 1
    return counts


def _drain(kind: str, options: dict[str, Any], job_ids: list[str]) -> dict[str, JobStatus]:
    """Advance every job until it ends, like a task queue re-running a task."""
    final: dict[str, JobStatus] = {}

    def pending() -> list[str]:
        return [job_id for job_id in job_ids if job_id not in final]

    def note(status: JobStatus) -> None:
        if status.state not in ("queued", "running"):
            final[status.id] = status

    if kind == "sync":
        with SwapClient(**options) as client:
            for _ in range(400):
                if not pending():
                    break
                for job_id in pending():
                    note(client.advance(job_id))
                time.sleep(0.02)
        return final

    async def run() -> None:
        async with AsyncSwapClient(**options) as client:
            for _ in range(400):
                if not pending():
                    break
                for job_id in pending():
                    note(await client.advance(job_id))
                await asyncio.sleep(0.02)

    asyncio.run(run())
    return final


def test_enqueue_records_a_job_and_sends_nothing(
    options: dict[str, Any], sandbox: Any, tmp_path: Path
) -> None:
    ((face, scene),) = _images(tmp_path / "in", 1)
    with SwapClient(**options) as client:
        job_id = client.enqueue(source=face, target=scene)
        again = client.enqueue(source=face, target=scene, idempotency_key="page-1")
        assert client.enqueue(source=face, target=scene, idempotency_key="page-1") == again
        statuses = {status.id: status.state for status in client.jobs()}
    assert statuses == {job_id: "queued", again: "queued"}
    assert sandbox.requests == []


def test_enqueue_checks_inputs_before_anything_is_recorded(
    options: dict[str, Any], tmp_path: Path
) -> None:
    with SwapClient(**options) as client:
        with pytest.raises(errors.InvalidRequest, match="workers can read"):
            client.enqueue(source=make_image(), target=make_image())
        with pytest.raises(errors.InvalidRequest):
            client.enqueue(source=tmp_path / "missing.png", target=tmp_path / "missing.png")
        ((face, scene),) = _images(tmp_path / "in", 1)
        client.enqueue(source=face, target=scene, idempotency_key="k")
        with pytest.raises(errors.IdempotencyConflict):
            client.enqueue(source=scene, target=face, idempotency_key="k")
        assert len(client.jobs()) == 1


def test_advance_submits_once_polls_and_finishes(
    kind: str, options: dict[str, Any], sandbox: Any, tmp_path: Path
) -> None:
    ((face, scene),) = _images(tmp_path / "in", 1)
    with SwapClient(**options) as client:
        job_id = client.enqueue(source=str(face), target=scene)
    (status,) = _drain(kind, options, [job_id]).values()
    assert status.state == "succeeded"
    assert status.spent_usd is not None
    assert status.spent_usd > 0
    assert sum(_submits_per_job(sandbox).values()) == 1
    with SwapClient(**options) as client:
        result = client.job(job_id).wait()
    assert (result.width, result.height) == (64, 56)


def test_advance_of_a_finished_job_sends_nothing(
    kind: str, options: dict[str, Any], sandbox: Any, tmp_path: Path
) -> None:
    ((face, scene),) = _images(tmp_path / "in", 1)
    with SwapClient(**options) as client:
        job_id = client.enqueue(source=face, target=scene)
    _drain(kind, options, [job_id])
    seen = len(sandbox.requests)
    with SwapClient(**options) as client:
        assert client.advance(job_id).state == "succeeded"
    assert len(sandbox.requests) == seen


def test_inputs_changed_after_enqueue_fail_the_job(
    kind: str, options: dict[str, Any], sandbox: Any, tmp_path: Path
) -> None:
    ((face, scene),) = _images(tmp_path / "in", 1)
    with SwapClient(**options) as client:
        job_id = client.enqueue(source=face, target=scene)
    face.write_bytes(make_image((48, 40), (1, 2, 3)))
    (status,) = _drain(kind, options, [job_id]).values()
    assert status.state == "failed"
    assert sandbox.requests == []


def test_a_job_queued_past_its_deadline_fails_unsent(
    options: dict[str, Any], sandbox: Any, tmp_path: Path
) -> None:
    ((face, scene),) = _images(tmp_path / "in", 1)
    with SwapClient(**options) as client:
        job_id = client.enqueue(source=face, target=scene, deadline=0.05)
        time.sleep(0.1)
        status = client.advance(job_id)
    assert status.state == "failed"
    assert status.spent_usd == 0
    assert sandbox.requests == []


def test_a_job_left_submitting_by_a_dead_worker_becomes_unknown(
    options: dict[str, Any], sandbox: Any, tmp_path: Path, ledger: Path
) -> None:
    (job_id,) = _enqueued(options, tmp_path, 1)
    store = SqliteLedger(ledger)
    _record(store, job_id, state="submitting")  # "about to submit" recorded, then killed
    assert store.lease(job_id, "dead-host:1:x", 0.2)
    with SwapClient(**options) as client:
        assert client.advance(job_id).state == "running"  # its lease is still held
        time.sleep(0.25)
        assert client.advance(job_id).state == "unknown"  # never submitted again
    store.close()
    assert sandbox.requests == []


def _dead_process() -> str:
    """``host:pid`` of a process of this host that has exited."""
    from swapkit.core.ledger import owner_id

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{owner_id().rpartition(':')[0]}:{child.pid}"


def test_a_lease_held_by_a_dead_local_worker_is_taken_over_at_once(
    kind: str, options: dict[str, Any], sandbox: Any, tmp_path: Path, ledger: Path
) -> None:
    queued, taken, submitting = _enqueued(options, tmp_path, 3)
    dead = _dead_process()
    store = SqliteLedger(ledger)
    for job_id in (queued, taken, submitting):
        assert store.lease(job_id, f"{dead}:worker", 600)  # a lease that outlives the worker
    assert store.take_over(taken, None, dead)  # it had taken the job, then died
    _record(store, submitting, state="submitting", owner=dead)  # died with the submit out
    store.close()

    final = _drain(kind, options, [queued, taken, submitting])
    assert final[queued].state == "succeeded"
    assert final[taken].state == "succeeded"
    assert final[submitting].state == "unknown"  # may have been paid: never sent again
    assert sorted(_submits_per_job(sandbox).values()) == [1, 1]


def test_a_lease_held_by_a_live_worker_is_left_alone(
    options: dict[str, Any], sandbox: Any, tmp_path: Path, ledger: Path
) -> None:
    from swapkit.core.ledger import owner_id

    (job_id,) = _enqueued(options, tmp_path, 1)
    with SwapClient(**options) as client:
        store = SqliteLedger(ledger)
        assert store.lease(job_id, f"{owner_id()}:another-thread", 600)
        assert store.lease_holder(job_id) == f"{owner_id()}:another-thread"
        assert client.advance(job_id).state == "queued"
        assert store.lease(job_id, "elsewhere:123:x", 600) is False
        store.release_lease(job_id, f"{owner_id()}:another-thread")
        assert store.lease(job_id, "elsewhere:123:x", 600)  # a host this one cannot see
        assert client.advance(job_id).state == "queued"
        store.close()
    assert sandbox.requests == []


def test_threads_advancing_the_same_jobs_submit_each_once(
    options: dict[str, Any], sandbox: Any, tmp_path: Path
) -> None:
    pairs = _images(tmp_path / "in", 12)
    with SwapClient(**options) as client:
        job_ids = [client.enqueue(source=face, target=scene) for face, scene in pairs]

    def worker() -> None:
        with SwapClient(**options) as client:
            for _ in range(200):
                states = [client.advance(job_id).state for job_id in job_ids]
                if all(state not in ("queued", "running") for state in states):
                    return
                time.sleep(0.01)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with SwapClient(**options) as client:
        assert {client.advance(job_id).state for job_id in job_ids} == {"succeeded"}
    counts = _submits_per_job(sandbox)
    assert len(counts) == len(job_ids)
    assert set(counts.values()) == {1}


def test_processes_advancing_the_same_jobs_submit_each_once(
    options: dict[str, Any], sandbox: Any, tmp_path: Path, ledger: Path
) -> None:
    pairs = _images(tmp_path / "in", 16)
    with SwapClient(**options) as client:
        job_ids = [client.enqueue(source=face, target=scene) for face, scene in pairs]
    settings = json.dumps(options["providers"])
    command = [sys.executable, "-m", "tests.advance_child", str(ledger), settings, *job_ids]
    children = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for child in children:
        _, stderr = child.communicate(timeout=90)
        assert child.returncode == 0, stderr.decode()
    with SwapClient(**options) as client:
        assert {client.advance(job_id).state for job_id in job_ids} == {"succeeded"}
    counts = _submits_per_job(sandbox)
    assert len(counts) == len(job_ids)
    assert set(counts.values()) == {1}


def test_random_faults_at_volume_never_pay_twice_and_lose_nothing(
    options: dict[str, Any], sandbox: Any, tmp_path: Path
) -> None:
    rng = random.Random(7)
    pairs = _images(tmp_path / "in", 30)
    faults = [
        Fault(provider="prospolabs", status=503, fraction=0.3, seed=1),
        Fault(provider="deepswapai", kind="drop", after_processing=True, fraction=0.1, seed=2),
        Fault(
            provider="prospolabs",
            kind="drop",
            method="POST",
            after_processing=True,
            fraction=0.15,
            seed=5,
        ),
        Fault(provider="prospolabs", kind="job_failed", fraction=0.2, seed=3),
        Fault(provider="deepswapai", status=429, fraction=0.2, seed=4),
    ]
    for fault in faults:
        sandbox.faults.add(fault)
    with SwapClient(**options) as client:
        job_ids = [client.enqueue(source=face, target=scene) for face, scene in pairs]
    rng.shuffle(job_ids)
    # the client's waits (back-off, a paused vendor's Retry-After) on a fake clock
    final = _drain("sync", {**options, "clock": FakeClock()}, job_ids)
    assert set(final) == set(job_ids), "a job was lost"
    assert {status.state for status in final.values()} <= {"succeeded", "failed", "unknown"}
    states = [status.state for status in final.values()]
    assert {"succeeded", "failed", "unknown"} <= set(states), states
    # at most one submit per job reached a vendor that could have accepted it
    counts = _submits_per_job(sandbox)
    assert max(counts.values()) <= 2  # a refused 503/429 submit is free; then one elsewhere
    for status in final.values():
        charged = [a for a in status.attempts if a.charged is not False]
        assert len(charged) <= 1, status


@pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1"])
def test_fake_clock_advances_without_waiting(
    plugin_manager: pluggy.PluginManager, tmp_path: Path
) -> None:
    from swapkit.sandbox import Sandbox

    clock = FakeClock()
    ((face, scene),) = _images(tmp_path / "in", 1)
    with Sandbox(clock=clock, job_seconds=30) as sandbox, sandbox.serve() as server:
        settings = {
            "api_key": "prsp-sandbox",
            "base_url": server.base_url("prospolabs"),
            "mode": "async",
        }
        with SwapClient(
            providers={"prospolabs": settings},
            clock=clock,
            plugin_manager=plugin_manager,
            ledger=tmp_path / "l.db",
        ) as client:
            job_id = client.enqueue(source=face, target=scene)
            assert client.advance(job_id).state == "running"
            assert client.advance(job_id).state == "running"
            clock.advance(31)
            assert client.advance(job_id).state == "succeeded"
