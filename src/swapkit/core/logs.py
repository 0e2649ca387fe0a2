"""swapkit's own log: one structured record per thing a swap does, on the ``swapkit`` logger.

Every record carries its fields as attributes (for a JSON formatter, structlog's
``ProcessorFormatter`` or a log shipper) and says them again in its message (for a plain
``logging.basicConfig``).  ``swap_id`` is swapkit's id of the swap, which is also its job id in
the ledger (``swp_…``); ``job_id`` is the vendor's job id, also set as ``vendor_job_id``.  The
attributes are always present on a record of a given ``event``:

===============  =====================================================================  =======
``event``        fields                                                                 level
===============  =====================================================================  =======
``attempt``      swap_id, provider, model, job_id (the vendor's), outcome, cost_usd,    INFO
                 charged, elapsed_seconds
``failover``     swap_id, provider (the one left), to_provider, outcome                 DEBUG
``retry``        swap_id, provider, what, retry, wait_seconds, outcome                  DEBUG
``job``          swap_id, state, provider, job_id                                       DEBUG
``swap``         swap_id, provider, outcome (or ``handed_off``), spent_usd              DEBUG
``breaker``      provider, old, new                                                     WARNING
                                                                                        (open),
                                                                                        DEBUG
===============  =====================================================================  =======

``outcome`` is ``"ok"``, ``"skipped"`` or the swapkit error's class name.  At INFO an
application sees one line per attempt (a failover shows as the next attempt's line, whose
reason names it) and a warning when a provider's circuit opens.  Nothing here logs a secret:
the fields are swapkit's own values, and error messages are already free of credentials.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swapkit.core.models import Attempt

__all__ = [
    "log_attempt",
    "log_breaker",
    "log_failover",
    "log_job",
    "log_retry",
    "log_swap",
    "logger",
]

logger = logging.getLogger("swapkit")


def _emit(level: int, event: str, message: str, fields: dict[str, Any]) -> None:
    """Log one record (each ``log_*`` checks its level first: below it, nothing is built)."""
    if not logger.isEnabledFor(level):
        return
    shown = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
    extra = {"event": event, **fields}
    if "job_id" in fields:  # the vendor's job id, under the ledger's name for it too
        extra["vendor_job_id"] = fields["job_id"]
    logger.log(level, "%s %s", message, shown, extra=extra)


def outcome_of(error: BaseException | None) -> str:
    """The ``outcome`` field for an attempt that ended with `error` (None: it succeeded)."""
    return "ok" if error is None else type(error).__name__


def log_attempt(attempt: Attempt, swap_id: str | None) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    outcome = "skipped" if attempt.skipped else outcome_of(attempt.error)
    cost = None if attempt.cost_usd is None else round(attempt.cost_usd, 6)
    fields = {
        "swap_id": swap_id,
        "provider": attempt.provider,
        "model": attempt.model,
        "job_id": attempt.job_id,
        "outcome": outcome,
        "cost_usd": cost,
        "charged": attempt.charged,
        "elapsed_seconds": round(attempt.elapsed_seconds, 3),
    }
    _emit(logging.INFO, "attempt", f"swapkit attempt {attempt.provider} {outcome}", fields)


def log_swap(swap_id: str, result: Any, error: Any) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return
    if result is None and error is None:
        outcome = "handed_off"
    else:
        outcome = outcome_of(error if isinstance(error, BaseException) else None)
    source = result if result is not None else error
    spent = getattr(source, "spent_usd", None)
    fields = {
        "swap_id": swap_id,
        "provider": getattr(result, "provider", None) or getattr(error, "provider", None),
        "outcome": outcome,
        "spent_usd": None if spent is None else round(spent, 6),
    }
    _emit(logging.DEBUG, "swap", f"swapkit swap {swap_id} {outcome}", fields)


def log_failover(from_provider: str, to_provider: str, error: object, swap_id: str | None) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return
    fields = {
        "swap_id": swap_id,
        "provider": from_provider,
        "to_provider": to_provider,
        "outcome": outcome_of(error if isinstance(error, BaseException) else None),
    }
    _emit(logging.DEBUG, "failover", f"swapkit failover {from_provider} -> {to_provider}", fields)


def log_retry(
    what: str, retry: int, wait: float, error: BaseException, swap_id: str | None, provider: str
) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return
    fields = {
        "swap_id": swap_id,
        "provider": provider,
        "what": what,
        "retry": retry,
        "wait_seconds": round(wait, 3),
        "outcome": outcome_of(error),
    }
    _emit(logging.DEBUG, "retry", f"swapkit retry {what} #{retry}", fields)


def log_job(swap_id: str, state: str, provider: str | None, job_id: str | None) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return
    fields = {"swap_id": swap_id, "state": state, "provider": provider, "job_id": job_id}
    _emit(logging.DEBUG, "job", f"swapkit job {swap_id} {state}", fields)


def log_breaker(provider: str, old: str, new: str) -> None:
    level = logging.WARNING if new == "open" else logging.DEBUG
    fields = {"provider": provider, "old": old, "new": new}
    _emit(level, "breaker", f"swapkit circuit {provider} {old} -> {new}", fields)
