"""EventStation flows replayed from cassettes recorded against the sandbox.

Re-record: ``python -m pytest --record-mode=rewrite tests/test_eventstation_cassettes.py``;
against the vendor, add ``SWAPKIT_RECORD_REAL=1 SWAPKIT_EVENTSTATION_API_KEY=...
SWAPKIT_EVENTSTATION_BASE_URL=...`` (see docs/cassettes.md).
"""

from __future__ import annotations

from typing import Any

import pluggy
import pytest

from swapkit import SwapClient, Template, errors

from .cassettes import CassetteTarget
from .conftest import make_image

pytestmark = pytest.mark.vcr

FACE = make_image((48, 40), (220, 180, 150))
GIRL = {"eventstation": {"gender": "girl"}}


PROVIDER = "eventstation"


def test_list_templates(
    cassette_target: CassetteTarget, plugin_manager: pluggy.PluginManager
) -> None:
    settings = cassette_target.settings("eventstation")
    with SwapClient(providers={"eventstation": settings}, plugin_manager=plugin_manager) as client:
        templates = client.list_templates("eventstation")
    assert templates
    assert all(t.provider == "eventstation" and t.id for t in templates)


@pytest.mark.parametrize("api_version", ["v6", "v1"])
def test_template_swap(
    cassette_swap: Any, cassette_target: CassetteTarget, api_version: str
) -> None:
    result = cassette_swap(
        settings={"api_version": api_version}, source=FACE, target=Template("12"), options=GIRL
    )
    assert result.provider == "eventstation"
    assert result.media_type in ("image/png", "image/jpeg", "image/webp")
    assert result.height > result.width
    assert cassette_target.clock.slept  # it polled until COMPLETED


def test_prompt_swap(cassette_swap: Any) -> None:
    result = cassette_swap(source=FACE, prompt="a knight in a storybook castle")
    assert result.model == "self-prompt"


def test_failed_job(cassette_swap: Any) -> None:
    with pytest.raises(errors.JobFailed):
        cassette_swap(source=make_image(pattern=False), target=Template("12"), options=GIRL)


def test_unknown_template(cassette_swap: Any) -> None:
    with pytest.raises(errors.InvalidRequest):
        cassette_swap(source=FACE, target=Template("999999"), options=GIRL)


def test_invalid_key(cassette_swap: Any) -> None:
    with pytest.raises((errors.AuthenticationError, errors.PermissionDenied)):
        cassette_swap(
            settings={"api_key": "wrong-key"}, source=FACE, target=Template("12"), options=GIRL
        )


@pytest.mark.parametrize(
    ("word", "error"),
    [("TIMED_OUT", errors.JobFailed), ("COMPLETED", errors.ResultInvalid)],
)
def test_terminal_word(
    cassette_swap: Any, cassette_target: CassetteTarget, word: str, error: type
) -> None:
    cassette_target.fault(provider="eventstation", kind="job_failed", code=word, times=1)
    with pytest.raises(error):
        cassette_swap(source=FACE, target=Template("12"), options=GIRL)
