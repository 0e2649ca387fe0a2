"""Batches: many swaps at once, isolated, capped in money, resumable, with progress; and the
``swapkit`` log they leave.

The book is the first user's job: one child's face into 20 pages.  The sandbox runs on
loopback; prices are set to the sandbox's credits per swap, so dollars reported can be
compared with credits taken.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import pluggy
import pytest
import stamina

from swapkit import AsyncSwapClient, BatchItem, BatchProgress, SwapClient, SwapRequest, errors
from swapkit.core.batch import summarize
from swapkit.sandbox import Fault

from .conftest import make_image, run_batch

FACE = make_image((48, 40), (220, 180, 150))
PAGES = [make_image((64, 56), (10 * i, 90, 160)) for i in range(20)]
KEYS = {"prospolabs": "prsp-sandbox", "deepswapai": "ds-sandbox", "acedata": "acedata-sandbox"}
CREDITS = 1000


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    return {"job_seconds": 0.05, "credits": CREDITS}


@pytest.fixture
def sandbox(swapkit_sandbox_server: Any) -> Any:
    return swapkit_sandbox_server.sandbox


def providers(server: Any, *names: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        found[name] = {
            "api_key": KEYS[name],
            "base_url": server.base_url(name),
            "price_usd": 1.0,
            "poll_interval": 1 if name == "acedata" else 0.02,
        }
    found.get("prospolabs", {}).update(mode="async")
    return found


def charged(sandbox: Any, *names: str) -> int:
    return sum(CREDITS - sandbox.credits_left(name, KEYS[name]) for name in names)


def book(n: int = 20) -> list[dict[str, Any]]:
    return [{"source": FACE, "target": page} for page in PAGES[:n]]


@pytest.fixture
def options(swapkit_sandbox_server: Any, plugin_manager: pluggy.PluginManager) -> dict[str, Any]:
    return {
        "providers": providers(swapkit_sandbox_server, "prospolabs", "deepswapai"),
        "plugin_manager": plugin_manager,
        "deadline": 60,
    }


def test_a_book_survives_a_vendor_going_down_and_another_rate_limiting(
    kind: str, options: dict[str, Any], sandbox: Any, swapkit_sandbox_server: Any
) -> None:
    options["providers"] = providers(swapkit_sandbox_server, "prospolabs", "deepswapai", "acedata")
    sandbox.faults.add(Fault(provider="deepswapai", kind="status", status=429, times=6))
    taken_down = threading.Event()

    def on_progress(progress: BatchProgress) -> None:
        if progress.finished >= 5 and not taken_down.is_set():
            taken_down.set()
            sandbox.faults.add(Fault(provider="prospolabs", kind="status", status=503))

    seen: list[BatchProgress] = []

    def watch(progress: BatchProgress) -> None:
        seen.append(progress)
        on_progress(progress)

    with stamina.set_testing(True, attempts=2):
        items = run_batch(kind, options, book(), concurrency=4, on_progress=watch)

    assert sorted(item.index for item in items) == list(range(20))
    for item in items:
        assert item.ok or isinstance(item.error, errors.SwapError)
        assert (item.result is None) != (item.error is None)
    assert taken_down.is_set()
    spent = sum(item.spent_usd or 0.0 for item in items)
    assert all(item.spent_usd is not None for item in items)
    assert spent == charged(sandbox, "prospolabs", "deepswapai", "acedata")
    rows = summarize(items)
    assert sum(row.spent_usd for row in rows) == spent
    assert sum(row.items for row in rows) == 20
    final = seen[-1]
    assert (final.submitted, final.running, final.finished) == (20, 0, 20)
    assert final.spent_usd == spent
    assert final.done == sum(item.ok for item in items)


def test_one_bad_item_does_not_stop_the_others(
    kind: str, options: dict[str, Any], sandbox: Any, tmp_path: Path
) -> None:
    requests = book(4)
    requests.insert(1, {"source": tmp_path / "missing.png", "target": PAGES[0]})
    requests.insert(3, {"source": FACE, "target": PAGES[1], "output_quality": 5})
    requests.append("not a request")  # type: ignore[arg-type]
    items = {item.index: item for item in run_batch(kind, options, requests, concurrency=2)}
    assert sorted(items) == list(range(7))
    failed = {index for index, item in items.items() if not item.ok}
    assert failed == {1, 3, 6}
    assert all(isinstance(items[i].error, errors.InvalidRequest) for i in failed)
    assert all(items[i].spent_usd == 0 for i in failed)
    assert charged(sandbox, "prospolabs", "deepswapai") == 4


def test_keys_come_from_a_mapping_and_must_be_unique(
    kind: str, options: dict[str, Any], sandbox: Any
) -> None:
    pages = {f"page-{i:02d}": SwapRequest(source=FACE, target=PAGES[i]) for i in range(3)}
    items = run_batch(kind, options, pages)
    assert sorted(item.key for item in items) == ["page-00", "page-01", "page-02"]
    assert all(item.ok and item.result is not None for item in items)
    assert {item.swap_id for item in items} == {
        item.result.swap_id for item in items if item.result
    }


@pytest.mark.parametrize("concurrency", [1, 3])
def test_the_money_cap_stops_new_submissions(
    kind: str, options: dict[str, Any], sandbox: Any, concurrency: int
) -> None:
    items = run_batch(kind, options, book(10), concurrency=concurrency, max_total_usd=3.0)
    sent = [item for item in items if not isinstance(item.error, errors.BatchBudgetReached)]
    stopped = [item for item in items if isinstance(item.error, errors.BatchBudgetReached)]
    assert len(items) == 10
    # the cap is reached after three swaps; at most the ones in flight then go on
    assert 3 <= len(sent) <= 3 + concurrency - 1
    assert all(item.ok for item in sent)
    assert all(item.spent_usd == 0 and item.swap_id is None for item in stopped)
    assert charged(sandbox, "prospolabs", "deepswapai") == len(sent)
    assert "max_total_usd" in str(stopped[0].error)


def test_a_named_batch_runs_again_without_paying_twice(
    kind: str, options: dict[str, Any], sandbox: Any, tmp_path: Path
) -> None:
    options["ledger"] = tmp_path / "ledger.db"
    requests = book(8)
    if kind == "sync":
        with SwapClient(**options) as client:
            first = []
            for item in client.batch(requests, name="book-1", concurrency=2):
                first.append(item)
                if len(first) == 3:
                    break  # the app stops early: the items in flight still finish
    else:

        async def stop_early() -> list[BatchItem]:
            got: list[BatchItem] = []
            async with AsyncSwapClient(**options) as client:
                batch = client.batch(requests, name="book-1", concurrency=2)
                async for item in batch:
                    got.append(item)
                    if len(got) == 3:
                        break
                await batch.aclose()  # type: ignore[attr-defined]
            return got

        first = asyncio.run(stop_early())
    paid_first = charged(sandbox, "prospolabs", "deepswapai")
    assert 3 <= paid_first <= 4

    second = run_batch(kind, options, requests, name="book-1", concurrency=3)
    assert sorted(item.index for item in second) == list(range(8))
    assert all(item.ok for item in second)
    assert charged(sandbox, "prospolabs", "deepswapai") == 8
    resumed = {item.index for item in second if item.resumed}
    assert {item.index for item in first} <= resumed
    assert len(resumed) == paid_first
    # the batch's total spend counts every page once, whichever run paid for it
    assert sum(item.spent_usd or 0 for item in second) == 8

    third = run_batch(kind, options, requests, name="book-1")
    assert all(item.resumed and item.ok for item in third)
    assert charged(sandbox, "prospolabs", "deepswapai") == 8


def test_a_batch_checks_its_arguments_before_sending(
    kind: str, options: dict[str, Any], sandbox: Any
) -> None:
    for bad in (
        {"concurrency": 0},
        {"max_total_usd": -1},
        {"max_total_usd": float("nan")},
        {"name": ""},
        {"concurrency": True},
    ):
        with pytest.raises(errors.ConfigurationError):
            run_batch(kind, options, book(2), **bad)
    assert sandbox.requests == []


def test_info_logging_is_one_line_per_attempt_and_no_stamina_line(
    kind: str,
    options: dict[str, Any],
    sandbox: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox.faults.add(Fault(provider="prospolabs", kind="status", status=503, times=1))
    sandbox.faults.add(Fault(provider="prospolabs", kind="status", status=401, times=1))
    caplog.set_level(logging.INFO)
    with stamina.set_testing(True, attempts=3):
        items = run_batch(kind, options, book(3), concurrency=1)
    attempts = [attempt for item in items for attempt in item.attempts]
    records = [r for r in caplog.records if r.levelno >= logging.INFO and r.name != "httpx"]
    assert not [r for r in records if r.name.startswith("stamina")]
    assert len(records) == len(attempts) >= 4
    assert all(r.name == "swapkit" and r.event == "attempt" for r in records)  # type: ignore[attr-defined]
    by_swap = {item.swap_id for item in items}
    assert {r.swap_id for r in records} == by_swap  # type: ignore[attr-defined]
    ok = [r for r in records if r.outcome == "ok"]  # type: ignore[attr-defined]
    assert len(ok) == 3
    assert any(r.outcome == "AuthenticationError" for r in records)  # type: ignore[attr-defined]
    assert all(r.job_id and r.cost_usd == 1.0 for r in ok)  # type: ignore[attr-defined]
    assert "swapkit attempt" in records[0].getMessage()
    assert "stamina" not in capsys.readouterr().err


def test_every_observer_hook_names_the_swap(
    kind: str, options: dict[str, Any], sandbox: Any
) -> None:
    import swapkit

    seen: list[tuple[str, str]] = []

    class Observer:
        @swapkit.hookimpl
        def attempt_started(self, provider: str, swap_id: str) -> None:
            seen.append(("started", swap_id))

        @swapkit.hookimpl
        def attempt_finished(self, attempt: swapkit.Attempt, swap_id: str) -> None:
            seen.append(("finished", swap_id))

        @swapkit.hookimpl
        def failover(self, from_provider: str, swap_id: str) -> None:
            seen.append(("failover", swap_id))

        @swapkit.hookimpl
        def job_changed(self, swap_id: str, state: str, job_id: str | None) -> None:
            seen.append((f"job:{state}", swap_id))

    sandbox.faults.add(Fault(provider="prospolabs", kind="status", status=401, times=1))
    items = run_batch(kind, {**options, "observers": [Observer()]}, book(1))
    (item,) = items
    assert item.ok
    kinds = [what for what, _ in seen]
    assert {swap for _, swap in seen} == {item.swap_id}
    assert kinds.count("started") == 2
    assert kinds.count("finished") == 2
    assert "failover" in kinds
    assert kinds[-1] == "job:succeeded"
    assert "job:submitting" in kinds
    assert "job:running" in kinds


def test_a_broken_progress_callback_loses_nothing(
    kind: str, options: dict[str, Any], sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(progress: BatchProgress) -> None:
        raise RuntimeError("the progress bar fell over")

    items = run_batch(kind, options, iter(book(3)), on_progress=broken)  # a generator: no total
    assert len(items) == 3
    assert all(item.ok for item in items)
    assert "on_progress callback failed" in caplog.text


def test_log_records_name_the_vendor_job_both_ways(
    kind: str, options: dict[str, Any], sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="swapkit")
    (item,) = run_batch(kind, options, book(1))
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "attempt"]
    assert item.result is not None
    assert record.job_id == record.vendor_job_id == item.result.job_id  # type: ignore[attr-defined]
    assert record.swap_id == item.swap_id  # type: ignore[attr-defined]


def test_cancelling_an_async_batch_cancels_its_swaps_and_a_rerun_pays_nothing_twice(
    options: dict[str, Any], sandbox: Any, tmp_path: Path
) -> None:
    options["ledger"] = tmp_path / "ledger.db"

    async def cancelled() -> int:
        got = 0
        async with AsyncSwapClient(**options) as client:

            async def consume() -> None:
                nonlocal got
                async for _ in client.batch(book(8), name="b", concurrency=4):
                    got += 1

            task = asyncio.ensure_future(consume())
            while got < 2:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return got

    asyncio.run(cancelled())
    paid = charged(sandbox, "prospolabs", "deepswapai")
    items = run_batch("async", options, book(8), name="b")
    assert len(items) == 8
    assert all(item.ok or isinstance(item.error, errors.OutcomeUnknown) for item in items)
    assert charged(sandbox, "prospolabs", "deepswapai") <= 8
    assert charged(sandbox, "prospolabs", "deepswapai") >= paid
