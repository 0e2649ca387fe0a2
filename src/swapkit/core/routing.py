"""Choosing providers for a swap and failing over between them, without paying twice.

Before anything is sent, every configured provider is checked against the request using only
what it declares (`Capabilities`, settings, its own `check`): a provider that cannot take the
request is skipped with the reason kept.  The eligible ones are tried in the strategy's order.
After a failed attempt the swap's `FailoverPolicy` says, from the error and the phase it
happened in, whether to move on to the next provider or end the swap; an attempt whose submit
has an unknown outcome ends the swap with `OutcomeUnknown` unless the policy allows failover.

Money is tracked per attempt (`Attempt.charged`, `Attempt.cost_usd`) and per swap
(``spent_usd``): before each attempt the swap's ``max_cost_usd`` must still cover what was
spent (or may have been) plus the next provider's price, or that provider is passed over.

With a single provider configured, its own error is raised as it is (a `ConfigurationError`
for a missing key, `ImageTooLarge` for an oversize image, the vendor's error after a failed
try), which is what an application using one vendor wants to catch.  With several,
`NoEligibleProvider` and `AllProvidersFailed` say what happened at each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

from swapkit.core.breaker import Admission, CircuitBreaker
from swapkit.core.errors import (
    AllProvidersFailed,
    ConfigurationError,
    ImageTooLarge,
    InvalidRequest,
    NoEligibleProvider,
    ProviderError,
    ProviderUnavailable,
    SwapError,
)
from swapkit.core.flow import Handoff, Run, Sleep, Step, Uploads, provider_flow
from swapkit.core.images import LoadedImage, load_image
from swapkit.core.models import Attempt, SwapRequest, SwapResult, Template
from swapkit.core.pacing import Pacer
from swapkit.core.plugins import Events
from swapkit.core.policy import FailoverPolicy, Phase
from swapkit.core.provider import PreparedSwap, Provider
from swapkit.core.retry import Budget
from swapkit.core.strategies import OrderedStrategy, Strategy

__all__ = ["Router", "Submitted", "ineligibility", "prepare", "spent", "swap_flow"]


def prepare(request: SwapRequest) -> PreparedSwap:
    """Load the request's images once (bytes read, media types sniffed)."""
    source = load_image(request.source, "source")
    target = request.target
    loaded_target = None
    if target is not None and not isinstance(target, Template):
        if target is request.source or (
            isinstance(target, str | Path) and str(target) == str(request.source)
        ):
            loaded_target = source.twin("target", source.origin)  # held and encoded once
        else:
            loaded_target = load_image(target, "target")
            if loaded_target.data is not None and loaded_target.data == source.data:
                loaded_target = source.twin("target", loaded_target.origin)
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
    """A client's routing: the order, the breakers, the observers, the failover policy."""

    strategy: Strategy = dataclasses.field(default_factory=OrderedStrategy)
    breaker: CircuitBreaker | None = None
    events: Events | None = None
    policy: FailoverPolicy = dataclasses.field(default_factory=FailoverPolicy)
    pacer: Pacer | None = None

    def store_degraded(self) -> bool:
        """Whether the shared state behind the breakers or the pacing is down right now (they
        answer from this process's own state meanwhile)."""
        breaker = self.breaker is not None and self.breaker.store_degraded
        pacing = self.pacer is not None and bool(getattr(self.pacer.state, "degraded", False))
        return breaker or pacing


@dataclasses.dataclass(frozen=True)
class Submitted:
    """A swap whose vendor accepted the job and is still running it (`Handoff`): what a
    detached swap (`submit()`) ends with instead of a result."""

    swap_id: str
    handoff: Handoff
    attempts: tuple[Attempt, ...]
    spent_usd: float | None


def spent(attempts: Sequence[Attempt]) -> float | None:
    """What `attempts` may have cost together (None when any cost is unknown)."""
    total = 0.0
    for attempt in attempts:
        if attempt.cost_usd is None:
            return None
        total += attempt.cost_usd
    return total


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


