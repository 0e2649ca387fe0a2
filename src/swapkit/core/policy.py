"""The one failover policy: what a swap does about each error, in each phase of an attempt.

Every decision about a failed exchange or a failed attempt is read from one `FailoverPolicy`:
the driver's retries, the router's failover, whether a circuit breaker counts the failure.
Nothing else in swapkit keeps its own list of error classes.

An attempt at one provider goes through four phases:

* ``upload``: storing a local image with a URL-only vendor (or the application's uploader).
  Free; no job exists yet.
* ``submit``: the request that starts the paid job.  Until the vendor answers, nobody knows
  whether it accepted (and will charge for) the job.
* ``poll``: asking how an accepted job is doing.  Free and idempotent.
* ``download``: fetching an accepted job's result.  Free and idempotent (result URLs live for
  hours).

For each error class and phase a `Rule` says whether the same request is sent again
(``retry``, only when the error says a resend is safe, within the deadline and the limits
below) and what happens when it is not, or no longer, retried (``then``):

* ``failover``: this provider is given up and the next one is tried;
* ``end``: the swap ends with this error;
* ``unknown``: the vendor may have accepted the job.  By default the swap ends with
  `OutcomeUnknown` (``on_unknown_outcome="raise"``); with ``"failover"`` the next provider is
  tried if the swap's budget covers paying both.

The rule for an error is the one of its nearest class in the table (``NoFaceDetected`` uses
``InvalidRequest``'s); a class the table does not know, and a phase a class has no rule for,
ends the swap.  `FailoverPolicy.table` renders the rules (the table in ``docs/routing.md`` is
generated from it, and a test keeps the two in step).

Retry limits, which keep failover from being starved and paid jobs from being abandoned:

* ``upload`` and ``submit`` exchanges are retried at most `provider_retries` times each while
  another provider remains (the last provider may use the whole budget), and every such retry
  spends one of the swap's ``max_attempts``; a certain refusal (no connection, a 503) is not
  retried at all while another provider remains: the swap fails over at once
  (`FailoverPolicy.certain_refusal`);
* ``poll`` and ``download`` exchanges of an accepted job cost nothing and spend no attempts:
  they are retried for as long as the deadline allows (`read_retries` is a backstop for a
  clock that never moves);
* every back-off is exponential with jitter (`backoff_initial`, `backoff_max`,
  `backoff_jitter`), a vendor's ``Retry-After`` replaces it, and no wait ever runs past the
  deadline: a wait that would is not taken, and the error stands.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Literal

from swapkit.core.errors import (
    AuthenticationError,
    ContentRefused,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    JobNotFound,
    LocalFailure,
    MalformedResponse,
    OutcomeUnknown,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    ResultExpired,
    ResultInvalid,
    SwapError,
)

__all__ = [
    "PHASES",
    "Action",
    "FailoverPolicy",
    "OnUnknownOutcome",
    "Phase",
    "Rule",
]

Phase = Literal["upload", "submit", "poll", "download"]
#: The phases of one attempt, in the order they happen.
PHASES: tuple[Phase, ...] = ("upload", "submit", "poll", "download")

#: What happens once an error is not (or no longer) retried.
Action = Literal["failover", "end", "unknown"]

#: What a swap does after a submit whose outcome is unknown.
OnUnknownOutcome = Literal["raise", "failover"]


@dataclasses.dataclass(frozen=True)
class Rule:
    """For one error class in one phase: resend the same request first?  Then what?"""

    then: Action = "end"
    retry: bool = False

    def describe(self) -> str:
        """The rule in words, as the docs' table shows it."""
        words = {"failover": "fail over", "end": "end", "unknown": "unknown outcome"}[self.then]
        return f"retry, then {words}" if self.retry else words


RuleSpec = Rule | Action

_END = Rule("end")


def _phases(before: Rule, after: Rule) -> dict[Phase, Rule]:
    """`before` for upload and submit (no job yet), `after` for poll and download."""
    return {"upload": before, "submit": before, "poll": after, "download": after}


def _default_rules() -> dict[type[SwapError], dict[Phase, Rule]]:
    """swapkit's defaults (see the module docstring and ``docs/routing.md``)."""
    failover, end = Rule("failover"), Rule("end")
    transient = _phases(Rule("failover", retry=True), Rule("end", retry=True))
    return {
        # Bad input or a refusal: another vendor would refuse it too, or should not be asked.
        InvalidRequest: _phases(end, end),
        ContentRefused: _phases(end, end),
        # This account cannot use this vendor: another vendor may serve the swap.  Once a job
        # was accepted the vendor owes its result, and nothing is bought again.
        AuthenticationError: _phases(failover, end),
        InsufficientCredits: _phases(failover, end),
        PermissionDenied: _phases(failover, end),
        # Transient: retried here when a resend is safe.  Before acceptance, failover follows;
        # after it, the job is finished at this vendor or not at all.
        RateLimited: transient,
        ProviderUnavailable: transient,
        ProviderTimeout: transient,
        # The submit's answer was lost: the vendor may have accepted and charged.
        OutcomeUnknown: _phases(Rule("unknown"), Rule("unknown")),
        # The vendor says the job failed: the one reason to leave an accepted job.
        JobFailed: _phases(failover, failover),
        JobNotFound: _phases(failover, end),
        ResultExpired: _phases(end, end),
        # "Done" with a missing or broken image: a cut download is fetched again; a result
        # that stays broken is a failed job.
        ResultInvalid: {**_phases(failover, failover), "download": Rule("failover", retry=True)},
        # A 2xx that cannot be read: read again; a submit's is an unknown outcome.
        MalformedResponse: {
            **transient,
            "submit": Rule("unknown"),
            "download": Rule("failover", retry=True),
        },
        # This side's fault (a full connection pool, a closed client), not the vendor's.
        LocalFailure: _phases(end, end),
    }


