"""Every job store keeps the same promises: in memory, in a SQLite file, in Redis."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from swapkit import SwapClient
from swapkit.core.ledger import JobRecord, JobStore, MemoryJobStore, SqliteLedger
from swapkit.core.state import MemoryStateStore

from .conftest import make_image

pytestmark = pytest.mark.block_network(allowed_hosts=[r"127\.0\.0\.1", "localhost"])


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    return {"job_seconds": 0.2}


@pytest.fixture
def redis_namespace(redis_url: str) -> Iterator[str]:
    """A namespace of its own for the test; its keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(redis_url)
    namespace = f"swapkit-test-{uuid.uuid4().hex[:10]}"
    yield namespace
    keys = list(client.scan_iter(f"{namespace}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "memory":
        yield MemoryJobStore()
    elif request.param == "sqlite":
        ledger = SqliteLedger(tmp_path / "ledger.db")
        yield ledger
        ledger.close()
    else:
        from swapkit.core.redis_ledger import RedisJobStore

        namespace = request.getfixturevalue("redis_namespace")
        redis_store = RedisJobStore(request.getfixturevalue("redis_url"), namespace=namespace)
        yield redis_store
        redis_store.close()


def _record(job_id: str | None = None, **fields: Any) -> JobRecord:
    now = time.time()
    values: dict[str, Any] = {
        "id": job_id or f"swp_{uuid.uuid4().hex}",
        "state": "queued",
        "request_key": "k1",
        "created_at": now,
        "updated_at": now,
        "deadline_at": now + 60,
        **fields,
    }
    return JobRecord(**values)


def test_claim_holds_an_idempotency_key_once(store: JobStore) -> None:
    first = store.claim(_record(idempotency_key="page-1", owner="a"))
    second = store.claim(_record(idempotency_key="page-1", owner="b"))
    assert second.id == first.id
    assert second.owner == "a"
    assert store.claim(_record()).id != first.id  # no key: always a new job


def test_save_get_and_list_by_state(store: JobStore) -> None:
    record = store.claim(_record(attempts=[], request={"inputs": {"source": "/x.png"}}))
    assert store.get(record.id) == record
    changed = JobRecord(**{**record.__dict__, "state": "running", "updated_at": time.time() + 1})
    store.save(changed)
    assert store.get(record.id) == changed
    assert [job.id for job in store.list("running")] == [record.id]
    assert store.list("queued") == []
    assert store.get("swp_missing") is None


def test_take_over_compares_the_owner(store: JobStore) -> None:
    record = store.claim(_record(owner="host:1"))
    assert not store.take_over(record.id, "host:2", "host:3")
    assert store.take_over(record.id, "host:1", "host:3")
    assert store.get(record.id).owner == "host:3"  # type: ignore[union-attr]
    unowned = store.claim(_record())
    assert store.take_over(unowned.id, None, "host:4")


def test_leases_are_held_renewed_released_and_expire(store: JobStore) -> None:
    assert store.lease_holder("swp_1") is None
    assert store.lease("swp_1", "a", 0.2)
    assert not store.lease("swp_1", "b", 0.2)
    assert store.lease_holder("swp_1") == "a"
    assert store.lease("swp_1", "a", 0.2)  # renewed by its holder
    store.release_lease("swp_1", "b")  # not the holder: nothing happens
    assert not store.lease("swp_1", "b", 0.2)
    store.release_lease("swp_1", "a")
    assert store.lease_holder("swp_1") is None
    assert store.lease("swp_1", "b", 0.05)
    time.sleep(0.1)
    assert store.lease_holder("swp_1") is None  # expired
    assert store.lease("swp_1", "c", 0.2)


def test_deliveries_are_claimed_once_and_the_secret_is_stable(store: JobStore) -> None:
    assert store.claim_delivery("evt_1", "swp_1")
    assert not store.claim_delivery("evt_1", "swp_1")
    assert store.secret() == store.secret()
    assert len(store.secret()) == 32


def test_purge_forgets_old_finished_jobs_only(store: JobStore) -> None:
    old = time.time() - 3600
    done = store.claim(_record(state="succeeded", updated_at=old, idempotency_key="old"))
    running = store.claim(_record(state="running", updated_at=old))
    assert store.purge(time.time() - 60) == 1
    assert store.get(done.id) is None
    assert store.get(running.id) is not None
    assert store.claim(_record(idempotency_key="old")).id != done.id  # the key is free again


def _claim_many(url: str, namespace: str, attempts: int, queue: Any) -> None:
    from swapkit.core.redis_ledger import RedisJobStore

    store = RedisJobStore(url, namespace=namespace)
    won = {store.claim(_record(idempotency_key="race")).id for _ in range(attempts)}
    queue.put(sorted(won))


def test_processes_racing_on_one_idempotency_key_make_one_job(
    redis_url: str, redis_namespace: str
) -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(target=_claim_many, args=(redis_url, redis_namespace, 125, queue))
        for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    ids = {job_id for _ in workers for job_id in queue.get(timeout=60)}
    for worker in workers:
        worker.join(timeout=60)
    assert len(ids) == 1


def test_a_client_swaps_and_advances_jobs_through_a_redis_ledger(
    kind: str,
    redis_url: str,
    redis_namespace: str,
    swapkit_sandbox_server: Any,
    plugin_manager: pluggy.PluginManager,
    tmp_path: Path,
) -> None:
    import asyncio

    from swapkit import AsyncSwapClient
    from swapkit.core.redis_ledger import RedisJobStore

    settings = {
        "api_key": "prsp-sandbox",
        "base_url": swapkit_sandbox_server.base_url("prospolabs"),
        "mode": "async",
        "poll_interval": 0.05,
    }
    face, scene = tmp_path / "face.png", tmp_path / "scene.png"
    face.write_bytes(make_image((48, 40), (200, 150, 120)))
    scene.write_bytes(make_image((64, 56), (30, 90, 160)))
    options: dict[str, Any] = {
        "providers": {"prospolabs": settings},
        "ledger": RedisJobStore(redis_url, namespace=redis_namespace),
        "plugin_manager": plugin_manager,
    }
    if kind == "sync":
        with SwapClient(**options) as client:
            result = client.swap(source=face, target=scene, idempotency_key="once")
            again = client.swap(source=face, target=scene, idempotency_key="once")
            job_id = client.enqueue(source=face, target=scene)
            while client.advance(job_id).state in ("queued", "running"):
                time.sleep(0.05)
            final = client.advance(job_id)
    else:

        async def run() -> Any:
            async with AsyncSwapClient(**options) as client:
                first = await client.swap(source=face, target=scene, idempotency_key="once")
                second = await client.swap(source=face, target=scene, idempotency_key="once")
                queued = client.enqueue(source=face, target=scene)
                while (await client.advance(queued)).state in ("queued", "running"):
                    await asyncio.sleep(0.05)
                return first, second, await client.advance(queued)

        result, again, final = asyncio.run(run())
    assert again.swap_id == result.swap_id
    assert final.state == "succeeded"
    submits = [r for r in swapkit_sandbox_server.sandbox.requests if r.path.endswith("/async")]
    assert len(submits) == 2  # the idempotent swap once, the queued job once


def test_an_unreachable_redis_ledger_is_a_typed_error_and_nothing_is_sent(
    kind: str, swapkit_sandbox_server: Any, plugin_manager: pluggy.PluginManager
) -> None:
    from swapkit import errors

    from .conftest import run_swap

    settings = {
        "api_key": "prsp-sandbox",
        "base_url": swapkit_sandbox_server.base_url("prospolabs"),
    }
    options = {
        "providers": {"prospolabs": settings},
        "ledger": "redis://127.0.0.1:1/0",
        "plugin_manager": plugin_manager,
    }
    with pytest.raises(errors.LedgerUnavailable, match="unreachable"):
        run_swap(kind, options, source=make_image(), target=make_image((64, 56)))
    assert swapkit_sandbox_server.sandbox.requests == []


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_client_closes_the_ledger_and_state_it_opened_and_nothing_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    import asyncio

    from swapkit import AsyncSwapClient
    from swapkit.core.state import ResilientStateStore

    closed: list[str] = []
    monkeypatch.setattr(SqliteLedger, "close", lambda self: closed.append("ledger"))
    monkeypatch.setattr(ResilientStateStore, "close", lambda self: closed.append("state"))
    providers = {"prospolabs": {"api_key": "k"}}
    state = f"sqlite:///{tmp_path / 'state.db'}"
    if kind == "sync":
        with SwapClient(providers, ledger=tmp_path / "jobs.db", state=state) as client:
            client.close()  # closing twice closes once
    else:

        async def use() -> None:
            async with AsyncSwapClient(providers, ledger=tmp_path / "jobs.db", state=state):
                pass

        asyncio.run(use())
    assert sorted(closed) == ["ledger", "state"]

    closed.clear()
    given = SqliteLedger(tmp_path / "given.db")
    with SwapClient(providers, ledger=given, state=ResilientStateStore(MemoryStateStore())):
        pass
    assert closed == []  # the caller's stores stay theirs to close


def test_a_sqlite_ledger_that_fails_is_a_typed_error(tmp_path: Path) -> None:
    from swapkit import errors

    with SwapClient({"prospolabs": {"api_key": "k"}}, ledger=tmp_path / "jobs.db") as client:
        client.jobs()
    with pytest.raises(errors.LedgerUnavailable, match=r"jobs\.db.*closed"):
        client.jobs()  # the client closed its ledger
    ledger = SqliteLedger(tmp_path / "other.db")
    ledger._connection.execute("DROP TABLE jobs")  # a damaged file
    now = time.time()
    with pytest.raises(errors.LedgerUnavailable, match="OperationalError"):
        ledger.save(JobRecord("j1", "queued", "k", now, now, now + 60))
