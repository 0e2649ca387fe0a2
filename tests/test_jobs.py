"""Durable jobs: submit and wait, handles in other processes, tokens, idempotency keys, the
ledger's contents, the result cache, and crashes at every point of a swap."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pluggy
import pytest

from swapkit import AsyncSwapClient, SwapClient, SwapResult, errors
from swapkit.core.ledger import SqliteLedger
from swapkit.sandbox import Fault

from .conftest import make_image
from .jobs_child import FACE, SCENE

OTHER = make_image((40, 40), (10, 200, 10))


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    return {"job_seconds": 0.3, "credits": 100}


@pytest.fixture
def sandbox(swapkit_sandbox_server: Any) -> Any:
    return swapkit_sandbox_server.sandbox


@pytest.fixture
def settings(swapkit_sandbox_server: Any) -> dict[str, Any]:
    url = swapkit_sandbox_server.base_url("prospolabs")
    return {"api_key": "prsp-sandbox", "base_url": url, "mode": "async", "poll_interval": 0.05}


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger" / "swapkit.db"


@pytest.fixture
def options(
    settings: dict[str, Any], ledger: Path, plugin_manager: pluggy.PluginManager
) -> dict[str, Any]:
    return {
        "providers": {"prospolabs": settings},
        "ledger": ledger,
        "plugin_manager": plugin_manager,
    }


def submits(sandbox: Any) -> int:
    return sum(r.path.endswith("/async") for r in sandbox.requests)


def charged(sandbox: Any) -> int:
    return 100 - sandbox.credits_left("prospolabs", "prsp-sandbox")


# -- handles ---------------------------------------------------------------------------------


def test_submit_returns_once_accepted_and_wait_finishes(
    kind: str, options: dict[str, Any], sandbox: Any
) -> None:
    if kind == "sync":
        with SwapClient(**options) as client:
            job = client.submit(source=FACE, target=SCENE)
            status = job.status()
            result = job.wait()
    else:

        async def go() -> tuple[Any, Any]:
            async with AsyncSwapClient(**options) as client:
                job = await client.submit(source=FACE, target=SCENE)
                return job.status(), await job.wait()

        status, result = asyncio.run(go())
    assert status.state == "running"
    assert status.provider == "prospolabs"
    assert status.vendor_job_id
    assert isinstance(result, SwapResult)
    assert result.swap_id == status.id
    assert (result.width, result.height) == (64, 56)
    assert submits(sandbox) == 1


def test_a_sync_only_vendor_still_gives_a_handle(
    swapkit_sandbox_server: Any, ledger: Path, plugin_manager: pluggy.PluginManager
) -> None:
    url = swapkit_sandbox_server.base_url("deepswapai")
    providers = {"deepswapai": {"api_key": "ds-sandbox", "base_url": url}}
    with SwapClient(providers=providers, ledger=ledger, plugin_manager=plugin_manager) as client:
        job = client.submit(source=FACE, target=SCENE)
        assert job.status().state == "succeeded"
        assert job.result().provider == "deepswapai"


def test_a_job_is_finished_by_another_client_of_the_same_ledger(
    options: dict[str, Any], sandbox: Any
) -> None:
    with SwapClient(**options) as first:
        job_id = first.submit(source=FACE, target=SCENE).id
    with SwapClient(**options) as second:
        result = second.job(job_id).wait()
        assert result.swap_id == job_id
        assert [status.id for status in second.jobs()] == [job_id]
        assert second.jobs(state="succeeded")[0].state == "succeeded"
    assert submits(sandbox) == 1


def test_a_token_finishes_a_job_without_a_ledger(
    options: dict[str, Any], settings: dict[str, Any], plugin_manager: pluggy.PluginManager
) -> None:
    with SwapClient(**options) as first:
        job = first.submit(source=FACE, target=SCENE, output_format="png")
        token = job.to_token()
    assert "prsp-sandbox" not in token
    decoded = base64.urlsafe_b64decode(token[5:] + "==")
    assert FACE not in decoded
    assert b"token=" not in decoded  # no signed URL
    providers = {"prospolabs": settings}
    with SwapClient(providers=providers, plugin_manager=plugin_manager) as elsewhere:
        result = elsewhere.job(token).wait()
    assert result.media_type == "image/png"
    assert result.swap_id == job.id


def test_a_bounded_wait_leaves_the_job_running(
    options: dict[str, Any], swapkit_sandbox_server: Any
) -> None:
    swapkit_sandbox_server.sandbox.faults.add(
        Fault(provider="prospolabs", kind="latency", seconds=0.0, times=1)
    )
    with SwapClient(**options) as client:
        job = client.submit(source=FACE, target=SCENE)
        with pytest.raises(errors.JobStillRunning) as info:
            job.wait(timeout=0)
        assert info.value.job_id == job.id
        assert job.status().state == "running"
        assert job.wait(timeout=30).swap_id == job.id
        assert job.status().state == "succeeded"


def test_bad_handles_are_refused(options: dict[str, Any]) -> None:
    with SwapClient(**options) as client:
        with pytest.raises(errors.InvalidRequest, match="no job"):
            client.job("swp_nope")
        with pytest.raises(errors.InvalidRequest, match="token"):
            client.job("swk1.!!!")
        job = client.submit(source=FACE, target=SCENE)
        with pytest.raises(errors.ConfigurationError, match="timeout"):
            job.wait(timeout=-1)


# -- idempotency keys ------------------------------------------------------------------------


def test_an_idempotency_key_gives_the_same_job_and_one_submit(
    kind: str, options: dict[str, Any], sandbox: Any
) -> None:
    def twice() -> list[Any]:
        if kind == "sync":
            with SwapClient(**options) as client:
                return [
                    client.swap(source=FACE, target=SCENE, idempotency_key="book-7/p3")
                    for _ in "ab"
                ]

        async def go() -> list[Any]:
            async with AsyncSwapClient(**options) as client:
                return [
                    await client.swap(source=FACE, target=SCENE, idempotency_key="book-7/p3")
                    for _ in "ab"
                ]

        return asyncio.run(go())

    first, second = twice()
    assert first.swap_id == second.swap_id
    assert submits(sandbox) == 1
    assert charged(sandbox) == 1


def test_an_idempotency_key_for_another_request_is_refused(options: dict[str, Any]) -> None:
    with SwapClient(**options) as client:
        client.swap(source=FACE, target=SCENE, idempotency_key="k")
        with pytest.raises(errors.IdempotencyConflict) as info:
            client.swap(source=FACE, target=OTHER, idempotency_key="k")
        assert info.value.job_id.startswith("swp_")


def test_two_clients_racing_on_one_key_make_one_vendor_job(
    options: dict[str, Any], sandbox: Any
) -> None:
    results: list[Any] = []

    def one() -> None:
        with SwapClient(**options) as client:
            results.append(client.swap(source=FACE, target=SCENE, idempotency_key="race"))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({result.swap_id for result in results}) == 1
    assert submits(sandbox) == 1


# -- what the ledger holds -------------------------------------------------------------------


def test_the_ledger_holds_no_image_and_no_key(options: dict[str, Any], ledger: Path) -> None:
    with SwapClient(**options, cache=True) as client:
        client.swap(source=FACE, target=SCENE)
    stored = b"".join(path.read_bytes() for path in ledger.parent.glob("swapkit.db*"))
    for secret in (FACE, SCENE, base64.b64encode(FACE), b"prsp-sandbox"):
        assert secret not in stored
    import hashlib

    assert hashlib.sha256(FACE).hexdigest().encode() not in stored  # digests are keyed
    store = SqliteLedger(ledger)
    (record,) = store.list()
    assert record.state == "succeeded"
    assert record.attempts[0]["charged"] is True
    assert set(record.request["source"]) == {"digest"}
    store.close()


def test_the_result_cache(options: dict[str, Any], sandbox: Any, ledger: Path) -> None:
    with SwapClient(**options, cache=True) as client:
        first = client.swap(source=FACE, target=SCENE)
        again = client.swap(source=FACE, target=SCENE)
        fresh = client.swap(source=FACE, target=SCENE, cache="refresh")
    assert not first.cached
    assert again.cached
    assert again.image == first.image
    assert again.spent_usd == 0.0
    assert not fresh.cached
    assert submits(sandbox) == 2  # the cached one made no request at all
    cached_files = list((ledger.parent / "swapkit-cache").iterdir())
    assert all(FACE not in path.read_bytes() for path in cached_files)


def test_the_cache_needs_a_ledger(settings: dict[str, Any]) -> None:
    with pytest.raises(errors.ConfigurationError, match="ledger"):
        SwapClient(providers={"prospolabs": settings}, cache=True)


# -- crashes ---------------------------------------------------------------------------------


def _child(ledger: Path, base_url: str, key: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tests.jobs_child", str(ledger), base_url, key, *extra]
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=root)


@pytest.mark.parametrize(
    ("point", "ending"),
    [
        ("before-post", "OutcomeUnknown"),  # "about to submit" was recorded: never resent
        ("accepted", "result"),
        ("polling", "result"),
        ("downloading", "result"),
    ],
)
def test_a_killed_swap_is_never_paid_twice(
    point: str, ending: str, ledger: Path, swapkit_sandbox_server: Any, sandbox: Any
) -> None:
    base_url = swapkit_sandbox_server.base_url("prospolabs")
    killed = _child(ledger, base_url, f"crash-{point}", "--die-at", point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = charged(sandbox)
    again = _child(ledger, base_url, f"crash-{point}")
    assert again.returncode == 0, again.stderr
    outcome = json.loads(again.stdout)
    if ending == "result":
        assert "result" in outcome, outcome
        assert outcome["size"] == [64, 56]
    else:
        assert outcome["error"] == ending
    assert submits(sandbox) <= 1
    assert charged(sandbox) <= 1
    assert charged(sandbox) == before  # the second run paid nothing


def test_a_job_submitted_in_one_process_is_finished_in_another(
    ledger: Path, swapkit_sandbox_server: Any, options: dict[str, Any], sandbox: Any
) -> None:
    base_url = swapkit_sandbox_server.base_url("prospolabs")
    submitted = _child(ledger, base_url, "elsewhere", "--submit")
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["submitted"]
    with SwapClient(**options) as client:
        assert client.job(job_id).wait().swap_id == job_id
    assert submits(sandbox) == 1


def test_two_processes_racing_on_one_key_make_one_vendor_job(
    ledger: Path, swapkit_sandbox_server: Any, sandbox: Any
) -> None:
    base_url = swapkit_sandbox_server.base_url("prospolabs")
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "tests.jobs_child", str(ledger), base_url, "twins"]
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=root) for _ in range(3)
    ]
    outcomes = [json.loads(child.communicate(timeout=60)[0]) for child in children]
    assert len({outcome["result"] for outcome in outcomes}) == 1, outcomes
    assert submits(sandbox) == 1


def test_memory_store_keeps_keys_within_a_process(
    settings: dict[str, Any], plugin_manager: pluggy.PluginManager, sandbox: Any
) -> None:
    with SwapClient(providers={"prospolabs": settings}, plugin_manager=plugin_manager) as client:
        one = client.swap(source=FACE, target=SCENE, idempotency_key="mem")
        two = client.swap(source=FACE, target=SCENE, idempotency_key="mem")
    assert one.swap_id == two.swap_id
    assert submits(sandbox) == 1


def test_the_memory_store_forgets_old_finished_jobs() -> None:
    import dataclasses
    import time

    from swapkit.core.ledger import JobRecord, MemoryJobStore

    store = MemoryJobStore(max_jobs=3)
    now = time.time()
    base = JobRecord("j0", "succeeded", "k", now, now, now + 60)
    for index in range(5):
        store.save(dataclasses.replace(base, id=f"j{index}", updated_at=now + index))
    store.save(dataclasses.replace(base, id="running", state="running", updated_at=now - 10))
    assert {job.id for job in store.list()} == {"running", "j3", "j4"}


def test_the_memory_store_forgets_in_the_order_jobs_were_last_saved() -> None:
    import time

    from swapkit.core.ledger import JobRecord, MemoryJobStore

    store = MemoryJobStore(max_jobs=100)
    now = time.time()
    running = JobRecord("running", "running", "k", now, now, now + 60)
    store.save(running)
    for index in range(20_000):  # each save forgets one job: no sort of them all per save
        store.save(JobRecord(f"j{index}", "succeeded", "k", now, now, now + 60))
    store.save(store.get("j19950").copy(state="failed"))  # saved again: now the newest
    store.save(JobRecord("last", "succeeded", "k", now, now, now + 60))
    kept = {job.id for job in store.list(limit=1000)}
    assert len(kept) == 100
    assert {"running", "j19950", "last"} <= kept
    assert "j19901" not in kept  # the oldest finished job went when "last" came
    assert "j19902" in kept
    assert store.claim_delivery("d0", "running")
    for index in range(1, 150):
        store.claim_delivery(f"d{index}", "running")
    assert store.claim_delivery("d0", "running")  # forgotten past max_jobs deliveries
    assert not store.claim_delivery("d149", "running")
