"""AceDataCloud flows replayed from cassettes recorded against the sandbox.

Re-record: ``python -m pytest --record-mode=rewrite tests/test_acedata_cassettes.py``; against
the vendor, add ``SWAPKIT_RECORD_REAL=1 SWAPKIT_ACEDATA_API_KEY=...`` (see docs/cassettes.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from swapkit import errors

from .cassettes import CassetteTarget
from .conftest import make_image

pytestmark = pytest.mark.vcr

FACE = make_image((48, 40), (220, 180, 150))
SCENE = make_image((64, 56), (30, 90, 160))


PROVIDER = "acedata"


def test_sync_swap_with_uploads(cassette_swap: Any) -> None:
    result = cassette_swap(source=FACE, target=SCENE)
    assert (result.provider, result.media_type) == ("acedata", "image/png")
    assert (result.width, result.height) == (64, 56)
    assert result.job_id


def test_async_swap_with_task_polling(cassette_swap: Any, cassette_target: CassetteTarget) -> None:
    result = cassette_swap(source=FACE, target=SCENE, deadline=600)
    assert (result.width, result.height) == (64, 56)
    assert cassette_target.clock.slept


def test_no_face(cassette_swap: Any) -> None:
    with pytest.raises(errors.NoFaceDetected):
        cassette_swap(source=make_image(pattern=False), target=SCENE)


def test_invalid_token(cassette_swap: Any) -> None:
    with pytest.raises(errors.AuthenticationError) as info:
        cassette_swap(settings={"api_key": "wrong-token"}, source=FACE, target=SCENE)
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
    cassette_swap: Any, cassette_target: CassetteTarget, code: str, envelope: str, error: type
) -> None:
    cassette_target.fault(
        provider="acedata", code=code, envelope=envelope, path="/face/swap", times=1
    )
    with pytest.raises(error):
        cassette_swap(source=FACE, target=SCENE)


def test_failed_task(cassette_swap: Any, cassette_target: CassetteTarget) -> None:
    cassette_target.fault(provider="acedata", kind="job_failed", code="api_error", times=1)
    with pytest.raises(errors.JobFailed):
        cassette_swap(source=FACE, target=SCENE, deadline=600)
