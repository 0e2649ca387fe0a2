"""Choosing providers for a swap and failing over between them.

Before anything is sent, every configured provider is checked against the request using only
what it declares (`Capabilities`, settings, its own `check`): a provider that cannot take the
request is skipped with the reason kept.  The eligible ones are tried in order.  A failure
whose class is in the failover set moves on to the next provider; any other failure (bad input,
a content refusal) ends the swap with that error, since another vendor would refuse it too.

With a single provider configured, its own error is raised as it is (a `ConfigurationError`
for a missing key, `ImageTooLarge` for an oversize image, the vendor's error after a failed
try), which is what an application using one vendor wants to catch.  With several,
`NoEligibleProvider` and `AllProvidersFailed` say what happened at each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from swapkit.core.breaker import CircuitBreaker
from swapkit.core.errors import (
    AllProvidersFailed,
    AuthenticationError,
    ConfigurationError,
    ImageTooLarge,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    NoEligibleProvider,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    ResultInvalid,
    SwapError,
)
from swapkit.core.flow import Flow, Sleep, Uploads, provider_flow
from swapkit.core.images import LoadedImage, load_image
from swapkit.core.models import Attempt, SwapRequest, Template
from swapkit.core.plugins import Events
from swapkit.core.provider import PreparedSwap, Provider
from swapkit.core.retry import Budget
from swapkit.core.strategies import OrderedStrategy, Strategy

__all__ = ["DEFAULT_FAILOVER", "Router", "ineligibility", "prepare", "swap_flow"]

#: Error classes that move a swap on to the next provider.
DEFAULT_FAILOVER: tuple[type[ProviderError], ...] = (
    ProviderUnavailable,
    ProviderTimeout,
    RateLimited,
    AuthenticationError,
    InsufficientCredits,
    JobFailed,
    ResultInvalid,
)


def prepare(request: SwapRequest) -> PreparedSwap:
    """Load the request's images once (bytes read, media types sniffed)."""
    source = load_image(request.source, "source")
    target = request.target
    loaded_target = (
        load_image(target, "target")
        if target is not None and not isinstance(target, Template)
        else None
    )
    return PreparedSwap(request=request, source=source, target=loaded_target)


def ineligibility(
    provider: Provider, prepared: PreparedSwap, uploads: Uploads | None = None
) -> SwapError | None:
    """Why `provider` cannot take this swap (as the error to raise), or None when it can."""
    caps = provider.capabilities
    request = prepared.request
    problem = provider.missing_configuration()
    if problem:
        return ConfigurationError(f"{provider.name}: {problem}")
    if request.target_kind not in caps.target_kinds:
        kinds = " or ".join(
            f"a{'n' if k == 'image' else ''} {k}" for k in sorted(caps.target_kinds)
        )
        given = {"image": "an image", "template": "a Template", "prompt": "a prompt alone"}
        return InvalidRequest(
            f"takes {kinds} as the target, not {given[request.target_kind]}",
            provider=provider.name,
        )
    if request.style is not None and request.style not in caps.styles:
        offered = (
            f"it offers {', '.join(sorted(caps.styles))}"
            if caps.styles
            else "its templates decide the look; leave style unset"
        )
        return InvalidRequest(
            f"cannot produce the {request.style!r} style ({offered})",
            provider=provider.name,
        )
    if request.face_index is not None and not caps.face_index:
        return InvalidRequest(
            "cannot be told which face to replace (face_index)",
            provider=provider.name,
        )
    if request.webhook_url and not caps.webhooks:
        return InvalidRequest(
            "sends no webhooks, so it cannot honour webhook_url",
            provider=provider.name,
        )
    for image in (prepared.source, prepared.target):
        if image is None:
            continue
        uploadable = image.kind == "bytes" and (uploads or Uploads()).can_serve(provider)
        if image.kind not in caps.input_kinds and not uploadable:
            accepted = " or ".join(sorted(caps.input_kinds))
            return InvalidRequest(
                f"takes images as {accepted} only, and the {image.role} image "
                f"is {'a URL' if image.kind == 'url' else 'local bytes'}"
                + (
                    "; pass an http(s) URL, or configure an uploader (SwapClient(uploader=...))"
                    if image.kind == "bytes"
                    else "; pass the image itself (a path or bytes)"
                ),
                provider=provider.name,
            )
        too_big = _too_large(provider, image)
        if too_big:
            return too_big
    price = provider.price_usd(request)
    if request.max_cost_usd is not None and (price is None or price > request.max_cost_usd):
        shown = "an unknown price" if price is None else f"${price:.4f}"
        return InvalidRequest(
            f"costs {shown} per swap, over the budget of ${request.max_cost_usd:.4f}",
            provider=provider.name,
        )
    try:
        provider.check(prepared)
    except SwapError as exc:
        return exc
    return None


def _too_large(provider: Provider, image: LoadedImage) -> ImageTooLarge | None:
    limit = provider.capabilities.max_image_bytes
    size = image.size
    if limit is None or size is None or size <= limit:
        return None
    return ImageTooLarge(
        f"the {image.role} image ({image.origin}) is {size / 2**20:.1f} MB, over "
        f"{provider.name}'s limit of {limit / 2**20:.0f} MB; resize or recompress it "
        "(for example as JPEG) before swapping",
        provider=provider.name,
    )


