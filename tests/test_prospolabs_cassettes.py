"""Prospolabs flows replayed from cassettes recorded against the sandbox.

Replay needs no server and no key: nothing listens at the base URL, vcrpy answers.  To
re-record: ``pytest --record-mode=rewrite tests/test_prospolabs_cassettes.py`` (sandbox), or
with ``SWAPKIT_RECORD_REAL=1 SWAPKIT_PROSPOLABS_API_KEY=prsp-...`` for the real vendor (the
error cassettes need the sandbox's fault injection and are skipped there).  See
docs/cassettes.md.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from swapkit import errors

from .cassettes import CassetteTarget
from .conftest import make_image

pytestmark = pytest.mark.vcr

Kind = Literal["sync", "async"]
FACE = make_image((48, 40), (220, 180, 150))
SCENE = make_image((64, 56), (30, 90, 160))


PROVIDER = "prospolabs"


def needs_fault(target: CassetteTarget, **fault: Any) -> None:
    target.fault(provider="prospolabs", **fault)


def test_sync_swap(cassette_swap: Any) -> None:
    result = cassette_swap(source=FACE, target=SCENE, output_format="png")
    assert (result.provider, result.model, result.media_type) == (
        "prospolabs",
        "realistic",
        "image/png",
    )
    assert (result.width, result.height) == (64, 56)
    assert result.job_id
    assert result.processing_seconds is not None


def test_async_swap_with_polling(cassette_swap: Any, cassette_target: CassetteTarget) -> None:
    result = cassette_swap(source=FACE, target=SCENE, style="cartoon", deadline=600)
    assert result.model == "cartoon"
    assert (result.width, result.height) == (64, 56)
    assert cassette_target.clock.slept  # it polled at least once before the job completed


def test_no_face(cassette_swap: Any) -> None:
    with pytest.raises(errors.NoFaceDetected):
        cassette_swap(source=make_image(pattern=False), target=SCENE)


def test_invalid_key(cassette_swap: Any) -> None:
    with pytest.raises(errors.AuthenticationError):
        cassette_swap(settings={"api_key": "wrong-key"}, source=FACE, target=SCENE)


def test_validation_error_list_detail(cassette_swap: Any) -> None:
    with pytest.raises(errors.InvalidRequest, match="output_format"):
        cassette_swap(source=FACE, target=SCENE, options={"prospolabs": {"output_format": "gif"}})


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (403, errors.InsufficientCredits),
        (429, errors.RateLimited),
        (500, errors.ProviderUnavailable),
        (504, errors.ProviderTimeout),
    ],
)
def test_error_status(
    cassette_swap: Any, cassette_target: CassetteTarget, status: int, error: type
) -> None:
    needs_fault(cassette_target, status=status, times=1)
    with pytest.raises(error) as info:
        cassette_swap(source=FACE, target=SCENE)
    assert info.value.status_code == status


@pytest.mark.parametrize(
    ("fault", "error"),
    [("html", errors.ProviderUnavailable), ("truncated", errors.OutcomeUnknown)],
    ids=["html", "truncated"],
)
def test_garbage_body(
    cassette_swap: Any, cassette_target: CassetteTarget, fault: str, error: type
) -> None:
    needs_fault(cassette_target, kind=fault, times=1)
    with pytest.raises(error):
        cassette_swap(source=FACE, target=SCENE)


def test_job_not_found(cassette_swap: Any, cassette_target: CassetteTarget) -> None:
    needs_fault(cassette_target, status=404, path="/v1/jobs/*", times=1)
    with pytest.raises(errors.JobNotFound):
        cassette_swap(source=FACE, target=SCENE, deadline=600)


@pytest.mark.parametrize("deadline", [60, 600], ids=["sync-endpoint", "async-endpoint"])
def test_job_failed(cassette_swap: Any, cassette_target: CassetteTarget, deadline: int) -> None:
    needs_fault(cassette_target, kind="job_failed", times=1)
    with pytest.raises(errors.JobFailed):
        cassette_swap(source=FACE, target=SCENE, deadline=deadline)
