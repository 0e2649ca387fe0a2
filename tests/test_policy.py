"""The one failover policy: rules by class and phase, overrides, breaker counting, and the
job_accepted boundary as observers see it."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest

import swapkit
from swapkit import FailoverPolicy, Rule, SwapResult, errors
from swapkit.core.policy import PHASES
from swapkit.sandbox import Fault

from .conftest import FakeClock, make_image, run_swap

FACE = make_image((48, 40), (220, 180, 150))
SCENE = make_image((64, 56), (30, 90, 160))
POLICY = FailoverPolicy()


@pytest.mark.parametrize(
    ("error", "phase", "action", "retried"),
    [
        (errors.NoFaceDetected("x"), "submit", "end", False),  # via InvalidRequest
        (errors.ProviderUnavailable("503", retryable=True), "submit", "failover", True),
        (errors.ProviderUnavailable("dropped", retryable=False), "submit", "failover", False),
        (errors.ProviderUnavailable("dropped", retryable=False), "poll", "end", True),
        (errors.OutcomeUnknown("lost"), "submit", "unknown", False),
        (errors.JobFailed("failed"), "poll", "failover", False),
        (errors.AuthenticationError("401"), "submit", "failover", False),
        (errors.AuthenticationError("401"), "poll", "end", False),
        (errors.ResultInvalid("cut"), "download", "failover", True),
        (errors.LocalFailure("pool"), "submit", "end", False),
        (errors.SwapError("not a provider error"), "submit", "end", False),
    ],
)
def test_rules_by_class_and_phase(error: Any, phase: Any, action: str, retried: bool) -> None:
    assert POLICY.then(error, phase) == action
    assert POLICY.retries(error, phase) is retried


def test_breakers_count_what_blames_the_vendor() -> None:
    assert POLICY.counts(errors.ProviderUnavailable("503"))
    assert not POLICY.counts(errors.NoFaceDetected("x"))
    assert not POLICY.counts(errors.ContentRefused("nsfw"))
    assert not POLICY.counts(errors.LocalFailure("pool"))
    cut_short = errors.ProviderTimeout("late")
    cut_short.blames_vendor = False
    assert not POLICY.counts(cut_short)
    assert not POLICY.counts(ValueError("not ours"))


def test_overrides_make_a_copy() -> None:
    changed = POLICY.with_rules(
        {
            errors.ResultInvalid: {"download": "end"},
            errors.ProviderTimeout: {"submit": Rule("end", retry=True)},
        }
    )
    assert changed.then(errors.ResultInvalid("x"), "download") == "end"
    assert not changed.retries(errors.ResultInvalid("x"), "download")
    assert changed.then(errors.ProviderTimeout("x"), "submit") == "end"
    assert POLICY.then(errors.ResultInvalid("x"), "download") == "failover"  # untouched
    with pytest.raises(ValueError, match="unknown phase"):
        POLICY.with_rules({errors.JobFailed: {"cancel": "end"}})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "fields",
    [
        {"on_unknown_outcome": "maybe"},
        {"provider_retries": -1},
        {"provider_retries": True},
        {"read_retries": 1.5},
    ],
)
def test_bad_policy_fields_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(fields))):
        FailoverPolicy(**fields)


def test_the_table_lists_every_rule_and_phase() -> None:
    table = POLICY.table().splitlines()
    assert table[0] == "| error | " + " | ".join(PHASES) + " | counts for the breaker |"
    assert len(table) == 2 + len(POLICY.rules)
    assert "| `OutcomeUnknown` | unknown outcome |" in POLICY.table()
    assert "| `RateLimited` | retry, then fail over |" in POLICY.table()


def test_back_off_is_capped() -> None:
    assert POLICY.backoff(1, 0.0) == pytest.approx(0.1)
    assert POLICY.backoff(3, 1.0) == pytest.approx(0.4 + POLICY.backoff_jitter)
    assert POLICY.backoff(10_000, 0.5) == POLICY.backoff_max


# -- the policy in a swap ---------------------------------------------------------------------


@pytest.fixture
def swapkit_sandbox_config(clock: FakeClock) -> dict[str, Any]:
    return {"clock": clock.monotonic, "job_seconds": 3.0}


@pytest.fixture
def client(
    swapkit_sandbox_server: Any, clock: FakeClock, plugin_manager: pluggy.PluginManager
) -> dict[str, Any]:
    server = swapkit_sandbox_server
    return {
        "providers": {
            "prospolabs": {"api_key": "prsp-sandbox", "base_url": server.base_url("prospolabs")},
            "deepswapai": {"api_key": "ds-sandbox", "base_url": server.base_url("deepswapai")},
        },
        "clock": clock,
        "plugin_manager": plugin_manager,
    }


class Accepted:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str | None, str]] = []

    @swapkit.hookimpl
    def job_accepted(
        self, provider: str, job_id: str | None, model: str | None, swap_id: str
    ) -> None:
        self.seen.append((provider, job_id, model, swap_id))


def test_job_accepted_is_reported_once_per_accepted_job(kind: str, client: dict[str, Any]) -> None:
    observer = Accepted()
    result = run_swap(
        kind, {**client, "observers": [observer]}, source=FACE, target=SCENE, deadline=600
    )
    assert isinstance(result, SwapResult)
    assert observer.seen == [("prospolabs", result.job_id, result.model, result.swap_id)]
    assert result.swap_id is not None
    assert result.swap_id.startswith("swp_")
    assert result.attempts[-1].job_id == result.job_id


def test_a_failed_submit_is_never_reported_as_accepted(
    kind: str, client: dict[str, Any], swapkit_sandbox_server: Any
) -> None:
    swapkit_sandbox_server.sandbox.faults.add(Fault(provider="prospolabs", status=500, times=1))
    observer = Accepted()
    result = run_swap(
        kind,
        {**client, "observers": [observer], "provider_retries": 0},
        source=FACE,
        target=SCENE,
    )
    assert [seen[0] for seen in observer.seen] == ["deepswapai"]
    assert [(a.provider, a.charged, a.cost_usd) for a in result.attempts] == [
        ("prospolabs", False, 0.0),
        ("deepswapai", True, None),  # charged, at a price nobody published
    ]
    assert result.spent_usd is None
    assert result.cost_usd is None


def test_an_override_changes_what_a_swap_does(
    kind: str, client: dict[str, Any], swapkit_sandbox_server: Any
) -> None:
    swapkit_sandbox_server.sandbox.faults.add(Fault(provider="prospolabs", status=401, times=1))
    policy = FailoverPolicy().with_rules({errors.AuthenticationError: {"submit": "end"}})
    with pytest.raises(errors.AuthenticationError) as info:
        run_swap(kind, {**client, "policy": policy}, source=FACE, target=SCENE)
    assert [a.provider for a in info.value.attempts] == ["prospolabs"]
    assert info.value.spent_usd == 0.0