@dataclasses.dataclass
class _Swap:
    """One swap across providers: its terms, and the attempts (and money) so far."""

    prepared: PreparedSwap
    budget: Budget
    router: Router
    swap_id: str
    started: float
    #: The per-job webhook URL for a provider (None: no webhook).
    webhook: Callable[[str], str | None] | None = None
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    #: The attempts that ran (not skipped) and how each ended.
    tried: list[Attempt] = dataclasses.field(default_factory=list)
    #: The provider, error and phase of the last failed attempt.
    last_failure: tuple[str, ProviderError, Phase] | None = None

    def add(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        if not attempt.skipped:
            self.tried.append(attempt)
        if self.router.events is not None:
            self.router.events.attempt_finished(attempt, self.swap_id)

    def skip(self, provider: Provider, why: str) -> None:
        self.add(Attempt(provider=provider.name, reason=f"skipped: {why}", skipped=True))

    def record(self, run: Run, reason: str, started: float, error: ProviderError | None) -> Attempt:
        """The attempt `run` made, with what it may have cost."""
        price = run.provider.price_usd(self.prepared.request)
        attempt = Attempt(
            provider=run.provider.name,
            model=run.model,
            reason=reason,
            error=error,
            elapsed_seconds=self.budget.clock() - started,
            cost_usd=0.0 if run.charged is False else price,
            charged=run.charged,
            job_id=run.job_id,
            store_degraded=self.router.store_degraded(),
        )
        self.add(attempt)
        self.router.strategy.observe(attempt)
        return attempt

    def over_budget(self, provider: Provider) -> str | None:
        """Why the swap cannot afford `provider` after what it has spent, or None."""
        limit = self.prepared.request.max_cost_usd
        if limit is None or not self.tried:
            return None  # the price alone was checked for eligibility
        so_far = spent(self.attempts)
        price = provider.price_usd(self.prepared.request)
        if so_far is None or price is None:
            return (
                f"what the swap has cost so far or {provider.name}'s price is unknown, so its "
                f"budget of ${limit:.4f} cannot be shown to cover another attempt"
            )
        if so_far + price > limit + 1e-9:
            return (
                f"the swap may already have cost ${so_far:.4f}; ${price:.4f} more would pass "
                f"its budget of ${limit:.4f}"
            )
        return None

    def ended(self, error: SwapError) -> SwapError:
        """`error`, carrying the swap's id, attempts and money."""
        error.swap_id = self.swap_id
        error.attempts = tuple(self.attempts)
        error.spent_usd = spent(self.attempts)
        return error

    def succeeded(self, result: SwapResult, attempt: Attempt) -> SwapResult:
        return dataclasses.replace(
            result,
            model=result.model or attempt.model,
            elapsed_seconds=self.budget.clock() - self.started,
            cost_usd=attempt.cost_usd,
            spent_usd=spent(self.attempts),
            swap_id=self.swap_id,
            attempts=tuple(self.attempts),
        )


def swap_flow(
    providers: Sequence[Provider],
    prepared: PreparedSwap,
    budget: Budget,
    router: Router | None = None,
    uploads: Uploads | None = None,
    swap_id: str = "",
    *,
    detach: bool = False,
    webhook: Callable[[str], str | None] | None = None,
) -> Generator[Step, Any, SwapResult | Submitted]:
    """Try the eligible providers in the strategy's order until one returns a result.

    Providers whose breaker is open, or that the pacer holds back (paused by a rate limit,
    saturated), are passed over; when every provider that could take the swap is waiting and
    the deadline allows, the flow sleeps until the first may be asked again.  With `detach`, a
    job the vendor accepted and is still running ends the flow as `Submitted` (failover happens
    only before that).
    """
    router = router or Router()
    uploads = uploads or Uploads()
    swap = _Swap(prepared, budget, router, swap_id, started=budget.clock(), webhook=webhook)
    reasons: dict[str, SwapError] = {}
    able = _eligible(swap, providers, uploads, reasons)
    queue = router.strategy.rank(able, prepared.request)
    blocked: list[tuple[Provider, str, Admission]] = []
    while queue:
        blocked = []
        for index, (provider, chosen) in enumerate(queue):
            admission = router.breaker.admit(provider.name) if router.breaker else Admission()
            if admission.reason is None:
                paced = _pace(router, provider)
                if paced.reason is not None:
                    if router.breaker is not None:
                        router.breaker.release(provider.name, admission)
                    admission = paced
            if admission.reason is not None:
                blocked.append((provider, chosen, admission))
                swap.skip(provider, admission.reason)
                continue
            try:
                refusal = swap.over_budget(provider)
                if refusal is not None or not budget.take_attempt():
                    if router.breaker is not None:
                        router.breaker.release(provider.name, admission)
                    if refusal is None:
                        break  # max_attempts spent
                    swap.skip(provider, refusal)
                    continue
                last = index == len(queue) - 1
                retries = None if last else router.policy.provider_retries
                outcome = yield from _attempt(
                    swap, provider, chosen, admission, retries, uploads, detach
                )
            finally:
                if router.pacer is not None:
                    router.pacer.release(provider.name)
            if isinstance(outcome, (SwapResult, Submitted)):
                return outcome
            if not _fails_over(swap):
                raise swap.ended(outcome)
        queue = [] if swap.tried else (yield from _wait_for_admission(swap, blocked))
    for provider, _, admission in blocked:
        reasons[provider.name] = ProviderUnavailable(admission.reason or "", provider=provider.name)
    if not swap.tried:
        raise swap.ended(_unavailable(reasons))
    if len(swap.tried) == 1 and not blocked and swap.tried[0].error is not None:
        raise swap.ended(swap.tried[0].error)
    raise swap.ended(AllProvidersFailed(swap.attempts))


def _pace(router: Router, provider: Provider) -> Admission:
    """A slot at `provider` from the client's pacer (a reason when there is none)."""
    if router.pacer is None:
        return Admission()
    settings = provider.settings
    return router.pacer.acquire(
        provider.name, settings.max_concurrency, settings.requests_per_minute
    )


def _eligible(
    swap: _Swap, providers: Sequence[Provider], uploads: Uploads, reasons: dict[str, SwapError]
) -> list[Provider]:
    """The providers that can take the swap; the others are skipped with their reason."""
    able: list[Provider] = []
    for provider in providers:
        why = ineligibility(provider, swap.prepared, uploads)
        if why is None:
            able.append(provider)
            continue
        reasons[provider.name] = why
        swap.skip(provider, why.message if isinstance(why, ProviderError) else str(why))
    if not able:
        raise swap.ended(_unavailable(reasons))
    return able


def _attempt(
    swap: _Swap,
    provider: Provider,
    chosen: str,
    admission: Admission,
    retries: int | None,
    uploads: Uploads,
    detach: bool = False,
) -> Generator[Step, Any, SwapResult | Submitted | ProviderError]:
    """One attempt at `provider`: its result, the job it handed off (with `detach`), or the
    error it ended with (recorded either way).

    Its breaker hears the verdict; a probe that ends without one (an input error, an exception
    that is not swapkit's, a cancelled task) is released, whatever ends it.
    """
    router = swap.router
    breaker, events = router.breaker, router.events
    run = Run(
        provider,
        swap.budget,
        router.policy,
        swap.swap_id,
        retries=retries,
        webhook_url=swap.webhook(provider.name) if swap.webhook is not None else None,
        model=provider.model_for(swap.prepared.request),
        observe=router.pacer.observe if router.pacer is not None else None,
    )
    reason = chosen
    if swap.last_failure is not None:
        failed_at, error, _ = swap.last_failure
        reason = f"failover after {type(error).__name__} from {failed_at}; {chosen}"
        if events is not None:
            events.failover(failed_at, provider.name, error, swap.swap_id)
    if events is not None:
        events.attempt_started(provider.name, run.model, reason, swap.swap_id)
    started = swap.budget.clock()
    judged = False
    try:
        result = yield from provider_flow(run, swap.prepared, uploads, detach=detach)
    except ProviderError as exc:
        swap.record(run, reason, started, exc)
        if breaker is not None and router.policy.counts(exc):
            breaker.record_failure(provider.name, exc)
            judged = True
        swap.last_failure = (provider.name, exc, run.phase)
        return exc
    finally:
        if not judged and breaker is not None:
            breaker.release(provider.name, admission)
    attempt = swap.record(run, reason, started, None)
    if isinstance(result, Handoff):  # accepted and running: no verdict on the vendor yet
        if breaker is not None:
            breaker.release(provider.name, admission)
        attempts = tuple(swap.attempts)
        return Submitted(swap.swap_id, result, attempts, spent(attempts))
    if breaker is not None:
        breaker.record_success(provider.name)
    return swap.succeeded(result, attempt)


def _fails_over(swap: _Swap) -> bool:
    """Whether the swap moves on after its last failure (else it ends with that error)."""
    assert swap.last_failure is not None
    _, error, phase = swap.last_failure
    policy = swap.router.policy
    action = policy.then(error, phase)
    if action == "unknown":
        action = "failover" if policy.on_unknown_outcome == "failover" else "end"
    return action == "failover" and swap.budget.remaining_seconds() > 0


def _wait_for_admission(
    swap: _Swap, blocked: list[tuple[Provider, str, Admission]]
) -> Generator[Step, Any, list[tuple[Provider, str]]]:
    """Sleep until a blocked provider may be asked again; nothing when the deadline is first."""
    times = [admission.retry_in for _, _, admission in blocked if admission.retry_in is not None]
    if not times:
        return []
    wait = max(0.0, min(times))
    if wait >= swap.budget.remaining_seconds():
        return []
    yield Sleep(wait)
    return [(provider, chosen) for provider, chosen, _ in blocked]
