"""`SwapClient` and `AsyncSwapClient`: thin I/O shells over one swap flow.

Everything that decides anything lives in `_BaseClient` and the flow it starts
(`swapkit.core.routing.swap_flow`), retries included.  The two public classes differ only in
how they perform a step: `httpx.Client` and the clock's ``sleep``, or `httpx.AsyncClient` and
its ``asleep``.  A parity test keeps their public methods and
signatures in step.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread
import httpx
import pluggy
from pydantic import ValidationError
from typing_extensions import Self

from swapkit.core.batch import (
    BatchItem,
    BatchProgress,
    BatchRequests,
    BatchState,
    run_batch,
    run_batch_async,
)
from swapkit.core.breaker import CircuitBreaker, StateBreakers
from swapkit.core.clock import Clock, SystemClock
from swapkit.core.config import SwapkitConfig, load_config
from swapkit.core.errors import ConfigurationError, InvalidRequest, LocalFailure, SwapError
from swapkit.core.flow import (
    Backoff,
    Milestone,
    Send,
    Sleep,
    Step,
    Submitting,
    templates_flow,
    transport_error,
)
from swapkit.core.handles import AsyncSwapJob, SwapJob
from swapkit.core.http import (
    Exchange,
    deadline_transport,
    is_http_url,
    redact_httpx_logs,
    tracked_async_transport,
)
from swapkit.core.images import is_file_reference
from swapkit.core.jobflow import JobContext, job_flow
from swapkit.core.jobs import CacheMode, JobStatus, JobToken
from swapkit.core.ledger import JobRecord, JobStore, MemoryJobStore, SqliteLedger, owner_id
from swapkit.core.models import SwapRequest, SwapResult, Template, WebhookEvent
from swapkit.core.pacing import Pacer
from swapkit.core.plugins import Events, installed_providers, installed_uploader
from swapkit.core.policy import FailoverPolicy, OnUnknownOutcome
from swapkit.core.provider import PreparedSwap, Provider
from swapkit.core.queued import advance_flow, enqueue
from swapkit.core.retry import Budget, announce, waits
from swapkit.core.routing import Router, prepare
from swapkit.core.settings import resolve_settings
from swapkit.core.state import StateStore, open_state_store
from swapkit.core.strategies import Strategy, strategy_from
from swapkit.core.uploads import Uploader
from swapkit.core.webhooks import AsyncWebhooks, Webhooks

__all__ = ["AsyncSwapClient", "SwapClient"]

T = TypeVar("T")

ProviderSpec = str | Provider
ProvidersArg = Sequence[ProviderSpec] | Mapping[str, Mapping[str, Any] | None] | None

#: How far past its limit an ``async`` exchange may run before it is cut off (seconds).
_EXCHANGE_GRACE_SECONDS = 0.25


class _BaseClient:
    """Configuration and flow construction shared by both clients."""

    def __init__(
        self,
        providers: ProvidersArg = None,
        *,
        deadline: float | None = None,
        max_attempts: int | None = None,
        max_cost_usd: float | None = None,
        policy: FailoverPolicy | None = None,
        on_unknown_outcome: OnUnknownOutcome | None = None,
        provider_retries: int | None = None,
        strategy: str | Strategy | None = None,
        circuit_breaker: CircuitBreaker | bool = True,
        observers: Sequence[object] = (),
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock | None = None,
        uploader: Uploader | None = None,
        ledger: str | os.PathLike[str] | JobStore | None = None,
        cache: bool = False,
        webhook_url: str | None = None,
        config: str | os.PathLike[str] | bool | None = None,
        state: StateStore | str | None = None,
    ) -> None:
        settings = load_config(config)
        deadline = settings.deadline if deadline is None else deadline
        max_attempts = settings.max_attempts if max_attempts is None else max_attempts
        max_cost_usd = settings.max_cost_usd if max_cost_usd is None else max_cost_usd
        strategy = settings.strategy if strategy is None else strategy
        webhook_url = settings.webhook_url if webhook_url is None else webhook_url
        if ledger is None:
            ledger = settings.ledger
        state_source = "state=" if state is not None else "SWAPKIT_STATE (or the file's state)"
        state = settings.state if state is None else state
        #: The state store shared with other processes (the breakers'), when one was given.
        self.state: StateStore | None = (
            open_state_store(state, source=state_source) if isinstance(state, str) else state
        )
        #: What this client opened from a URL or path (closed with it); never what was passed.
        self._opened: list[Any] = [self.state] if isinstance(state, str) else []
        if providers is None:
            providers = settings.order
        self.config = settings
        _check_number("deadline", deadline, minimum=0.0, exclusive=True)
        _check_number("max_attempts", max_attempts, minimum=1, integer=True)
        if max_cost_usd is not None:
            _check_number("max_cost_usd", max_cost_usd, minimum=0.0)
        self.policy = _policy(policy, on_unknown_outcome, provider_retries)
        redact_httpx_logs()
        self.deadline = deadline
        self.max_attempts = max_attempts
        self.max_cost_usd = max_cost_usd
        self._clock: Clock = clock or SystemClock()
        self._providers = _configure(providers, plugin_manager, settings)
        self.uploader = uploader or installed_uploader(plugin_manager)
        self._store = _store(ledger)
        if self._store is not ledger:
            self._opened.append(self._store)
        if cache and self._store.folder is None:
            raise ConfigurationError(
                "the result cache keeps results in the ledger's folder: pass ledger=... (or set "
                "SWAPKIT_LEDGER) with cache=True"
            )
        self.cache = cache
        if webhook_url is not None and not is_http_url(webhook_url):
            raise ConfigurationError(
                f"webhook_url must be an http(s) URL with a host, not {webhook_url[:200]!r}"
            )
        self.webhook_url = webhook_url
        events = Events(plugin_manager, observers)
        breaker: CircuitBreaker | None
        if circuit_breaker is True:
            if self.state is not None:
                breaker = CircuitBreaker(clock=self.state.now, store=StateBreakers(self.state))
            elif isinstance(self._store, SqliteLedger):
                # shared by the host's processes: a clock that means the same in each of them
                breaker = CircuitBreaker(clock=time.time, store=self._store.breakers)
            else:
                breaker = CircuitBreaker(clock=self._clock.monotonic)
        elif circuit_breaker is False:
            breaker = None
        else:
            breaker = circuit_breaker
        if breaker is not None and breaker.on_change is None:
            breaker.on_change = lambda name, old, new: events.breaker_changed(
                name, old.status, new.status
            )
        self._router = Router(
            strategy=strategy_from(strategy),
            breaker=breaker,
            events=events,
            policy=self.policy,
            pacer=Pacer(self._clock.monotonic, state=self.state),
        )

    @property
    def breaker(self) -> CircuitBreaker | None:
        """The providers' circuit breakers (None when turned off)."""
        return self._router.breaker

    @property
    def providers(self) -> tuple[Provider, ...]:
        """The configured providers, in the order they are tried."""
        return self._providers

    def provider(self, name: str) -> Provider:
        """One configured provider by name."""
        for provider in self._providers:
            if provider.name == name:
                return provider
        configured = ", ".join(p.name for p in self._providers) or "none"
        raise ConfigurationError(f"provider {name!r} is not configured (configured: {configured})")

    def parse_webhook(
        self,
        provider: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        secret: str | None = None,
        url: str | None = None,
    ) -> WebhookEvent:
        """Verify a vendor webhook and normalise it; `InvalidSignature` when it is not genuine.

        `body` must be the raw request body, exactly as received; `url` the full URL it was
        received at, query string included (needed for vendors that do not sign callbacks).
        """
        return self.provider(provider).parse_webhook(headers, body, secret=secret, url=url)

    def _templates_flow(self, name: str) -> Generator[Step, Any, list[Template]]:
        provider = self.provider(name)
        if "template" not in provider.capabilities.target_kinds:
            raise InvalidRequest(f"{name} has no templates", provider=name)
        problem = provider.missing_configuration()
        if problem:
            raise ConfigurationError(f"{name}: {problem}")
        clock = self._clock.monotonic
        budget = Budget(self.max_attempts, clock() + self.deadline, clock)
        return templates_flow(provider, budget, self.policy)

    def _request(self, request: SwapRequest | None, fields: Mapping[str, Any]) -> SwapRequest:
        swap_request = _build_request(request, fields)
        if swap_request.max_cost_usd is None and self.max_cost_usd is not None:
            swap_request = swap_request.model_copy(update={"max_cost_usd": self.max_cost_usd})
        return swap_request

    @property
    def ledger(self) -> JobStore:
        """Where this client records its jobs (in memory unless `ledger=` was given)."""
        return self._store

    def job(self, job: str) -> Any:
        """A handle on a job, from its id (recorded in this client's ledger) or its token."""
        token = JobToken.decode(job) if job.startswith("swk1.") else None
        job_id = token.id if token is not None else job
        if token is None and self._store.get(job_id) is None:
            raise InvalidRequest(
                f"no job {job_id!r} in this client's ledger; pass its token (job.to_token()), "
                "or build the client with the ledger it was submitted with"
            )
        return self._handle(job_id, token=token)

    def jobs(self, state: str | None = None, limit: int = 50) -> list[JobStatus]:
        """The most recently updated jobs in this client's ledger, optionally in one state."""
        shown = {"running": ("submitting", "running")}.get(state or "", (state,))
        found = [r for s in shown for r in self._store.list(s, limit)] if state else None
        records = found if found is not None else self._store.list(None, limit)
        records.sort(key=lambda record: record.updated_at, reverse=True)
        return [JobStatus.of(record) for record in records[:limit]]

    def enqueue(
        self,
        request: SwapRequest | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> str:
        """Record the swap as a queued job, with no network call; its job id.

        Any process sharing this client's ledger then runs it with `advance` (a task queue's
        worker, say).  The inputs are checked now and recorded by reference, so they must be
        URLs or paths the workers can read (bytes are refused); a worker refuses inputs that
        changed in between.  With `idempotency_key`, enqueueing the same key again returns the
        same job.
        """
        _check_idempotency_key(idempotency_key)
        swap_request = self._request(request, fields)
        return enqueue(self._job_context(), swap_request, idempotency_key).id

    def _advance_flow(
        self, job_id: str, lease_seconds: float | None
    ) -> Generator[Step, Any, JobRecord]:
        if lease_seconds is not None:
            _check_number("lease_seconds", lease_seconds, minimum=0.0, exclusive=True)
        return advance_flow(
            self._job_context(), job_id, lease_seconds=lease_seconds or self._lease_seconds(job_id)
        )

    def _lease_seconds(self, job_id: str) -> float:
        """Long enough for one advance: a submit (with failover) until the job's deadline, or
        a poll and a download."""
        record = self._store.get(job_id)
        exchange = max((p.settings.timeout for p in self._providers), default=60.0)
        if record is not None and record.state == "queued":
            return max(record.deadline_at - time.time(), 0.0) + 5.0
        return 2 * exchange + 10.0

    def _handle(self, job_id: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _close_opened(self) -> None:
        """Close what the client opened itself (once: closing again does nothing)."""
        opened, self._opened = self._opened, []
        for resource in opened:
            close = getattr(resource, "close", None)
            if callable(close):
                close()

    def _job_context(self) -> JobContext:
        return JobContext(
            providers=self._providers,
            router=self._router,
            store=self._store,
            clock=self._clock,
            uploader=self.uploader,
            deadline=self.deadline,
            max_attempts=self.max_attempts,
            cache=self.cache,
            webhook_base=self.webhook_url,
        )

    def _job_flow(
        self,
        prepared: PreparedSwap,
        idempotency_key: str | None,
        cache: CacheMode | None,
        detach: bool,
    ) -> Generator[Step, Any, SwapResult | JobRecord]:
        if cache is not None and cache not in ("reuse", "refresh"):
            raise InvalidRequest(f"cache must be 'reuse' or 'refresh', not {cache!r}")
        if cache is not None and self._store.folder is None:
            raise ConfigurationError(
                "the result cache keeps results in the ledger's folder: build the client with "
                "ledger=... to use cache="
            )
        _check_idempotency_key(idempotency_key)
        return job_flow(
            self._job_context(),
            prepared,
            idempotency_key=idempotency_key,
            cache=cache,
            detach=detach,
        )

    def _milestone(self, step: Milestone) -> None:
        """Record a swap's milestone durably, then tell the observers."""
        record = self._store.get(step.swap_id)
        now = time.time()
        events = self._router.events
        if isinstance(step, Submitting):
            if record is not None:
                self._store.save(
                    record.copy(
                        state="submitting",
                        provider=step.provider,
                        model=step.model,
                        vendor_job_id=None,
                        result=None,
                        owner=owner_id(),
                        updated_at=now,
                    )
                )
            if events is not None:
                events.job_changed(step.swap_id, "submitting", step.provider, None)
            return
        if record is not None:
            self._store.save(
                record.copy(
                    state="running",
                    provider=step.provider,
                    vendor_job_id=step.job_id,
                    model=step.model,
                    result={"url": step.result_url} if step.result_url else None,
                    updated_at=now,
                )
            )
        if events is not None:
            events.job_changed(step.swap_id, "running", step.provider, step.job_id)
            events.job_accepted(step.provider, step.job_id, step.model, step.swap_id)

    def _backoff(self, step: Backoff) -> bool:
        """Report a scheduled retry; whether its wait is to be waited."""
        announce(
            step.what,
            step.retry,
            step.seconds,
            step.waited,
            step.error,
            provider=step.provider,
            swap_id=step.swap_id,
        )
        return waits()

    def _batch(
        self,
        requests: BatchRequests,
        concurrency: int,
        max_total_usd: float | None,
        name: str | None,
        on_progress: Callable[[BatchProgress], None] | None,
    ) -> BatchState:
        def build(fields: Any) -> SwapRequest:
            if not isinstance(fields, Mapping):
                raise InvalidRequest(
                    f"a batch item must be a SwapRequest or a mapping of its fields, not "
                    f"{type(fields).__name__}"
                )
            return _build_request(None, fields)

        return BatchState(
            requests,
            build=build,
            store=self._store,
            concurrency=concurrency,
            max_total_usd=max_total_usd,
            name=name,
            on_progress=on_progress,
        )

    def _closed(self, step: Send) -> LocalFailure:
        return LocalFailure(
            "the client is closed; make swaps inside `with SwapClient(...)` (or before "
            "close()/aclose())",
            provider=step.provider,
        )


class SwapClient(_BaseClient):
    """The blocking client.  Use as a context manager, or call `close()`."""

    def __init__(
        self,
        providers: ProvidersArg = None,
        *,
        deadline: float | None = None,
        max_attempts: int | None = None,
        max_cost_usd: float | None = None,
        policy: FailoverPolicy | None = None,
        on_unknown_outcome: OnUnknownOutcome | None = None,
        provider_retries: int | None = None,
        strategy: str | Strategy | None = None,
        circuit_breaker: CircuitBreaker | bool = True,
        observers: Sequence[object] = (),
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock | None = None,
        uploader: Uploader | None = None,
        ledger: str | os.PathLike[str] | JobStore | None = None,
        cache: bool = False,
        webhook_url: str | None = None,
        config: str | os.PathLike[str] | bool | None = None,
        state: StateStore | str | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            providers,
            deadline=deadline,
            max_attempts=max_attempts,
            max_cost_usd=max_cost_usd,
            policy=policy,
            on_unknown_outcome=on_unknown_outcome,
            provider_retries=provider_retries,
            strategy=strategy,
            circuit_breaker=circuit_breaker,
            observers=observers,
            plugin_manager=plugin_manager,
            clock=clock,
            uploader=uploader,
            ledger=ledger,
            cache=cache,
            webhook_url=webhook_url,
            config=config,
            state=state,
        )
        mounts = _mounts(self._providers, http_client)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            follow_redirects=True, transport=deadline_transport(), mounts=mounts
        )

    def swap(
        self,
        request: SwapRequest | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        cache: CacheMode | None = None,
        **fields: Any,
    ) -> SwapResult:
        """Swap the face from `source` into `target`, blocking until the result is ready.

        Pass a `SwapRequest`, or its fields as keyword arguments (or both: the keywords
        override the request's fields).  With `idempotency_key`, a second call with the same
        key (here, in another process sharing the ledger, or after a crash) returns the same
        swap's result and never pays again.  `cache="reuse"` returns a stored result of the same
        swap when there is one, `"refresh"` makes a new one (both need a ledger).
        """
        prepared = prepare(self._request(request, fields))
        flow = self._job_flow(prepared, idempotency_key, cache, detach=False)
        return cast(SwapResult, self._drive(flow))

    def submit(
        self,
        request: SwapRequest | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> SwapJob:
        """Send the swap and return as soon as a vendor accepted it, with a `SwapJob`.

        Eligibility, retries and failover are those of `swap()`; the handle's `wait()`
        finishes the job (here, or in another process with `job(id)` or `job(token)`).  A
        vendor that answers with the finished result gives a handle that already holds it.
        """
        prepared = prepare(self._request(request, fields))
        outcome = self._drive(self._job_flow(prepared, idempotency_key, None, detach=True))
        if isinstance(outcome, SwapResult):
            return SwapJob(self, outcome.swap_id or "", result=outcome)
        return SwapJob(self, outcome.id)

    def batch(
        self,
        requests: BatchRequests,
        /,
        *,
        concurrency: int = 8,
        max_total_usd: float | None = None,
        name: str | None = None,
        on_progress: Callable[[BatchProgress], None] | None = None,
    ) -> Iterator[BatchItem]:
        """Run many swaps, `concurrency` at a time, yielding each item's `BatchItem` as it
        finishes (see `swapkit.core.batch`).

        `requests` are `SwapRequest` objects or mappings of their fields, or a mapping from each
        item's key to one.  One item failing never stops the others.  `max_total_usd` caps
        the whole batch's spend: once reached, nothing new is sent.  `name` (with a ledger)
        makes the batch resumable: run it again and finished items are not paid again.
        `on_progress` receives a `BatchProgress` after every change (in the iterating thread).
        """
        state = self._batch(requests, concurrency, max_total_usd, name, on_progress)
        return run_batch(state, self.swap)

    def job(self, job: str) -> SwapJob:
        """A handle on a job, from its id (recorded in this client's ledger) or its token."""
        handle: SwapJob = super().job(job)
        return handle

    def advance(self, job_id: str, *, lease_seconds: float | None = None) -> JobStatus:
        """Move a job one step forward and say where it stands; safe to call from any number
        of processes at once (see `swapkit.core.queued.advance_flow`).

        A queued job is submitted once (failover included); an accepted job is polled once
        and finished when the vendor is done.  Call it again while the state is ``queued`` or
        ``running`` (a task queue re-schedules it); errors end the job and show in its status.
        `lease_seconds` bounds how long this call holds the job against other workers.
        """
        return JobStatus.of(self._drive(self._advance_flow(job_id, lease_seconds)))

    @property
    def webhooks(self) -> Webhooks:
        """The one webhook receiver for every vendor (see `swapkit.core.webhooks`)."""
        receiver = self.__dict__.get("_webhooks")
        if not isinstance(receiver, Webhooks):
            receiver = self.__dict__["_webhooks"] = Webhooks(self)
        return receiver

    def _handle(self, job_id: str, **kwargs: Any) -> SwapJob:
        return SwapJob(self, job_id, **kwargs)

    def list_templates(self, provider: str) -> list[Template]:
        """The templates (scenes) a template provider offers, for ``target=Template(id)``."""
        return self._drive(self._templates_flow(provider))

    def _drive(self, flow: Generator[Step, Any, T]) -> T:
        """Run a flow: perform each step it yields and send back the result (or error)."""
        try:
            value: Any = None
            error: SwapError | None = None
            while True:
                try:
                    step: Step = flow.throw(error) if error else flow.send(value)
                except StopIteration as stop:
                    result: T = stop.value
                    return result
                value, error = None, None
                try:
                    if isinstance(step, Send):
                        value = self._exchange(step)
                    elif isinstance(step, Backoff):
                        if self._backoff(step):
                            self._clock.sleep(step.seconds)
                    elif isinstance(step, Sleep):
                        self._clock.sleep(step.seconds)
                    else:
                        self._milestone(step)
                except SwapError as exc:
                    error = exc
        finally:
            flow.close()

    def _exchange(self, step: Send) -> Any:
        """One try of an exchange, bounded by the deadline; its checked value."""
        request = step.ready()
        exchange = Exchange(step.timeout_now())
        if not self._owns_http:
            # a client of the caller's: its transport may not be swapkit's, whose sockets tell
            # the exchange how far the request got (cheaper than httpcore's trace callbacks)
            request.extensions["trace"] = exchange.trace
        failure: SwapError | None = None
        try:
            with exchange.bound():
                response = _unbound(self._http.send(request))
        except httpx.TransportError as exc:
            failure = transport_error(exc, step, exchange)
        except RuntimeError:
            if not self._http.is_closed:
                raise
            failure = self._closed(step)
        if failure is not None:
            # raised outside the handler: httpx's exception (and the request it holds, with
            # its credentials) is not chained to the swapkit error
            raise failure
        return step.check(response)

    def close(self) -> None:
        """Close the HTTP connections (unless the caller supplied the `httpx.Client`), and the
        ledger and state store this client opened from a path or URL."""
        if self._owns_http:
            self._http.close()
        self._close_opened()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncSwapClient(_BaseClient):
    """The ``async`` client, with the same methods as `SwapClient`; `aclose()` to close."""

    def __init__(
        self,
        providers: ProvidersArg = None,
        *,
        deadline: float | None = None,
        max_attempts: int | None = None,
        max_cost_usd: float | None = None,
        policy: FailoverPolicy | None = None,
        on_unknown_outcome: OnUnknownOutcome | None = None,
        provider_retries: int | None = None,
        strategy: str | Strategy | None = None,
        circuit_breaker: CircuitBreaker | bool = True,
        observers: Sequence[object] = (),
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock | None = None,
        uploader: Uploader | None = None,
        ledger: str | os.PathLike[str] | JobStore | None = None,
        cache: bool = False,
        webhook_url: str | None = None,
        config: str | os.PathLike[str] | bool | None = None,
        state: StateStore | str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            providers,
            deadline=deadline,
            max_attempts=max_attempts,
            max_cost_usd=max_cost_usd,
            policy=policy,
            on_unknown_outcome=on_unknown_outcome,
            provider_retries=provider_retries,
            strategy=strategy,
            circuit_breaker=circuit_breaker,
            observers=observers,
            plugin_manager=plugin_manager,
            clock=clock,
            uploader=uploader,
            ledger=ledger,
            cache=cache,
            webhook_url=webhook_url,
            config=config,
            state=state,
        )
        mounts = _mounts(self._providers, http_client)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            follow_redirects=True, transport=tracked_async_transport(), mounts=mounts
        )

    async def swap(
        self,
        request: SwapRequest | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        cache: CacheMode | None = None,
        **fields: Any,
    ) -> SwapResult:
        """Swap the face from `source` into `target`; see `SwapClient.swap`."""
        prepared = await self._prepare(self._request(request, fields))
        flow = self._job_flow(prepared, idempotency_key, cache, detach=False)
        return cast(SwapResult, await self._drive(flow))

    async def submit(
        self,
        request: SwapRequest | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> AsyncSwapJob:
        """Send the swap and return once a vendor accepted it; see `SwapClient.submit`."""
        prepared = await self._prepare(self._request(request, fields))
        flow = self._job_flow(prepared, idempotency_key, None, detach=True)
        outcome = await self._drive(flow)
        if isinstance(outcome, SwapResult):
            return AsyncSwapJob(self, outcome.swap_id or "", result=outcome)
        return AsyncSwapJob(self, outcome.id)

    def batch(
        self,
        requests: BatchRequests,
        /,
        *,
        concurrency: int = 8,
        max_total_usd: float | None = None,
        name: str | None = None,
        on_progress: Callable[[BatchProgress], None] | None = None,
    ) -> AsyncIterator[BatchItem]:
        """Run many swaps as asyncio tasks; ``async for item in client.batch(...)``.  See
        `SwapClient.batch`."""
        state = self._batch(requests, concurrency, max_total_usd, name, on_progress)
        return run_batch_async(state, self.swap)

    def job(self, job: str) -> AsyncSwapJob:
        """A handle on a job; see `SwapClient.job`."""
        handle: AsyncSwapJob = super().job(job)
        return handle

    async def advance(self, job_id: str, *, lease_seconds: float | None = None) -> JobStatus:
        """Move a job one step forward; see `SwapClient.advance`."""
        return JobStatus.of(await self._drive(self._advance_flow(job_id, lease_seconds)))

    @property
    def webhooks(self) -> AsyncWebhooks:
        """The one webhook receiver; see `SwapClient.webhooks`."""
        receiver = self.__dict__.get("_webhooks")
        if not isinstance(receiver, AsyncWebhooks):
            receiver = self.__dict__["_webhooks"] = AsyncWebhooks(self)
        return receiver

    def _handle(self, job_id: str, **kwargs: Any) -> AsyncSwapJob:
        return AsyncSwapJob(self, job_id, **kwargs)

    async def _prepare(self, swap_request: SwapRequest) -> PreparedSwap:
        if any(map(is_file_reference, (swap_request.source, swap_request.target))):
            # keep the read of a (possibly large) file off the event loop
            return await anyio.to_thread.run_sync(prepare, swap_request)
        return prepare(swap_request)

    async def list_templates(self, provider: str) -> list[Template]:
        """The templates a template provider offers; see `SwapClient.list_templates`."""
        return await self._drive(self._templates_flow(provider))

    async def _drive(self, flow: Generator[Step, Any, T]) -> T:
        """Run a flow: perform each step it yields and send back the result (or error)."""
        try:
            value: Any = None
            error: SwapError | None = None
            while True:
                try:
                    step: Step = flow.throw(error) if error else flow.send(value)
                except StopIteration as stop:
                    result: T = stop.value
                    return result
                value, error = None, None
                try:
                    if isinstance(step, Send):
                        value = await self._exchange(step)
                    elif isinstance(step, Backoff):
                        if self._backoff(step):
                            await self._clock.asleep(step.seconds)
                    elif isinstance(step, Sleep):
                        await self._clock.asleep(step.seconds)
                    else:
                        self._milestone(step)
                except SwapError as exc:
                    error = exc
        finally:
            flow.close()

    async def _exchange(self, step: Send) -> Any:
        """One try of an exchange, bounded by the deadline; its checked value."""
        request = step.ready()
        exchange = Exchange(step.timeout_now())
        if not self._owns_http:  # see SwapClient._exchange
            request.extensions["trace"] = exchange.atrace
        failure: SwapError | None = None
        try:
            # httpx's own timeouts (the pool's, each read's) are the same limit and fire first
            # when they apply: they say more (a full pool is not the vendor's fault)
            async with _time_limit(exchange.limit + _EXCHANGE_GRACE_SECONDS):
                with exchange.bound():
                    response = _unbound(await self._http.send(request))
        except TimeoutError:
            # the whole exchange (not one read) outlived the time the swap had left
            late = httpx.ReadTimeout(f"no complete answer within {exchange.limit:.1f}s")
            failure = transport_error(late, step, exchange)
        except httpx.TransportError as exc:
            failure = transport_error(exc, step, exchange)
        except RuntimeError:
            if not self._http.is_closed:
                raise
            failure = self._closed(step)
        if failure is not None:
            raise failure  # outside the handler: see SwapClient._exchange
        return step.check(response)

    async def aclose(self) -> None:
        """Close the HTTP connections (unless the caller supplied the `httpx.AsyncClient`), and
        the ledger and state store this client opened from a path or URL."""
        if self._owns_http:
            await self._http.aclose()
        self._close_opened()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _time_limit(seconds: float) -> contextlib.AbstractAsyncContextManager[object]:
    """``TimeoutError`` when the block outlives `seconds`: asyncio's own timeout on asyncio
    (Python 3.11+), `anyio.fail_after` on any other loop.  anyio's works everywhere, but it
    works out which event loop runs on every call: that cost an async swap 5 % of its
    throughput at 50 at once."""
    if sys.version_info >= (3, 11):
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # trio, or another loop anyio knows
            pass
        else:
            return asyncio.timeout(seconds)
    return _async_context(anyio.fail_after(seconds))


@contextlib.asynccontextmanager
async def _async_context(limit: contextlib.AbstractContextManager[object]) -> AsyncIterator[object]:
    with limit as scope:
        yield scope


def _unbound(response: httpx.Response) -> httpx.Response:
    """`response` (read whole, closed) without the stream httpx bound to it.

    httpx's bound stream and its response refer to each other, so a response lives until the
    garbage collector finds the cycle, body included: with large results, every swap left a
    few megabytes for the allocator to grow the heap around, then give back and fault in
    again (a thousand page faults a swap for an 11-megapixel result).  Once the body is read
    the stream is spent; without it the response, and its body, go as soon as they are
    unused.
    """
    response.stream = _SPENT
    return response


_SPENT = httpx.ByteStream(b"")


def _store(ledger: str | os.PathLike[str] | JobStore | None) -> JobStore:
    """The client's job store: the given one, a ledger file or ``redis://`` URL,
    ``SWAPKIT_LEDGER``, or memory."""
    if ledger is None:
        ledger = os.environ.get("SWAPKIT_LEDGER") or None
    if ledger is None:
        return MemoryJobStore()
    if isinstance(ledger, str) and ledger.startswith(("redis://", "rediss://", "unix://")):
        from swapkit.core.redis_ledger import RedisJobStore

        return RedisJobStore(ledger)
    if isinstance(ledger, (str, os.PathLike)):
        try:
            return SqliteLedger(ledger)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(
                f"cannot open the ledger {str(ledger)!r} ({exc}); pass ledger= a writable file "
                "path, or set SWAPKIT_LEDGER"
            ) from None
    return ledger


def _check_number(
    name: str,
    value: object,
    *,
    minimum: float,
    exclusive: bool = False,
    integer: bool = False,
) -> None:
    """A `ConfigurationError` unless `value` is a finite number (not a bool) within bounds."""
    kind = "a whole number" if integer else "a number"
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value):  # type: ignore[arg-type]
        raise ConfigurationError(f"{name} must be {kind}, not {value!r}")
    assert isinstance(value, (int, float))
    if value < minimum or (exclusive and value == minimum):
        bound = f"above {minimum:g}" if exclusive else f"at least {minimum:g}"
        raise ConfigurationError(f"{name} must be {bound}, not {value!r}")


def _policy(
    policy: FailoverPolicy | None,
    on_unknown_outcome: OnUnknownOutcome | None,
    provider_retries: int | None,
) -> FailoverPolicy:
    """The client's policy: `policy` (or the default) with the keyword overrides applied."""
    changes: dict[str, Any] = {}
    if on_unknown_outcome is not None:
        changes["on_unknown_outcome"] = on_unknown_outcome
    if provider_retries is not None:
        changes["provider_retries"] = provider_retries
    try:
        return dataclasses.replace(policy or FailoverPolicy(), **changes)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def _build_request(request: SwapRequest | None, fields: Mapping[str, Any]) -> SwapRequest:
    try:
        if request is None:
            return SwapRequest(**fields)
        if fields:
            return SwapRequest(**{**dict(request), **fields})
        return request
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'request'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidRequest(f"invalid swap request: {problems}") from None


def _check_idempotency_key(key: str | None) -> None:
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 255):
        raise InvalidRequest("idempotency_key must be a string of 1 to 255 characters")


