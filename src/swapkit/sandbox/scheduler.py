"""Timed work on the sandbox clock: job completions that fire webhooks, webhook retries.

Design: every timed task is a `(due, callback)` pair on the *sandbox* clock. `run_due()` runs the
tasks whose time has come; the sandbox calls it at the start of every request it handles, and
tests call it through `Sandbox.tick()` / `Sandbox.advance()`. With the real clock
(`Sandbox(clock=None)`) a daemon "pump" thread additionally wakes at each due time, so webhooks
fire on time with nobody polling. With an injected clock there is no pump: time only moves when
the test moves it, and tasks run on the next request or tick. Callbacks run outside the
scheduler's lock and must be cheap (they enqueue work, they do no I/O).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable

__all__ = ["Scheduler"]


class Scheduler:
    """A heap of callbacks keyed by sandbox-clock time."""

    def __init__(self, clock: Callable[[], float], *, pump: bool) -> None:
        self._clock = clock
        self._pump_enabled = pump
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def schedule(self, due: float, callback: Callable[[], None]) -> None:
        """Run `callback` once the sandbox clock reaches `due`."""
        with self._condition:
            if self._closed:
                return
            heapq.heappush(self._heap, (due, next(self._counter), callback))
            if self._pump_enabled and self._thread is None:
                self._thread = threading.Thread(
                    target=self._pump, name="swapkit-sandbox-scheduler", daemon=True
                )
                self._thread.start()
            self._condition.notify_all()

    def run_due(self) -> int:
        """Run every task that is due now; returns how many ran."""
        ran = 0
        while True:
            with self._condition:
                if not self._heap or self._heap[0][0] > self._clock():
                    return ran
                _, _, callback = heapq.heappop(self._heap)
            callback()
            ran += 1

    def pending(self) -> int:
        """How many tasks wait for their time."""
        with self._condition:
            return len(self._heap)

    def clear(self) -> None:
        """Forget every pending task."""
        with self._condition:
            self._heap.clear()

    def close(self) -> None:
        """Stop the pump thread (if any) and drop pending tasks."""
        with self._condition:
            self._closed = True
            self._heap.clear()
            self._condition.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _pump(self) -> None:
        while True:
            with self._condition:
                if self._closed:
                    return
                if self._heap:
                    wait = self._heap[0][0] - self._clock()
                    if wait > 0:
                        self._condition.wait(timeout=wait)
                        continue
                else:
                    self._condition.wait()
                    continue
            self.run_due()
