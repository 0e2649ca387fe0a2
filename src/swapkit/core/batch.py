"""Many swaps at once: `client.batch(requests)`.

A batch runs its items `concurrency` at a time, each one an ordinary swap (with the client's
retries, failover, breakers and ledger), and yields each item's `BatchItem` as it finishes, in
the order they finish.  The rules:

* **Isolation.**  An item that fails (a bad request, every vendor down) is yielded with its
  error; the others go on.  Only the caller stopping the iteration stops the batch.
* **Money.**  `max_total_usd` caps what the whole batch may spend: what every finished item
  spent (failed tries included, the same `spent_usd` its result or error reports) is added up,
  and once it reaches the cap no new item is sent; the items in flight finish, and each item
  left is yielded with `BatchBudgetReached` (nothing spent).  Each item is also sent with a
  per-swap cap of what is left, so a single swap never decides to spend past it.
* **Resuming.**  With `name=`, item ``key`` of the batch is sent with the idempotency key
  ``batch:<name>:<key>``: run the same batch again (with a SQLite ledger, after a crash or in
  another process) and finished items come back from the ledger, accepted ones are re-attached
  to, and nothing is paid twice.  Such items are marked `resumed`.
* **Stopping.**  Leaving the loop early (``break``, an exception) sends nothing new, and waits
  for the items in flight: they may already be paid for, and their jobs are recorded to the
  end.  Cancelling the task iterating an async batch cancels the swaps in flight instead; their
  jobs stay in the ledger, where a named batch finds them again.

`BatchState` holds the bookkeeping both clients share; the thread pool (`run_batch`) and the
asyncio tasks (`run_batch_async`) only run the swaps.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import math
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from typing import Any

from swapkit.core.errors import BatchBudgetReached, ConfigurationError, SwapError
from swapkit.core.ledger import JobStore
from swapkit.core.models import Attempt, SwapRequest, SwapResult

_log = logging.getLogger("swapkit")

__all__ = [
    "BatchItem",
    "BatchProgress",
    "BatchRequests",
    "BatchState",
    "ProviderTotals",
    "run_batch",
    "run_batch_async",
    "summarize",
]

#: What `client.batch()` takes: requests (or their fields) in order, keyed by their index, or a
#: mapping from each item's own key (a page name, a row id) to its request.
BatchRequests = (
    Iterable[SwapRequest | Mapping[str, Any]] | Mapping[str, SwapRequest | Mapping[str, Any]]
)


@dataclasses.dataclass(frozen=True)
class BatchItem:
    """How one item of a batch ended: its `result`, or the `error` it ended with."""

    #: The item's position in the batch's input (0-based).
    index: int
    #: The item's key: its key in the input mapping, else its index as a string.
    key: str
    result: SwapResult | None = None
    error: SwapError | None = None
    #: True when an earlier run of this named batch had finished or started the item.
    resumed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None

    @property
    def swap_id(self) -> str | None:
        source = self.result if self.result is not None else self.error
        return source.swap_id if source is not None else None

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        if self.result is not None:
            return self.result.attempts
        return tuple(self.error.attempts) if self.error is not None else ()

    @property
    def spent_usd(self) -> float | None:
        """What the item may have cost, failed tries included (None when a price is unknown)."""
        if self.result is not None:
            if self.result.spent_usd is not None or self.result.attempts:
                return self.result.spent_usd
            return self.result.cost_usd
        return self.error.spent_usd if self.error is not None else 0.0

    @property
    def provider(self) -> str | None:
        """The provider that served the item, else the last one tried (None: none was)."""
        if self.result is not None:
            return self.result.provider
        tried = [attempt.provider for attempt in self.attempts if not attempt.skipped]
        return tried[-1] if tried else getattr(self.error, "provider", None)


@dataclasses.dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands; `client.batch(on_progress=...)` receives one after each change."""

    #: Items in the input, when it has a length (None for a generator).
    total: int | None
    #: Items sent to a swap so far (resumed ones included).
    submitted: int
    #: Items in flight now.
    running: int
    #: Items that ended with a result.
    done: int
    #: Items that ended with an error (`BatchBudgetReached` ones included).
    failed: int
    #: What the finished items spent together (known prices only; see `unpriced`).
    spent_usd: float
    #: Finished items whose cost is unknown (a price not configured).
    unpriced: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed


@dataclasses.dataclass
class ProviderTotals:
    """One row of a batch's summary: the items a provider served or failed, and its spend."""

    provider: str
    items: int = 0
    failures: int = 0
    spent_usd: float = 0.0
    unpriced: int = 0


