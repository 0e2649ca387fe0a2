"""Providers arrive through pluggy, built-in ones exactly like third-party ones."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable

import httpx
import pytest

import swapkit
from swapkit import SwapClient, errors
from swapkit.core.plugins import installed_providers, make_plugin_manager
from swapkit.core.provider import Capabilities, Done, Outcome, Plan, PreparedSwap, VendorResult

from .conftest import make_image


class EchoProvider(swapkit.Provider):
    """A provider from a test plugin: 'swaps' by returning a fixed image inline."""

    name = "echo"
    display_name = "Echo (test plugin)"
    capabilities = Capabilities(styles=frozenset({"realistic", "cartoon"}))

    def missing_configuration(self) -> str | None:
        return None

    def build_submit(self, prepared: PreparedSwap, plan: Plan) -> httpx.Request:
        return httpx.Request("POST", "https://echo.invalid/swap")

    def parse_submit(self, response: httpx.Response, plan: Plan) -> Outcome:
        return Done(VendorResult(job_id="echo-1", image=response.content, model="echo"))


def _plugin(*classes: type[swapkit.Provider], name: str = "test_plugin") -> types.ModuleType:
    module = types.ModuleType(name)

    @swapkit.hookimpl
    def register_providers(register: Callable[[type[swapkit.Provider]], None]) -> None:
        for cls in classes:
            register(cls)

    module.register_providers = register_providers  # type: ignore[attr-defined]
    return module


def test_builtin_provider_is_registered_as_a_plugin() -> None:
    pm = make_plugin_manager(entry_points=False)
    assert pm.get_plugin("prospolabs") is sys.modules["swapkit.providers.prospolabs"]
    assert list(installed_providers(pm)) == ["acedata", "deepswapai", "eventstation", "prospolabs"]


def test_provider_from_a_test_plugin_swaps(face_png: bytes, scene_png: bytes) -> None:
    pm = make_plugin_manager(entry_points=False, plugins=[_plugin(EchoProvider)])
    assert set(installed_providers(pm)) == {
        "acedata",
        "deepswapai",
        "echo",
        "eventstation",
        "prospolabs",
    }
    result_image = make_image((20, 10), fmt="PNG")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=result_image))
    with SwapClient(
        providers=["echo"], plugin_manager=pm, http_client=httpx.Client(transport=transport)
    ) as client:
        result = client.swap(source=face_png, target=scene_png)
    assert (result.provider, result.model, result.width, result.height) == ("echo", "echo", 20, 10)
    assert [attempt.provider for attempt in result.attempts] == ["echo"]


def test_two_plugins_claiming_one_name_is_an_error_naming_both() -> None:
    class OtherEcho(EchoProvider):
        pass

    pm = make_plugin_manager(
        entry_points=False,
        plugins=[_plugin(EchoProvider, name="first"), _plugin(OtherEcho, name="second")],
    )
    with pytest.raises(errors.ConfigurationError, match="'echo'") as info:
        installed_providers(pm)
    message = str(info.value)
    assert "SWAPKIT_DISABLE_PLUGINS" in message
    assert message.count("'") >= 4


def test_disable_list_blocks_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWAPKIT_DISABLE_PLUGINS", "prospolabs,acedata,deepswapai")
    assert list(installed_providers(make_plugin_manager(entry_points=False))) == ["eventstation"]


def test_unknown_hook_is_rejected() -> None:
    module = types.ModuleType("typo_plugin")

    @swapkit.hookimpl
    def register_provider(register: object) -> None:  # misspelt hook name
        pass

    module.register_provider = register_provider  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="unknown hook"):
        make_plugin_manager(entry_points=False, plugins=[module])
