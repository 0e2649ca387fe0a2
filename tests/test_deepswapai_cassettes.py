"""DeepSwapAI flows replayed from cassettes recorded against the sandbox.

Re-record: ``python -m pytest --record-mode=rewrite tests/test_deepswapai_cassettes.py``;
against the vendor, add ``SWAPKIT_RECORD_REAL=1 SWAPKIT_DEEPSWAPAI_API_KEY=...``
(see docs/cassettes.md).
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


PROVIDER = "deepswapai"


def test_swap(cassette_swap: Any) -> None:
    result = cassette_swap(source=FACE, target=SCENE, output_format="webp", quality="high")
    assert (result.provider, result.media_type) == ("deepswapai", "image/webp")
    assert (result.width, result.height) == (64, 56)
    assert result.processing_seconds is not None
    assert (result.faces_detected, result.credits_used) == (1, 1)


def test_no_face(cassette_swap: Any) -> None:
    with pytest.raises(errors.NoFaceDetected) as info:
        cassette_swap(source=make_image(pattern=False), target=SCENE)
    assert info.value.code == "NO_FACE_DETECTED"


def test_invalid_key(cassette_swap: Any) -> None:
    with pytest.raises(errors.AuthenticationError):
        cassette_swap(settings={"api_key": "wrong-key"}, source=FACE, target=SCENE)


@pytest.mark.parametrize(
    ("code", "envelope", "error"),
    [
        ("IMAGE_TOO_LARGE", "flat", errors.ImageTooLarge),
        ("INVALID_FORMAT", "top_level", errors.UnsupportedImage),
        ("INSUFFICIENT_CREDITS", "nested", errors.InsufficientCredits),
    ],
)
def test_error_code(
    cassette_swap: Any, cassette_target: CassetteTarget, code: str, envelope: str, error: type
) -> None:
    cassette_target.fault(provider="deepswapai", code=code, envelope=envelope, times=1)
    with pytest.raises(error):
        cassette_swap(source=FACE, target=SCENE)


@pytest.mark.parametrize(
    ("status", "error"), [(429, errors.RateLimited), (500, errors.ProviderUnavailable)]
)
def test_error_status(
    cassette_swap: Any, cassette_target: CassetteTarget, status: int, error: type
) -> None:
    cassette_target.fault(provider="deepswapai", status=status, times=1)
    with pytest.raises(error):
        cassette_swap(source=FACE, target=SCENE)