@dataclasses.dataclass
class Router:
    """A client's routing policy: the order, the breakers, the observers, what fails over."""

    strategy: Strategy = dataclasses.field(default_factory=OrderedStrategy)
    breaker: CircuitBreaker | None = None
    events: Events | None = None
    failover: tuple[type[SwapError], ...] = DEFAULT_FAILOVER
    provider_retries: int = 1


def _unavailable(reasons: dict[str, SwapError]) -> SwapError:
    """The error for a swap no provider could take: one provider's own, or all of them."""
    if len(reasons) == 1:
        return next(iter(reasons.values()))
    return NoEligibleProvider(
        {
            name: why.message
            if isinstance(why, ProviderError)
            else str(why).removeprefix(f"{name}: ")
            for name, why in reasons.items()
        }
    )


def swap_flow(
    providers: Sequence[Provider],
    prepared: PreparedSwap,
    budget: Budget,
    router: Router | None = None,
    uploads: Uploads | None = None,
) -> Flow:
    """Try the eligible providers in the strategy's order until one returns a result.

    Providers whose breaker is open are passed over; when every provider that could take the
    swap is open and the deadline allows, the flow waits for the first to reopen.
    """
    router = router or Router()
    uploads = uploads or Uploads()
    breaker, events = router.breaker, router.events
    clock = budget.clock
    started = clock()
    attempts: list[Attempt] = []

    def finish(attempt: Attempt) -> None:
        attempts.append(attempt)
        if events is not None:
            events.attempt_finished(attempt)

    reasons: dict[str, SwapError] = {}
    able: list[Provider] = []
    for provider in providers:
        why = ineligibility(provider, prepared, uploads)
        if why is None:
            able.append(provider)
        else:
            reasons[provider.name] = why
            said = why.message if isinstance(why, ProviderError) else str(why)
            finish(Attempt(provider=provider.name, reason=f"skipped: {said}", skipped=True))
    if not able:
        raise _unavailable(reasons)

    pending = router.strategy.rank(able, prepared.request)
    tried: list[Attempt] = []
    last_failure: tuple[str, ProviderError] | None = None
    while True:
        blocked: list[tuple[Provider, str, str]] = []
        for index, (provider, chosen) in enumerate(pending):
            gate = breaker.closed_reason(provider.name) if breaker is not None else None
            if gate is not None:
                blocked.append((provider, chosen, gate))
                finish(Attempt(provider=provider.name, reason=f"skipped: {gate}", skipped=True))
                continue
            if not budget.take_attempt():
                if breaker is not None:
                    breaker.release(provider.name)
                break
            model = provider.model_for(prepared.request)
            reason = chosen
            if last_failure is not None:
                failed_at, error = last_failure
                reason = f"failover after {type(error).__name__} from {failed_at}; {chosen}"
                if events is not None:
                    events.failover(failed_at, provider.name, error)
            if events is not None:
                events.attempt_started(provider.name, model, reason)
            budget.retry_cap = router.provider_retries if index < len(pending) - 1 else None
            attempt_started = clock()
            try:
                result = yield from provider_flow(provider, prepared, budget, uploads)
            except ProviderError as exc:
                attempt = Attempt(
                    provider=provider.name,
                    model=model,
                    reason=reason,
                    error=exc,
                    elapsed_seconds=clock() - attempt_started,
                    # An answered error costs nothing (the vendors refund or do not charge
                    # 4xx/5xx); a timeout or dropped connection may have been charged: unknown.
                    cost_usd=0.0 if (exc.status_code or 0) >= 400 else None,
                )
                tried.append(attempt)
                finish(attempt)
                router.strategy.observe(attempt)
                if breaker is not None:
                    breaker.record_failure(provider.name, exc)
                if not isinstance(exc, router.failover) or budget.remaining_seconds() <= 0:
                    raise
                last_failure = (provider.name, exc)
                continue
            cost = provider.price_usd(prepared.request)
            attempt = Attempt(
                provider=provider.name,
                model=result.model or model,
                reason=reason,
                elapsed_seconds=clock() - attempt_started,
                cost_usd=cost,
            )
            finish(attempt)
            router.strategy.observe(attempt)
            if breaker is not None:
                breaker.record_success(provider.name)
            return dataclasses.replace(
                result,
                model=result.model or model,
                elapsed_seconds=clock() - started,
                cost_usd=cost,
                attempts=tuple(attempts),
            )
        if tried or not blocked or breaker is None:
            break
        reopen = min(breaker.reopens_at(p.name) or clock() for p, _, _ in blocked)
        wait = max(0.0, reopen - clock())
        if wait >= budget.remaining_seconds():
            break
        yield Sleep(wait)
        pending = [(p, chosen) for p, chosen, _ in blocked]
        blocked = []

    for provider, _, gate in blocked:
        reasons[provider.name] = ProviderUnavailable(gate, provider=provider.name)
    if not tried:
        raise _unavailable(reasons)
    if len(tried) == 1 and tried[0].error is not None and not blocked:
        raise tried[0].error
    raise AllProvidersFailed(attempts)