def summarize(items: Iterable[BatchItem]) -> list[ProviderTotals]:
    """Per provider: items (served or last tried), failures, and the money every attempt there
    may have cost (so a vendor that failed after charging shows its spend)."""
    rows: dict[str, ProviderTotals] = {}

    def row(name: str) -> ProviderTotals:
        return rows.setdefault(name, ProviderTotals(name))

    for item in items:
        owner = row(item.provider or "(none)")
        owner.items += 1
        owner.failures += 0 if item.ok else 1
        tried = [attempt for attempt in item.attempts if not attempt.skipped]
        if not tried:  # a result kept from an earlier run, without its attempts
            spent = item.spent_usd
            if spent is None:
                owner.unpriced += 1
            else:
                owner.spent_usd += spent
        for attempt in tried:
            if attempt.cost_usd is None:
                row(attempt.provider).unpriced += 1
            else:
                row(attempt.provider).spent_usd += attempt.cost_usd
    return sorted(rows.values(), key=lambda totals: totals.provider)


@dataclasses.dataclass(frozen=True)
class _Pending:
    index: int
    key: str
    request: SwapRequest | None
    error: SwapError | None = None


class BatchState:
    """The bookkeeping of one batch run, shared by the sync and async drivers (thread-safe)."""

    def __init__(
        self,
        requests: BatchRequests,
        *,
        build: Callable[[Mapping[str, Any]], SwapRequest],
        store: JobStore,
        concurrency: int,
        max_total_usd: float | None,
        name: str | None,
        on_progress: Callable[[BatchProgress], None] | None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(
                f"concurrency must be a whole number of 1 or more, not {concurrency!r}"
            )
        if max_total_usd is not None and (
            isinstance(max_total_usd, bool)
            or not isinstance(max_total_usd, int | float)
            or not math.isfinite(max_total_usd)
            or max_total_usd < 0
        ):
            raise ConfigurationError(
                f"max_total_usd must be a finite number of dollars, 0 or more, not "
                f"{max_total_usd!r}"
            )
        if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 200):
            raise ConfigurationError(
                "a batch name must be a non-empty string of at most 200 characters"
            )
        self.concurrency = concurrency
        self.max_total_usd = max_total_usd
        self.name = name
        self._store = store
        self._build = build
        self._on_progress = on_progress
        self._started_at = time.time()
        self._lock = threading.Lock()
        self._total = len(requests) if hasattr(requests, "__len__") else None  # type: ignore[arg-type]
        if isinstance(requests, Mapping):
            self._source: Iterator[tuple[str | None, Any]] = iter(requests.items())
        else:
            self._source = ((None, value) for value in requests)
        self._index = 0
        self._exhausted = False
        self.submitted = self.running = self.done = self.failed = self.unpriced = 0
        self.spent = 0.0
        self._keys: set[str] = set()

    # -- the input ------------------------------------------------------------------------------

    def next(self) -> _Pending | None:
        """The next item to run (or to report without running), None when the input is done."""
        with self._lock:
            try:
                key, value = next(self._source)
            except StopIteration:
                return None
            index = self._index
            self._index += 1
        key = str(index) if key is None else str(key)
        if key in self._keys:
            return _Pending(
                index, key, None, ConfigurationError(f"batch key {key!r} appears twice")
            )
        self._keys.add(key)
        try:
            request = value if isinstance(value, SwapRequest) else self._build(value)
        except SwapError as exc:
            return _Pending(index, key, None, exc)
        if self.reached():
            return _Pending(index, key, None, self._over(key))
        return _Pending(index, key, request)

    def take(self, room: int) -> list[_Pending]:
        """The next items: up to `room` to send, and those met on the way that end unsent
        (an invalid request, the money cap reached); empty once the input is done."""
        taken: list[_Pending] = []
        while room > 0 and not self._exhausted:
            pending = self.next()
            if pending is None:
                self._exhausted = True
                break
            taken.append(pending)
            if pending.request is not None:
                room -= 1
        return taken

    def reached(self) -> bool:
        with self._lock:
            return self.max_total_usd is not None and self.spent >= self.max_total_usd

    def _over(self, key: str) -> BatchBudgetReached:
        return BatchBudgetReached(
            f"batch item {key!r} was not sent: the batch's max_total_usd "
            f"(${self.max_total_usd:.2f}) was reached (${self.spent:.2f} spent)"
        )

    # -- one item -------------------------------------------------------------------------------

    def swap_arguments(self, pending: _Pending) -> tuple[SwapRequest, dict[str, Any]]:
        """The request to send for `pending` (capped to what the batch has left), and the
        `swap()` keywords (its idempotency key, when the batch is named)."""
        request = pending.request
        assert request is not None
        if self.max_total_usd is not None:
            with self._lock:
                left = max(0.0, self.max_total_usd - self.spent)
            cap = left if request.max_cost_usd is None else min(left, request.max_cost_usd)
            request = request.model_copy(update={"max_cost_usd": cap})
        keywords: dict[str, Any] = {}
        if self.name is not None:
            keywords["idempotency_key"] = f"batch:{self.name}:{pending.key}"
        with self._lock:
            self.submitted += 1
            self.running += 1
        self._report()
        return request, keywords

    def finished(
        self, pending: _Pending, result: SwapResult | None, error: SwapError | None, ran: bool
    ) -> BatchItem:
        item = BatchItem(pending.index, pending.key, result, error, self._resumed(result, error))
        spent = item.spent_usd
        with self._lock:
            if ran:
                self.running -= 1
            if item.ok:
                self.done += 1
            else:
                self.failed += 1
            if spent is None:
                self.unpriced += 1
            else:
                self.spent += spent
        self._report()
        return item

    def ended(
        self, pending: _Pending, result: SwapResult | None, error: BaseException | None
    ) -> BatchItem:
        """The item for a swap that ran and ended with `result` or `error`; an error that is
        not swapkit's (a bug) is raised."""
        if error is not None and not isinstance(error, SwapError):
            raise error
        return self.finished(pending, result, error, ran=True)

    def _resumed(self, result: SwapResult | None, error: SwapError | None) -> bool:
        if self.name is None:
            return False
        source = result if result is not None else error
        swap_id = source.swap_id if source is not None else None
        record = self._store.get(swap_id) if swap_id else None
        return record is not None and record.created_at < self._started_at

    # -- progress -------------------------------------------------------------------------------

    def progress(self) -> BatchProgress:
        with self._lock:
            return BatchProgress(
                self._total,
                self.submitted,
                self.running,
                self.done,
                self.failed,
                round(self.spent, 9),
                self.unpriced,
            )

    def _report(self) -> None:
        if self._on_progress is None:
            return
        try:
            self._on_progress(self.progress())
        except Exception:  # a progress display must never lose an item, or a paid result
            _log.exception("swapkit batch: the on_progress callback failed")


