"""EventStation flows replayed from cassettes recorded against the sandbox.

Re-record: ``python -m pytest --record-mode=rewrite tests/test_eventstation_cassettes.py``;
against the vendor, add ``SWAPKIT_RECORD_REAL=1 SWAPKIT_EVENTSTATION_API_KEY=...
SWAPKIT_EVENTSTATION_BASE_URL=...`` (see docs/cassettes.md).
"""

from __future__ import annotations

from typing import Any, Literal

import pluggy
import pytest

from swapkit import SwapClient, SwapResult, Template, errors

from .cassettes import CassetteTarget
from .conftest import make_image, run_swap

pytestmark = pytest.mark.vcr

FACE = make_image((48, 40), (220, 180, 150))
GIRL = {"eventstation": {"gender": "girl"}}


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
        provider = {**cassette_target.settings("eventstation"), **(settings or {})}
        client = {
            "providers": {"eventstation": provider},
            "clock": cassette_target.clock,
            "plugin_manager": plugin_manager,
        }
        return run_swap(kind, client, **fields)

    return run


def test_list_templates(
    cassette_target: CassetteTarget, plugin_manager: pluggy.PluginManager
) -> None:
    settings = cassette_target.settings("eventstation")
    with SwapClient(providers={"eventstation": settings}, plugin_manager=plugin_manager) as client:
        templates = client.list_templates("eventstation")
    assert templates
    assert all(t.provider == "eventstation" and t.id for t in templates)


@pytest.mark.parametrize("api_version", ["v6", "v1"])
def test_template_swap(swap: Any, cassette_target: CassetteTarget, api_version: str) -> None:
    result = swap(
        settings={"api_version": api_version}, source=FACE, target=Template("12"), options=GIRL
    )
    assert result.provider == "eventstation"
    assert result.media_type in ("image/png", "image/jpeg", "image/webp")
    assert result.height > result.width
    assert cassette_target.clock.slept  # it polled until COMPLETED


def test_prompt_swap(swap: Any) -> None:
    result = swap(source=FACE, prompt="a knight in a storybook castle")
    assert result.model == "self-prompt"


def test_failed_job(swap: Any) -> None:
    with pytest.raises(errors.JobFailed):
        swap(source=make_image(pattern=False), target=Template("12"), options=GIRL)


def test_unknown_template(swap: Any) -> None:
    with pytest.raises(errors.InvalidRequest):
        swap(source=FACE, target=Template("999999"), options=GIRL)


def test_invalid_key(swap: Any) -> None:
    with pytest.raises((errors.AuthenticationError, errors.PermissionDenied)):
        swap(settings={"api_key": "wrong-key"}, source=FACE, target=Template("12"), options=GIRL)


@pytest.mark.parametrize(
    ("word", "error"),
    [("TIMED_OUT", errors.ProviderTimeout), ("COMPLETED", errors.ResultInvalid)],
)
def test_terminal_word(swap: Any, cassette_target: CassetteTarget, word: str, error: type) -> None:
    cassette_target.fault(provider="eventstation", kind="job_failed", code=word, times=1)
    with pytest.raises(error):
        swap(source=FACE, target=Template("12"), options=GIRL)
