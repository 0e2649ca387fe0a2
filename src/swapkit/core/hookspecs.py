"""The hooks a swapkit plugin can implement.

A plugin is a module (or object) with functions decorated by ``@swapkit.hookimpl`` whose names
match the specs below, made known through the ``swapkit`` entry-point group::

    [project.entry-points.swapkit]
    my_vendor = "my_package.swapkit_plugin"

The registration hooks are synchronous and do no I/O: they only register things.  The observer
hooks (below) report what swaps do, for logging and metrics; each names the swap (``swap_id``)
it is about, and an implementation takes only the arguments it names.  swapkit logs the same
events itself on the ``swapkit`` logger (`swapkit.core.logs`).  A spec is only ever extended by
adding arguments, so existing plugins keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from swapkit.core.errors import SwapError
    from swapkit.core.models import Attempt, SwapResult
    from swapkit.core.provider import Provider
    from swapkit.core.uploads import Uploader

__all__ = [
    "attempt_finished",
    "attempt_started",
    "breaker_changed",
    "failover",
    "hookimpl",
    "hookspec",
    "job_accepted",
    "job_changed",
    "register_providers",
    "register_uploaders",
    "swap_finished",
    "swap_started",
]

hookspec = pluggy.HookspecMarker("swapkit")
hookimpl = pluggy.HookimplMarker("swapkit")


@hookspec
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register provider classes by calling ``register(ProviderClass)`` once for each.

    Two plugins registering the same provider name is an error that names both.
    """


@hookspec
def register_uploaders(register: Callable[[Uploader], None]) -> None:
    """Register an `Uploader` instance by calling ``register(uploader)``.

    URL-only providers then receive local images through it instead of the vendor's own upload
    endpoint (for example to store them in the application's bucket).  At most one uploader
    may be registered; `SwapClient(uploader=...)` overrides it.
    """


# -- observers ---------------------------------------------------------------------------------
# Called while swaps run, synchronously, from the thread or task running the swap; they must be
# quick and must not raise (an exception is logged and swallowed).  Register an object with
# these methods through SwapClient(observers=[...]) or as an installed plugin.


@hookspec
def swap_started(swap_id: str) -> None:
    """A swap begins (a `swap()` or `submit()` call, or one item of a batch)."""


@hookspec
def swap_finished(swap_id: str, result: SwapResult | None, error: SwapError | None) -> None:
    """A swap ended, with its `result` or its `error`; both are None when `submit()` handed
    the accepted job off (its end is seen by whoever waits for it)."""


@hookspec
def attempt_started(provider: str, model: str | None, reason: str, swap_id: str) -> None:
    """A try at `provider` begins for swap `swap_id`; `reason` says why it was chosen."""


@hookspec
def attempt_finished(attempt: Attempt, swap_id: str) -> None:
    """A try of swap `swap_id` ended; `attempt.error` is None on success, `attempt.job_id` is
    the vendor's job id when one was seen.  Skipped providers are reported too."""


@hookspec
def job_accepted(provider: str, job_id: str | None, model: str | None, swap_id: str) -> None:
    """`provider` accepted swap `swap_id` as a paid job (`job_id` is None when the vendor
    finished it in its answer without naming one): from here swapkit polls it and never sends
    the swap again."""


@hookspec
def failover(from_provider: str, to_provider: str, error: SwapError, swap_id: str) -> None:
    """Swap `swap_id` moves on from `from_provider` after `error`."""


@hookspec
def job_changed(swap_id: str, state: str, provider: str | None, job_id: str | None) -> None:
    """Swap `swap_id`'s job moved to `state` (a `JobStatus` state: ``submitting``,
    ``running``, ``succeeded``, ``failed``, ``unknown``...); `job_id` is the vendor's."""


@hookspec
def breaker_changed(provider: str, old: str, new: str) -> None:
    """A provider's circuit breaker moved between ``closed``, ``open`` and ``half_open``.  A
    breaker belongs to a provider, not to a swap, so this hook names no swap."""
