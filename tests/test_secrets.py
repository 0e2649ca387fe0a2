"""No API key or webhook secret in an exception, its chain, its frames, or a log record; no
pre-signed query string in a log line."""

from __future__ import annotations

import logging
import types
from collections.abc import Iterator
from typing import Any

import pluggy
import pytest
from pydantic import SecretStr

from swapkit import SwapClient, errors
from swapkit.sandbox import Fault

from .conftest import FakeClock, make_image, run_swap

FACE = make_image((48, 40), (220, 180, 150))
SCENE = make_image((64, 56), (30, 90, 160))
KEY = "prsp-sandbox"
WEBHOOK_SECRET = "whsec-very-secret-value"


def _exceptions(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [current.__cause__, current.__context__]


def _frames(error: BaseException) -> Iterator[types.FrameType]:
    for exc in _exceptions(error):
        tb = exc.__traceback__
        while tb is not None:
            yield tb.tb_frame
            tb = tb.tb_next


def _mentions(value: Any, secret: str, depth: int = 0) -> bool:
    """Whether `value`, or anything reachable from it a few levels down, shows `secret`."""
    if depth > 3 or isinstance(value, SecretStr):  # a SecretStr is how a secret is held
        return False
    if isinstance(value, (str, bytes)):
        return secret in (value if isinstance(value, str) else value.decode("latin-1"))
    try:
        if secret in repr(value):
            return True
    except Exception:  # a repr that fails shows nothing
        return False
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, (list, tuple, set)):
        items = list(value)
    elif hasattr(value, "__dict__") and not isinstance(value, (type, types.ModuleType)):
        items = list(vars(value).values())
    else:
        return False
    return any(_mentions(item, secret, depth + 1) for item in items[:50])


def assert_hidden(error: BaseException, secret: str, *, frames: bool = True) -> None:
    for exc in _exceptions(error):
        assert not _mentions(exc, secret), f"{type(exc).__name__} shows the secret"
        request = getattr(exc, "_request", None)
        assert request is None, f"{type(exc).__name__} keeps the request (and its headers)"
    if frames:
        for frame in _frames(error):
            if frame.f_code.co_filename.endswith(("/_pytest/python_api.py", "test_secrets.py")):
                continue
            for name, value in frame.f_locals.items():
                assert not _mentions(value, secret), f"{frame.f_code.co_name}: local {name}"


@pytest.fixture
def swapkit_sandbox_config(clock: FakeClock) -> dict[str, Any]:
    return {"clock": clock.monotonic, "job_seconds": 3.0}


@pytest.fixture
def client(
    swapkit_sandbox_server: Any, clock: FakeClock, plugin_manager: pluggy.PluginManager
) -> dict[str, Any]:
    url = swapkit_sandbox_server.base_url("prospolabs")
    return {
        "providers": {"prospolabs": {"api_key": KEY, "base_url": url}},
        "clock": clock,
        "plugin_manager": plugin_manager,
    }


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "drop"},
        {"kind": "drop", "after_processing": True},
        {"kind": "timeout", "seconds": 2.0},
        {"status": 401},
        {"kind": "truncated"},
        {"kind": "html"},
    ],
    ids=["drop", "drop-after", "timeout", "401", "truncated", "html"],
)
def test_no_api_key_in_any_error_its_chain_or_its_frames(
    kind: str, client: dict[str, Any], swapkit_sandbox_server: Any, fault: dict[str, Any]
) -> None:
    swapkit_sandbox_server.sandbox.faults.add(Fault(provider="prospolabs", times=1, **fault))
    client["providers"]["prospolabs"]["timeout"] = 0.3
    with pytest.raises(errors.SwapError) as info:
        run_swap(kind, client, source=FACE, target=SCENE)
    assert_hidden(info.value, KEY, frames=False)


def test_no_webhook_secret_in_a_failed_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("SWAPKIT_ACEDATA_CALLBACK_SECRET", WEBHOOK_SECRET)
    with SwapClient(providers={"prospolabs": {"api_key": "k"}, "acedata": {"api_key": "k"}}) as c:
        with pytest.raises(errors.InvalidSignature) as signed:
            c.parse_webhook("prospolabs", {"X-Prospo-Signature": "00" * 32}, b'{"event": "x"}')
        with pytest.raises(errors.InvalidSignature) as token:
            c.parse_webhook(
                "acedata", {}, b"{}", url="https://app/cb?swapkit_nonce=a&swapkit_token=b"
            )
    assert_hidden(signed.value, WEBHOOK_SECRET)
    assert_hidden(token.value, WEBHOOK_SECRET)


def test_logs_show_no_key_and_no_signed_query(
    kind: str, client: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    # httpx's own logger too: an application (or a docs example run earlier) may have quietened it
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="httpx"):
        result = run_swap(kind, client, source=FACE, target=SCENE, deadline=600)
    assert "?" in (result.url or "")  # the sandbox signs its result URLs
    query = (result.url or "").partition("?")[2]
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "HTTP Request" in text  # httpx's own line was there, and redacted
    assert KEY not in text
    assert query not in text