#: Error classes that say nothing about a provider's health: its breaker does not count them.
_NOT_COUNTED: tuple[type[SwapError], ...] = (InvalidRequest, ContentRefused, LocalFailure)


@dataclasses.dataclass(frozen=True)
class FailoverPolicy:
    """The rules, the unknown-outcome choice, and the retry limits (see the module docstring).

    Read it from ``client.policy``; build a changed copy with `with_rules` or
    ``dataclasses.replace``::

        policy = FailoverPolicy().with_rules({errors.ResultInvalid: {"download": "end"}})
        client = SwapClient(providers=[...], policy=policy)
    """

    rules: Mapping[type[SwapError], Mapping[Phase, Rule]] = dataclasses.field(
        default_factory=_default_rules
    )
    on_unknown_outcome: OnUnknownOutcome = "raise"
    provider_retries: int = 1
    read_retries: int = 100
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    backoff_jitter: float = 0.2
    not_counted: tuple[type[SwapError], ...] = _NOT_COUNTED

    def __post_init__(self) -> None:
        if self.on_unknown_outcome not in ("raise", "failover"):
            raise ValueError("on_unknown_outcome must be 'raise' or 'failover'")
        for name in ("provider_retries", "read_retries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number, 0 or more")

    def rule(self, error: BaseException, phase: Phase) -> Rule:
        """The rule for `error` in `phase`: its nearest class's, else end the swap."""
        for cls in type(error).__mro__:
            phases = self.rules.get(cls)
            if phases is not None:
                return phases.get(phase, _END)
        return _END

    def retries(self, error: BaseException, phase: Phase) -> bool:
        """Whether `error` in `phase` may be retried here.

        A poll or a download is a free read, always safe to send again; an upload or a
        submit only when the error says the vendor cannot have acted on it (``retryable``).
        """
        if not isinstance(error, ProviderError) or not self.rule(error, phase).retry:
            return False
        return phase in ("poll", "download") or error.retryable

    def certain_refusal(self, error: BaseException, phase: Phase) -> bool:
        """Whether `error` before acceptance says for sure the vendor did not take the swap
        (no connection could be made, or it answered 503): with another provider left, the
        swap fails over at once, without a back-off or a retry here."""
        if phase not in ("upload", "submit") or not isinstance(error, ProviderUnavailable):
            return False
        return not error.reached_vendor or error.status_code == 503

    def then(self, error: BaseException, phase: Phase) -> Action:
        """What the swap does once `error` in `phase` is not, or no longer, retried."""
        return self.rule(error, phase).then

    def counts(self, error: BaseException) -> bool:
        """Whether `error` counts against the provider's circuit breaker: not for the classes
        in `not_counted`, nor for an error that does not blame the vendor (a timeout of a
        request the vendor held for less than a fair time: it waited for a connection on this
        side, or the swap's deadline left it little)."""
        return (
            isinstance(error, ProviderError)
            and error.blames_vendor
            and not isinstance(error, self.not_counted)
        )

    def backoff(self, retry_number: int, jitter: float) -> float:
        """The wait before retry `retry_number` (1-based), given a jitter draw in [0, 1)."""
        exponent = min(retry_number - 1, 64)  # past that, the cap applies anyway
        base = self.backoff_initial * 2.0**exponent
        return float(min(self.backoff_max, base + jitter * self.backoff_jitter))

    def with_rules(
        self, changes: Mapping[type[SwapError], Mapping[Phase, RuleSpec]]
    ) -> FailoverPolicy:
        """A copy with some rules changed; an action alone (``"end"``) means no retry."""
        rules = {cls: dict(phases) for cls, phases in self.rules.items()}
        for cls, phases in changes.items():
            merged = rules.setdefault(cls, {})
            for phase, spec in phases.items():
                if phase not in PHASES:
                    raise ValueError(f"unknown phase {phase!r}; phases are {', '.join(PHASES)}")
                merged[phase] = spec if isinstance(spec, Rule) else Rule(spec)
        return dataclasses.replace(self, rules=rules)

    def rows(self) -> Iterator[tuple[str, dict[Phase, str], bool]]:
        """Each class's name, its rule per phase in words, and whether breakers count it."""
        for cls, phases in self.rules.items():
            yield (
                cls.__name__,
                {phase: phases.get(phase, _END).describe() for phase in PHASES},
                issubclass(cls, ProviderError) and not issubclass(cls, self.not_counted),
            )

    def table(self) -> str:
        """The rules as a Markdown table (the one in ``docs/routing.md``)."""
        lines = [
            "| error | " + " | ".join(PHASES) + " | counts for the breaker |",
            "|---|" + "---|" * len(PHASES) + "---|",
        ]
        for name, phases, counted in self.rows():
            cells = " | ".join(phases[phase] for phase in PHASES)
            lines.append(f"| `{name}` | {cells} | {'yes' if counted else 'no'} |")
        return "\n".join(lines)
