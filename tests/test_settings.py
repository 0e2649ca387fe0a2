"""Settings resolve from keywords, then SWAPKIT_<NAME>_<SETTING>, then vendor variables."""

from __future__ import annotations

import pluggy
import pytest

from swapkit import SwapClient, errors
from swapkit.providers.prospolabs import Prospolabs


def test_keyword_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_TIMEOUT", "30")
    assert Prospolabs(timeout=5).settings.timeout == 5
    assert Prospolabs().settings.timeout == 30


def test_swapkit_variable_beats_vendor_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROSPOLABS_API_KEY", "prsp-vendor")
    assert Prospolabs().api_key == "prsp-vendor"
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_API_KEY", "prsp-swapkit")
    assert Prospolabs().api_key == "prsp-swapkit"


def test_missing_key_names_the_variables() -> None:
    with pytest.raises(errors.ConfigurationError, match="SWAPKIT_PROSPOLABS_API_KEY") as info:
        _ = Prospolabs().api_key
    assert "PROSPOLABS_API_KEY" in str(info.value)


def test_bad_value_names_its_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_PRICE_USD", "cheap")
    with pytest.raises(errors.ConfigurationError, match="SWAPKIT_PROSPOLABS_PRICE_USD"):
        Prospolabs()
    with pytest.raises(errors.ConfigurationError, match="base_url"):
        Prospolabs(base_url="api.prospolabs.com")


def test_unknown_setting_lists_known_ones() -> None:
    with pytest.raises(errors.ConfigurationError, match=r"known settings: .*api_key"):
        Prospolabs(api_kye="x")


def test_secret_is_not_in_repr() -> None:
    provider = Prospolabs(api_key="prsp-secret-value")
    assert "secret-value" not in repr(provider.settings)


def test_client_accepts_names_objects_and_mappings(plugin_manager: pluggy.PluginManager) -> None:
    by_name = SwapClient(providers=["prospolabs"], plugin_manager=plugin_manager)
    by_object = SwapClient(providers=[Prospolabs(api_key="k")], plugin_manager=plugin_manager)
    by_mapping = SwapClient(
        providers={"prospolabs": {"api_key": "k", "timeout": 9}}, plugin_manager=plugin_manager
    )
    assert [p.name for p in by_name.providers] == ["prospolabs"]
    assert by_object.provider("prospolabs").api_key == "k"
    assert by_mapping.provider("prospolabs").settings.timeout == 9


def test_unknown_provider_is_a_configuration_error(plugin_manager: pluggy.PluginManager) -> None:
    with pytest.raises(errors.ConfigurationError, match=r"unknown provider 'nope'.*prospolabs"):
        SwapClient(providers=["nope"], plugin_manager=plugin_manager)
    with pytest.raises(errors.ConfigurationError, match="more than once"):
        SwapClient(providers=["prospolabs", "prospolabs"], plugin_manager=plugin_manager)
