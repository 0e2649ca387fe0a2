"""AceDataCloud flows replayed from cassettes recorded against the sandbox.

Re-record: ``python -m pytest --record-mode=rewrite tests/test_acedata_cassettes.py``; against
the vendor, add ``SWAPKIT_RECORD_REAL=1 SWAPKIT_ACEDATA_API_KEY=...`` (see docs/cassettes.md).
"""

from __future__ import annotations

from typing import Any, Literal

import pluggy
import pytest

from swapkit import SwapResult, errors

from .cassettes import CassetteTarget
from .conftest import make_image, run_swap

pytestmark = pytest.mark.vcr

FACE = make_image((48, 40), (220, 180, 150))
SCENE = make_image((64, 56), (30, 90, 160))


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> Literal["sync", "async"]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def swap(
    kind: Literal["sync", "async"],
    cassette_target: CassetteTarget,
    plugin_manager: pluggy.PluginManager,
) -> Any:
    def run(settings: dict[str, Any] | None = None, **fields: Any) -> SwapResult:
        provider = {**cassette_target.settings("acedata"), **(settings or {})}
        client = {
            "providers": {"acedata": provider},
            "clock": cassette_target.clock,
            "plugin_manager": plugin_manager,
        }
        return run_swap(kind, client, **fields)

    return run


def test_sync_swap_with_uploads(swap: Any) -> None:
    result = swap(source=FACE, target=SCENE)
    assert (result.provider, result.media_type) == ("acedata", "image/png")
    assert (result.width, result.height) == (64, 56)
    assert result.job_id


def test_async_swap_with_task_polling(swap: Any, cassette_target: CassetteTarget) -> None:
    result = swap(source=FACE, target=SCENE, deadline=600)
    assert (result.width, result.height) == (64, 56)
    assert cassette_target.clock.slept


def test_no_face(swap: Any) -> None:
    with pytest.raises(errors.NoFaceDetected):
        swap(source=make_image(pattern=False), target=SCENE)


def test_invalid_token(swap: Any) -> None:
    with pytest.raises(errors.AuthenticationError) as info:
        swap(settings={"api_key": "wrong-token"}, source=FACE, target=SCENE)
    assert info.value.code == "invalid_token"


@pytest.mark.parametrize(
    ("code", "envelope", "error"),
    [
        ("used_up", "standard", errors.InsufficientCredits),
        ("forbidden", "success_false", errors.ContentRefused),
        ("too_many_requests", "standard", errors.RateLimited),
        ("api_error", "bare", errors.ProviderUnavailable),
        ("timeout", "standard", errors.ProviderTimeout),
    ],
)
def test_error_code(
    swap: Any, cassette_target: CassetteTarget, code: str, envelope: str, error: type
) -> None:
    cassette_target.fault(
        provider="acedata", code=code, envelope=envelope, path="/face/swap", times=1
    )
    with pytest.raises(error):
        swap(source=FACE, target=SCENE)


def test_failed_task(swap: Any, cassette_target: CassetteTarget) -> None:
    cassette_target.fault(provider="acedata", kind="job_failed", code="api_error", times=1)
    with pytest.raises(errors.ProviderUnavailable):
        swap(source=FACE, target=SCENE, deadline=600)