def _mounts(providers: Sequence[Provider], supplied: object) -> dict[str, Any] | None:
    """httpx mounts for the providers that bring their own transport (`Provider.transport`)."""
    mounts = {
        f"all://{httpx.URL(provider.settings.base_url).host}": provider.transport
        for provider in providers
        if provider.transport is not None
    }
    if mounts and supplied is not None:
        names = ", ".join(p.name for p in providers if p.transport is not None)
        raise ConfigurationError(
            f"{names} answer in-process through their own transport, which cannot be added to "
            "a supplied http_client: leave http_client out, or mount the transport on it"
        )
    return mounts or None


def _configure(
    providers: ProvidersArg, pm: pluggy.PluginManager | None, config: SwapkitConfig
) -> tuple[Provider, ...]:
    installed = installed_providers(pm)
    specs: list[tuple[str | Provider, Mapping[str, Any]]]
    if providers is None:
        specs = [(name, {}) for name in installed]
    elif isinstance(providers, Mapping):
        specs = [(name, settings or {}) for name, settings in providers.items()]
    elif isinstance(providers, str):
        specs = [(providers, {})]
    else:
        specs = [(spec, {}) for spec in providers]
    configured: list[Provider] = []
    for spec, settings in specs:
        if isinstance(spec, Provider):
            configured.append(spec)
            continue
        if spec not in installed:
            known = ", ".join(installed) or "none"
            raise ConfigurationError(
                f"unknown provider {spec!r}; installed providers: {known}. "
                "A provider from a plugin needs its package installed."
            )
        provider_class = installed[spec]
        resolved = resolve_settings(
            provider_class.settings_class,
            spec,
            settings,
            aliases=provider_class.env_aliases,
            file=config.provider_settings(spec),
            file_source=config.source,
        )
        configured.append(provider_class(resolved))
    names = [provider.name for provider in configured]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigurationError(f"provider {', '.join(duplicates)} is listed more than once")
    if not configured:
        raise ConfigurationError("no providers: pass providers=[...] with at least one name")
    return tuple(configured)
