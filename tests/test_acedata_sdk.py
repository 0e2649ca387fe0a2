"""AceDataCloud's own Python SDK (`acedatacloud` on PyPI), unchanged, against the sandbox.

The SDK is the best evidence of the real API beyond seed 002: if it works against the sandbox,
the sandbox speaks the vendor's language, and swapkit's adapter (tested against the same
sandbox) follows it.  The SDK's own retries are turned off (`max_retries=0`) so every error the
sandbox injects reaches the test at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import acedatacloud
import pytest
from acedatacloud._runtime import errors as sdk_errors
from acedatacloud._runtime.tasks import artifact_urls, failure_reason, task_status

from swapkit.sandbox import Fault

from .conftest import make_image
from .sandbox.helpers import Receiver

TOKEN = "acedata-sandbox"
FACE = make_image((48, 40), (220, 180, 150))
SCENE = make_image((64, 56), (30, 90, 160))


@pytest.fixture
def swapkit_sandbox_config() -> dict[str, Any]:
    return {"job_seconds": 0.3, "webhook_retry_delays": (0, 0, 0, 0)}


@pytest.fixture
def sandbox(swapkit_sandbox_server: Any) -> Any:
    return swapkit_sandbox_server.sandbox


@pytest.fixture
def client(swapkit_sandbox_server: Any) -> Iterator[Any]:
    base = swapkit_sandbox_server.base_url("acedata")
    with acedatacloud.AceDataCloud(
        api_token=TOKEN, base_url=base, platform_base_url=base, max_retries=0, timeout=10
    ) as sdk:
        yield sdk


@pytest.fixture
def inputs(client: Any) -> tuple[str, str]:
    """The face and the scene, uploaded with the SDK's own `files.upload`."""
    face = client.files.upload(FACE, filename="face.png")
    scene = client.files.upload(SCENE, filename="scene.png")
    assert face["mime"] == scene["mime"] == "image/png"
    return face["file_url"], scene["file_url"]


def test_a_sync_swap(client: Any, inputs: tuple[str, str]) -> None:
    face, scene = inputs
    answer = client.face.swap(source_image_url=face, target_image_url=scene)
    assert answer["success"] is True
    assert answer["image_url"].startswith("http")
    assert (answer["image_width"], answer["image_height"]) == (64, 56)


def test_an_async_swap_waited_for_with_the_sdk(client: Any, inputs: tuple[str, str]) -> None:
    face, scene = inputs
    submitted = client.face.swap(source_image_url=face, target_image_url=scene, **{"async": True})
    task_id = submitted["task_id"]
    assert client.tasks.get(task_id, service="face")["status"] == "processing"
    started = time.monotonic()
    state = client.tasks.wait(task_id, service="face", poll_interval=0.05, max_wait=10)
    assert time.monotonic() - started >= 0.2  # it waited for the job, not for the first answer
    assert state["response"]["image_url"].startswith("http")
    assert task_status(state) == "succeeded"
    assert artifact_urls(state) == [state["response"]["image_url"]]


def test_the_async_sdk(swapkit_sandbox_server: Any) -> None:
    base = swapkit_sandbox_server.base_url("acedata")

    async def go() -> dict[str, Any]:
        async with acedatacloud.AsyncAceDataCloud(
            api_token=TOKEN, base_url=base, platform_base_url=base, max_retries=0
        ) as sdk:
            face = (await sdk.files.upload(FACE, filename="face.png"))["file_url"]
            scene = (await sdk.files.upload(SCENE, filename="scene.png"))["file_url"]
            submitted = await sdk.face.swap(
                source_image_url=face, target_image_url=scene, **{"async": True}
            )
            return await sdk.tasks.wait(
                submitted["task_id"], service="face", poll_interval=0.05, max_wait=10
            )

    assert asyncio.run(go())["response"]["success"] is True


def test_a_failed_task_is_failed_for_the_sdk(
    client: Any, sandbox: Any, inputs: tuple[str, str]
) -> None:
    face, scene = inputs
    sandbox.faults.add(Fault(provider="acedata", kind="job_failed", times=1))
    submitted = client.face.swap(source_image_url=face, target_image_url=scene, **{"async": True})
    state = client.tasks.wait(submitted["task_id"], service="face", poll_interval=0.05)
    assert task_status(state) == "failed"
    assert failure_reason(state) != "Task failed."  # the vendor's own words reach it


def test_a_callback(client: Any, inputs: tuple[str, str]) -> None:
    face, scene = inputs
    with Receiver() as receiver:
        submitted = client.face.swap(
            source_image_url=face, target_image_url=scene, callback_url=receiver.url + "?o=1"
        )
        deadline = time.monotonic() + 5
        while not receiver.bodies and time.monotonic() < deadline:
            time.sleep(0.02)
    body = json.loads(receiver.bodies[0])
    assert body["task_id"] == submitted["task_id"]
    assert body["success"] is True
    assert receiver.paths[0].endswith("?o=1")


#: Every code the sandbox can answer with, and the class the SDK maps it to.
SDK_CLASSES = {
    "bad_request": "ValidationError",
    "no_token": "AuthenticationError",
    "api_not_implemented": "ValidationError",
    "invalid_token": "AuthenticationError",
    "token_expired": "AuthenticationError",
    "token_mismatched": "TokenMismatchError",
    "disabled": "ResourceDisabledError",
    "used_up": "InsufficientBalanceError",
    "forbidden": "ModerationError",  # a 403 the SDK has no code for: moderation
    "no_api": "APIError",
    "not_found": "APIError",
    "too_many_requests": "RateLimitError",
    "rate_limited": "RateLimitError",
    "api_error": "APIError",
    "timeout": "APIError",
}


@pytest.mark.parametrize(("code", "sdk_class"), sorted(SDK_CLASSES.items()))
def test_every_error_code_reaches_the_sdk_as_its_class(
    client: Any, sandbox: Any, inputs: tuple[str, str], code: str, sdk_class: str
) -> None:
    face, scene = inputs
    sandbox.faults.add(Fault(provider="acedata", code=code, times=1, path="/face/swap"))
    with pytest.raises(sdk_errors.APIError) as info:
        client.face.swap(source_image_url=face, target_image_url=scene)
    assert type(info.value).__name__ == sdk_class
    assert info.value.code == code
    assert info.value.trace_id


def test_the_sandbox_s_own_refusals_reach_the_sdk_as_their_class(
    swapkit_sandbox_server: Any, inputs: tuple[str, str]
) -> None:
    base = swapkit_sandbox_server.base_url("acedata")
    face, scene = inputs
    for token, sdk_class in (("nope", "AuthenticationError"), ("platform-x", "TokenMismatchError")):
        with acedatacloud.AceDataCloud(
            api_token=token, base_url=base, platform_base_url=base, max_retries=0
        ) as sdk:
            with pytest.raises(sdk_errors.APIError) as info:
                sdk.face.swap(source_image_url=face, target_image_url=scene)
            assert type(info.value).__name__ == sdk_class
    with (
        acedatacloud.AceDataCloud(
            api_token=TOKEN, base_url=base, platform_base_url=base, max_retries=0
        ) as sdk,
        pytest.raises(sdk_errors.ValidationError, match="source_image_url"),
    ):
        sdk.face.swap(source_image_url="not a url", target_image_url=scene)
