"""Retry-After parsing (table-driven) and the retry predicate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stamina

from swapkit import errors
from swapkit.core.policy import FailoverPolicy, Phase
from swapkit.core.retry import Budget, parse_retry_after, retry_hook
from swapkit.testing import FakeClock

from .conftest import run_swap

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


POLICY = FailoverPolicy()


@pytest.fixture(autouse=True)
def _not_testing() -> Iterator[None]:
    """These tests read the policy itself, not stamina's testing cap on submits."""
    with stamina.set_testing(False):
        yield


def test_stamina_s_testing_switch_caps_submits_but_never_reads() -> None:
    with stamina.set_testing(True, attempts=2):
        submit = _hook(_budget(), "submit")
        assert [bool(submit(errors.ProviderUnavailable("x"))) for _ in range(3)] == [
            True,
            False,
            False,
        ]
        poll = _hook(_budget(), "poll")
        assert all(poll(errors.ProviderUnavailable("x")) for _ in range(5))


def _hook(budget: Budget, phase: Phase, limit: int | None = None) -> Any:
    return retry_hook(budget, POLICY, phase, limit=limit, jitter=lambda: 0.0)


def test_submit_retries_only_what_the_vendor_cannot_have_accepted() -> None:
    hook = _hook(_budget(), "submit")
    assert hook(errors.ProviderUnavailable("503", status_code=503)) == pytest.approx(0.1)
    assert hook(errors.OutcomeUnknown("dropped")) is False
    assert hook(errors.ProviderUnavailable("dropped", retryable=False)) is False
    assert hook(errors.NoFaceDetected("no face")) is False
    assert hook(errors.LocalFailure("pool full")) is False
    assert hook(ValueError("not ours")) is False


def test_reads_retry_transient_errors_whatever_they_say() -> None:
    hook = _hook(_budget(), "poll")
    assert hook(errors.ProviderTimeout("read timeout", retryable=False)) == pytest.approx(0.1)
    assert hook(errors.JobNotFound("gone")) is False
    assert hook(errors.JobFailed("failed")) is False


def test_a_cut_download_is_fetched_again() -> None:
    hook = _hook(_budget(), "download")
    assert hook(errors.ResultInvalid("truncated", retryable=False)) == pytest.approx(0.1)


def test_back_off_grows_and_is_capped() -> None:
    hook = _hook(_budget(remaining=1000), "poll")
    waits = [hook(errors.ProviderUnavailable("x")) for _ in range(8)]
    assert waits[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert max(waits) == POLICY.backoff_max


def test_no_wait_runs_past_the_deadline() -> None:
    hook = _hook(_budget(remaining=10), "submit")
    assert hook(errors.RateLimited("slow down", retry_after=3.0)) == 3.0
    assert hook(errors.RateLimited("slow down", retry_after=30.0)) is False
    late = _hook(_budget(remaining=0.15), "poll")
    assert late(errors.ProviderUnavailable("x")) == pytest.approx(0.1)
    assert late(errors.ProviderUnavailable("x")) is False  # 0.2 s > 0.15 s left


def test_submits_draw_from_the_shared_budget_and_reads_do_not() -> None:
    budget = _budget(attempts=2)
    hook = _hook(budget, "submit")
    assert [bool(hook(errors.ProviderUnavailable("x"))) for _ in range(3)] == [True, True, False]
    assert budget.attempts_left == 0
    read = _hook(budget, "poll")
    assert read(errors.ProviderUnavailable("x"))


def test_a_limit_caps_one_exchange_not_the_budget() -> None:
    budget = _budget(attempts=5)
    first, second = _hook(budget, "submit", limit=1), _hook(budget, "submit", limit=1)
    assert [bool(first(errors.ProviderUnavailable("x"))) for _ in range(2)] == [True, False]
    assert second(errors.ProviderUnavailable("x"))
    assert budget.attempts_left == 3


# -- a certain refusal fails over at once ------------------------------------------------------


def _mock_swap(kind: str, *providers: Any, clock: FakeClock) -> Any:
    from swapkit.testing import sample_face, sample_scene

    return run_swap(
        kind,
        {"providers": list(providers), "clock": clock},
        source=sample_face(),
        target=sample_scene(),
    )


@pytest.mark.parametrize("refusal", ["unreachable", "503"])
def test_a_certain_refusal_fails_over_at_once_without_a_back_off(kind: str, refusal: str) -> None:
    from swapkit.testing import http_error, mock_provider, succeeded, unreachable

    step = unreachable() if refusal == "unreachable" else http_error(503)
    clock = FakeClock()
    first, second = mock_provider("first", step), mock_provider("second", succeeded())
    result = _mock_swap(kind, first, second, clock=clock)
    assert result.provider == "second"
    assert (first.submits, second.submits) == (1, 1)
    assert clock.slept == []  # no back-off, no retry: failover was immediate
    assert result.attempts[0].charged is False


def test_an_uncertain_failure_is_retried_here_first(kind: str) -> None:
    from swapkit.testing import http_error, mock_provider, succeeded

    clock = FakeClock()
    first = mock_provider("first", http_error(500), succeeded())
    second = mock_provider("second")
    result = _mock_swap(kind, first, second, clock=clock)
    assert result.provider == "first"
    assert first.submits == 2
    assert len(clock.slept) == 1  # one back-off before the retry


def test_the_last_provider_keeps_retrying_a_refusal(kind: str) -> None:
    from swapkit.testing import http_error, mock_provider, succeeded

    clock = FakeClock()
    only = mock_provider("only", http_error(503), http_error(503), succeeded())
    result = _mock_swap(kind, only, clock=clock)
    assert result.provider == "only"
    assert only.submits == 3
    assert len(clock.slept) == 2
