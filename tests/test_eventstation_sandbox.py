"""SwapClient and AsyncSwapClient against the EventStation sandbox: templates, prompts, statuses.

Each test runs once per client, on a sandbox served on loopback that shares the fake clock.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pluggy
import pytest

from swapkit import AsyncSwapClient, SwapClient, Template, errors

from .conftest import FakeClock, make_image

KEY = "es-sandbox"
GIRL = {"eventstation": {"gender": "girl"}}


PROVIDER = "eventstation"


@pytest.fixture
def vendor_options() -> dict[str, Any]:
    return {}


@pytest.fixture
def swapkit_sandbox_config(clock: FakeClock, vendor_options: dict[str, Any]) -> dict[str, Any]:
    options = {"result_scale": 0.05, **vendor_options}
    return {
        "clock": clock.monotonic,
        "job_seconds": 12.0,
        "vendor_options": {"eventstation": options},
    }


def calls(sandbox: Any, fragment: str) -> list[Any]:
    return [r for r in sandbox.requests if fragment in r.path]


def _fault(**fields: Any) -> Any:
    from swapkit.sandbox import Fault

    return Fault(provider="eventstation", **fields)


def test_templates_are_listed(
    kind: str, settings: dict[str, Any], plugin_manager: pluggy.PluginManager
) -> None:
    providers = {"eventstation": settings}
    if kind == "sync":
        with SwapClient(providers=providers, plugin_manager=plugin_manager) as client:
            templates = client.list_templates("eventstation")
    else:

        async def go() -> list[Template]:
            async with AsyncSwapClient(providers=providers, plugin_manager=plugin_manager) as c:
                return await c.list_templates("eventstation")

        templates = asyncio.run(go())
    assert Template("12", "Cyberpunk Neon", "eventstation") in templates
    assert all(t.provider == "eventstation" for t in templates)


def test_v6_template_swap(swap: Any, sandbox: Any, clock: FakeClock, face_png: bytes) -> None:
    result = swap(source=face_png, target=Template("12"), options=GIRL, quality="fast")
    assert (result.provider, result.model, result.media_type) == (
        "eventstation",
        "face_swap-v6",
        "image/png",
    )
    assert result.height > result.width  # the default portrait ratio
    assert result.url is None
    (submit,) = calls(sandbox, "/v6/run/face_swap")
    body = json.loads(submit.body)
    assert (body["gender"], body["filter_id"], body["quality_mode"]) == (3, 12, "v6")
    polls = calls(sandbox, "/v6/status/")
    assert len(polls) >= 2
    assert all(p.method == "POST" for p in polls)
    assert result.processing_seconds is not None


def test_a_v1_template_swap_needs_only_the_template(
    swap: Any, sandbox: Any, face_png: bytes
) -> None:
    # seed 003: "set filter_id ... adjust optional parameters (or leave defaults)"
    result = swap(
        source=face_png, target=Template("12"), client={"settings": {"api_version": "v1"}}
    )
    assert result.model == "faceswap-v1"
    (run,) = calls(sandbox, "/v1/run/faceswap")
    assert set(json.loads(run.body)) == {"base64", "filter_id"}


def test_v1_flow_and_ratio(swap: Any, sandbox: Any, face_png: bytes) -> None:
    result = swap(
        source=face_png,
        target=Template("34"),
        options={"eventstation": {"gender": "male", "ratio": "landscape"}},
        client={"settings": {"api_version": "v1"}},
    )
    assert result.model == "faceswap-v1"
    assert result.width > result.height
    assert calls(sandbox, "/v1/run/faceswap")
    assert calls(sandbox, "/v2/status/")
    assert not calls(sandbox, "/v6/")


def test_uuid_template(swap: Any, sandbox: Any, face_png: bytes, settings: dict[str, Any]) -> None:
    filters = sandbox.vendors["eventstation"].options.filters
    uuid_filter = next(f.id for f in filters if "-" in f.id)
    result = swap(source=face_png, target=Template(str(uuid_filter)), options=GIRL)
    assert result.image
    assert json.loads(calls(sandbox, "/v6/run/")[0].body)["filter_id"] == uuid_filter


def test_prompt_swap(swap: Any, sandbox: Any, face_png: bytes) -> None:
    result = swap(source=face_png, prompt="a knight in a storybook castle")
    assert result.model == "self-prompt"
    (submit,) = calls(sandbox, "/v2/run/self-prompt")
    assert json.loads(submit.body)["prompt"] == "a knight in a storybook castle"


def test_no_face_ends_failed(swap: Any) -> None:
    with pytest.raises(errors.JobFailed, match="FAILED"):
        swap(source=make_image(pattern=False), target=Template("12"), options=GIRL)


@pytest.mark.parametrize(
    ("word", "error"),
    [
        ("CANCELLED", errors.JobFailed),
        ("TIMED_OUT", errors.JobFailed),
        ("COMPLETED", errors.ResultInvalid),
    ],
)
def test_terminal_words(swap: Any, sandbox: Any, face_png: bytes, word: str, error: type) -> None:
    sandbox.faults.add(_fault(kind="job_failed", code=word, times=1))
    with pytest.raises(error):
        swap(source=face_png, target=Template("12"), options=GIRL)


def test_deadline_bounds_a_job_that_never_finishes(
    swap: Any, sandbox: Any, clock: FakeClock, face_png: bytes
) -> None:
    sandbox.faults.add(_fault(kind="never_finish", times=1))
    started = clock.now
    with pytest.raises(errors.ProviderTimeout, match="deadline"):
        swap(source=face_png, target=Template("12"), options=GIRL, deadline=90)
    assert clock.now - started == pytest.approx(90)


def test_unknown_template_is_invalid_request(swap: Any, face_png: bytes) -> None:
    with pytest.raises(errors.InvalidRequest, match="template id"):
        swap(source=face_png, target=Template("999999"), options=GIRL)


@pytest.mark.parametrize(
    ("options", "words"),
    [({}, "gender"), ({"gender": "group"}, None)],
)
def test_bad_options_fail_before_the_network(
    swap: Any, sandbox: Any, face_png: bytes, options: dict[str, Any], words: str | None
) -> None:
    target = Template("12") if words else Template("3f6c2a9e-8b1d-4e57-9a0c-5d2e7b41f8a3")
    with pytest.raises(errors.InvalidRequest, match=words or "group"):
        swap(source=face_png, target=target, options={"eventstation": options})
    assert sandbox.requests == []


def test_image_target_never_reaches_a_template_vendor(
    swap: Any, sandbox: Any, face_png: bytes, scene_png: bytes
) -> None:
    with pytest.raises(errors.InvalidRequest, match="not an image"):
        swap(source=face_png, target=scene_png, options=GIRL)
    assert sandbox.requests == []


def test_wrong_key(swap: Any, face_png: bytes) -> None:
    with pytest.raises((errors.AuthenticationError, errors.PermissionDenied)):
        swap(
            source=face_png,
            target=Template("12"),
            options=GIRL,
            client={"settings": {"api_key": "wrong"}},
        )


@pytest.mark.parametrize(
    "vendor_options", [{"auth_header": "X-API-Key", "auth_scheme": ""}], indirect=False
)
def test_auth_header_and_scheme_settings(swap: Any, face_png: bytes) -> None:
    result = swap(
        source=face_png,
        target=Template("12"),
        options=GIRL,
        client={"settings": {"auth_header": "X-API-Key", "auth_scheme": ""}},
    )
    assert result.image
    with pytest.raises(errors.AuthenticationError):
        swap(source=face_png, target=Template("12"), options=GIRL)  # Bearer is refused here


def test_missing_base_url_is_a_configuration_error(
    plugin_manager: pluggy.PluginManager, face_png: bytes
) -> None:
    with (
        SwapClient(
            providers={"eventstation": {"api_key": KEY}}, plugin_manager=plugin_manager
        ) as c,
        pytest.raises(errors.ConfigurationError, match="SWAPKIT_EVENTSTATION_BASE_URL"),
    ):
        c.swap(source=face_png, target=Template("12"), options=GIRL)


def test_environment_alone_configures_v1(
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, Any],
    plugin_manager: pluggy.PluginManager,
    clock: FakeClock,
    face_png: bytes,
) -> None:
    monkeypatch.setenv("SWAPKIT_EVENTSTATION_API_KEY", KEY)
    monkeypatch.setenv("SWAPKIT_EVENTSTATION_BASE_URL", settings["base_url"])
    monkeypatch.setenv("SWAPKIT_EVENTSTATION_API_VERSION", "v1")
    with SwapClient(
        providers=["eventstation"], plugin_manager=plugin_manager, clock=clock
    ) as client:
        result = client.swap(source=face_png, target=Template("12"), options=GIRL)
    assert (result.model, result.media_type) == ("faceswap-v1", "image/png")
    assert result.width < result.height  # portrait by default
