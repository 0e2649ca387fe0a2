"""`SwapClient` and `AsyncSwapClient`: thin I/O shells over one swap flow.

Everything that decides anything lives in `_BaseClient` and the flow it starts
(`swapkit.core.routing.swap_flow`).  The two public classes differ only in how they perform a
step: `httpx.Client` and ``time.sleep``, or `httpx.AsyncClient` and ``asyncio.sleep``, with the
same stamina retry policy around each exchange.  A parity test keeps their public methods and
signatures in step.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import anyio.to_thread
import httpx
import pluggy
import stamina
from pydantic import ValidationError
from typing_extensions import Self

from swapkit.core.breaker import CircuitBreaker
from swapkit.core.clock import Clock, SystemClock
from swapkit.core.errors import ConfigurationError, InvalidRequest, SwapError
from swapkit.core.flow import Flow, Send, Sleep, Step, Uploads, templates_flow, transport_error
from swapkit.core.images import is_file_reference
from swapkit.core.models import SwapRequest, SwapResult, Template, WebhookEvent
from swapkit.core.plugins import Events, installed_providers, installed_uploader
from swapkit.core.provider import PreparedSwap, Provider
from swapkit.core.retry import Budget, retry_hook
from swapkit.core.routing import DEFAULT_FAILOVER, Router, prepare, swap_flow
from swapkit.core.strategies import Strategy, strategy_from
from swapkit.core.uploads import Uploader

__all__ = ["AsyncSwapClient", "SwapClient"]

T = TypeVar("T")

ProviderSpec = str | Provider
ProvidersArg = Sequence[ProviderSpec] | Mapping[str, Mapping[str, Any] | None] | None

#: End-to-end bound of one swap when neither the client nor the request sets one (seconds).
DEFAULT_DEADLINE = 120.0
#: Attempts per swap, retries and failover hops together.
DEFAULT_MAX_ATTEMPTS = 4


class _BaseClient:
    """Configuration and flow construction shared by both clients."""

    def __init__(
        self,
        providers: ProvidersArg = None,
        *,
        deadline: float = DEFAULT_DEADLINE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_cost_usd: float | None = None,
        failover: Sequence[type[SwapError]] = DEFAULT_FAILOVER,
        provider_retries: int = 1,
        strategy: str | Strategy = "ordered",
        circuit_breaker: CircuitBreaker | bool = True,
        observers: Sequence[object] = (),
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock | None = None,
        uploader: Uploader | None = None,
    ) -> None:
        if deadline <= 0:
            raise ConfigurationError("deadline must be a positive number of seconds")
        if max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        if provider_retries < 0:
            raise ConfigurationError("provider_retries must be 0 or more")
        self.deadline = deadline
        self.max_attempts = max_attempts
        self.max_cost_usd = max_cost_usd
        self._clock: Clock = clock or SystemClock()
        self._providers = _configure(providers, plugin_manager)
        self.uploader = uploader or installed_uploader(plugin_manager)
        events = Events(plugin_manager, observers)
        breaker: CircuitBreaker | None
        if circuit_breaker is True:
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
            failover=tuple(failover),
            provider_retries=provider_retries,
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
        return templates_flow(provider, budget)

    def _request(self, request: SwapRequest | None, fields: Mapping[str, Any]) -> SwapRequest:
        swap_request = _build_request(request, fields)
        if swap_request.max_cost_usd is None and self.max_cost_usd is not None:
            swap_request = swap_request.model_copy(update={"max_cost_usd": self.max_cost_usd})
        return swap_request

    def _flow(self, prepared: PreparedSwap) -> Flow:
        request = prepared.request
        clock = self._clock.monotonic
        budget = Budget(
            attempts_left=request.max_attempts or self.max_attempts,
            deadline_at=clock() + (request.deadline or self.deadline),
            clock=clock,
        )
        return swap_flow(self._providers, prepared, budget, self._router, Uploads(self.uploader))


class SwapClient(_BaseClient):
    """The blocking client.  Use as a context manager, or call `close()`."""

    def __init__(
        self,
        providers: ProvidersArg = None,
        *,
        deadline: float = DEFAULT_DEADLINE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_cost_usd: float | None = None,
        failover: Sequence[type[SwapError]] = DEFAULT_FAILOVER,
        provider_retries: int = 1,
        strategy: str | Strategy = "ordered",
        circuit_breaker: CircuitBreaker | bool = True,
        observers: Sequence[object] = (),
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock | None = None,
        uploader: Uploader | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            providers,
            deadline=deadline,
            max_attempts=max_attempts,
            max_cost_usd=max_cost_usd,
            failover=failover,
            provider_retries=provider_retries,
            strategy=strategy,
            circuit_breaker=circuit_breaker,
            observers=observers,
            plugin_manager=plugin_manager,
            clock=clock,
            uploader=uploader,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(follow_redirects=True)

    def swap(self, request: SwapRequest | None = None, /, **fields: Any) -> SwapResult:
        """Swap the face from `source` into `target`, blocking until the result is ready.

        Pass a `SwapRequest`, or its fields as keyword arguments (or both: the keywords
        override the request's fields).
        """
        return self._drive(self._flow(prepare(self._request(request, fields))))

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
                    if isinstance(step, Sleep):
                        self._clock.sleep(step.seconds)
                    else:
                        value = self._send(step)
                except SwapError as exc:
                    error = exc
        finally:
            flow.close()

    def _send(self, step: Send) -> httpx.Response:
        hook = retry_hook(step.budget, idempotent=step.idempotent)
        for attempt in stamina.retry_context(on=hook, attempts=None, timeout=None):
            with attempt:
                try:
                    response = self._http.send(step.ready())
                except httpx.TransportError as exc:
                    raise transport_error(exc, step) from exc
                step.check(response)
        return response

    def close(self) -> None:
        """Close the HTTP connections (unless the caller supplied the `httpx.Client`)."""
        if self._owns_http:
            self._http.close()

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
        deadline: float = DEFAULT_DEADLINE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_cost_usd: float | None = None,
        failover: Sequence[type[SwapError]] = DEFAULT_FAILOVER,
        provider_retries: int = 1,
        strategy: str | Strategy = "ordered",
        circuit_breaker: CircuitBreaker | bool = True,
        observers: Sequence[object] = (),
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock | None = None,
        uploader: Uploader | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            providers,
            deadline=deadline,
            max_attempts=max_attempts,
            max_cost_usd=max_cost_usd,
            failover=failover,
            provider_retries=provider_retries,
            strategy=strategy,
            circuit_breaker=circuit_breaker,
            observers=observers,
            plugin_manager=plugin_manager,
            clock=clock,
            uploader=uploader,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(follow_redirects=True)

    async def swap(self, request: SwapRequest | None = None, /, **fields: Any) -> SwapResult:
        """Swap the face from `source` into `target`; see `SwapClient.swap`."""
        swap_request = self._request(request, fields)
        if any(map(is_file_reference, (swap_request.source, swap_request.target))):
            # keep the read of a (possibly large) file off the event loop
            prepared = await anyio.to_thread.run_sync(prepare, swap_request)
        else:
            prepared = prepare(swap_request)
        return await self._drive(self._flow(prepared))

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
                    if isinstance(step, Sleep):
                        await self._clock.asleep(step.seconds)
                    else:
                        value = await self._send(step)
                except SwapError as exc:
                    error = exc
        finally:
            flow.close()

    async def _send(self, step: Send) -> httpx.Response:
        hook = retry_hook(step.budget, idempotent=step.idempotent)
        async for attempt in stamina.retry_context(on=hook, attempts=None, timeout=None):
            with attempt:
                try:
                    response = await self._http.send(step.ready())
                except httpx.TransportError as exc:
                    raise transport_error(exc, step) from exc
                step.check(response)
        return response

    async def aclose(self) -> None:
        """Close the HTTP connections (unless the caller supplied the `httpx.AsyncClient`)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


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


def _configure(providers: ProvidersArg, pm: pluggy.PluginManager | None) -> tuple[Provider, ...]:
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
        configured.append(installed[spec](**settings))
    names = [provider.name for provider in configured]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigurationError(f"provider {', '.join(duplicates)} is listed more than once")
    if not configured:
        raise ConfigurationError("no providers: pass providers=[...] with at least one name")
    return tuple(configured)