def run_batch(state: BatchState, swap: Callable[..., SwapResult]) -> Iterator[BatchItem]:
    """Run `state`'s items with `swap` on a pool of `concurrency` threads."""
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=state.concurrency, thread_name_prefix="swapkit-batch"
    )
    running: dict[concurrent.futures.Future[SwapResult], _Pending] = {}
    try:
        while True:
            for pending in state.take(state.concurrency - len(running)):
                if pending.request is None:
                    yield state.finished(pending, None, pending.error, ran=False)
                else:
                    request, keywords = state.swap_arguments(pending)
                    running[pool.submit(swap, request, **keywords)] = pending
            if not running:
                return
            ended, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in ended:
                error = future.exception()
                result = None if error is not None else future.result()
                yield state.ended(running.pop(future), result, error)
    finally:
        # nothing new is sent; what is in flight may be paid for, so it is seen to its end
        pool.shutdown(wait=True, cancel_futures=True)


async def run_batch_async(
    state: BatchState, swap: Callable[..., Awaitable[SwapResult]]
) -> AsyncIterator[BatchItem]:
    """Run `state`'s items with `swap` as asyncio tasks, `concurrency` at a time."""
    running: dict[asyncio.Task[SwapResult], _Pending] = {}
    try:
        while True:
            for pending in state.take(state.concurrency - len(running)):
                if pending.request is None:
                    yield state.finished(pending, None, pending.error, ran=False)
                else:
                    request, keywords = state.swap_arguments(pending)
                    running[asyncio.ensure_future(swap(request, **keywords))] = pending
            if not running:
                return
            ended, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in ended:
                error = task.exception()
                result = None if error is not None else task.result()
                yield state.ended(running.pop(task), result, error)
    except asyncio.CancelledError:
        # cancelled by the caller: the swaps in flight are cancelled too (their jobs stay in
        # the ledger, so a named batch picks them up again)
        for task in running:
            task.cancel()
        raise
    finally:
        if running:
            # the loop was left early: the items in flight finish (they may be paid for)
            await asyncio.gather(*running, return_exceptions=True)
