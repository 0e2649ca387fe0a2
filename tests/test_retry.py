"""Retry-After parsing (table-driven) and the retry predicate."""

from __future__ import annotations

import pytest

from swapkit import errors
from swapkit.core.retry import Budget, parse_retry_after, retry_hook

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "Fri, 15 Jan 2027 08:00:10 GMT"}, 1_800_000_010.0 - NOW),
        ({"retry-after": "soon"}, None),
        ({"x-ratelimit-reset": "12"}, 12.0),
        ({"x-ratelimit-reset": str(int(NOW) + 30)}, 30.0),
        ({"x-ratelimit-reset": str(int(NOW * 1000) + 4000)}, 4.0),
        ({"x-ratelimit-reset": str(int(NOW) - 30)}, 0.0),
        ({"x-ratelimit-reset": "nan"}, None),
        ({"retry-after": "2", "x-ratelimit-reset": "50"}, 2.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    result = parse_retry_after(headers, NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1)


def _budget(attempts: int = 5, remaining: float = 60.0) -> Budget:
    return Budget(attempts_left=attempts, deadline_at=remaining, clock=lambda: 0.0)


def test_submit_retries_only_what_the_vendor_cannot_have_accepted() -> None:
    hook = retry_hook(_budget(), idempotent=False)
    assert hook(errors.ProviderUnavailable("503", status_code=503)) is True
    assert hook(errors.ProviderTimeout("read timeout", retryable=False)) is False
    assert hook(errors.ProviderUnavailable("dropped", retryable=False)) is False
    assert hook(errors.NoFaceDetected("no face")) is False
    assert hook(ValueError("not ours")) is False


def test_reads_retry_transient_errors() -> None:
    hook = retry_hook(_budget(), idempotent=True)
    assert hook(errors.ProviderTimeout("read timeout", retryable=False)) is True
    assert hook(errors.JobNotFound("gone")) is False


def test_retry_after_is_honoured_unless_past_the_deadline() -> None:
    hook = retry_hook(_budget(remaining=10), idempotent=False)
    assert hook(errors.RateLimited("slow down", retry_after=3.0)) == 3.0
    assert hook(errors.RateLimited("slow down", retry_after=30.0)) is False


def test_retries_draw_from_the_shared_budget() -> None:
    budget = _budget(attempts=2)
    hook = retry_hook(budget, idempotent=True)
    assert [hook(errors.ProviderUnavailable("x")) for _ in range(3)] == [True, True, False]
    assert budget.attempts_left == 0


def test_retry_cap_limits_one_exchange_not_the_budget() -> None:
    budget = _budget(attempts=5)
    budget.retry_cap = 1
    first, second = retry_hook(budget, idempotent=True), retry_hook(budget, idempotent=True)
    assert [first(errors.ProviderUnavailable("x")) for _ in range(2)] == [True, False]
    assert second(errors.ProviderUnavailable("x")) is True
    assert budget.attempts_left == 3
