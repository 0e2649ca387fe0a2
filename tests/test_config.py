"""Settings from swapkit.toml or [tool.swapkit]: keyword > environment > file > default."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pluggy
import pytest

from swapkit import AsyncSwapClient, SwapClient, cli, errors
from swapkit.core.config import DEFAULT_DEADLINE, load_config

TOML = """
order = ["deepswapai", "prospolabs"]
strategy = "cheapest"
deadline = 45
max_attempts = 6
max_cost_usd = 0.5
webhook_url = "https://app.example/hooks"

[providers.prospolabs]
api_key = "prsp-from-file"
price_usd = 0.07
max_concurrency = 3

[providers.deepswapai]
api_key = "ds-from-file"
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("SWAPKIT_CONFIG", "SWAPKIT_DEADLINE", "SWAPKIT_PROSPOLABS_PRICE_USD"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def client(kind: str, pm: pluggy.PluginManager, **kwargs: Any) -> Any:
    """A client of `kind`, built (and closed) to read its configuration."""
    if kind == "sync":
        with SwapClient(plugin_manager=pm, **kwargs) as built:
            return built

    async def build() -> AsyncSwapClient:
        async with AsyncSwapClient(plugin_manager=pm, **kwargs) as built:
            return built

    return asyncio.run(build())


def test_swapkit_toml_configures_the_client(
    kind: str, folder: Path, plugin_manager: pluggy.PluginManager
) -> None:
    (folder / "swapkit.toml").write_text(TOML)
    built = client(kind, plugin_manager)
    assert [p.name for p in built.providers] == ["deepswapai", "prospolabs"]
    assert built.deadline == 45
    assert built.max_attempts == 6
    assert built.max_cost_usd == 0.5
    assert built.webhook_url == "https://app.example/hooks"
    prospolabs = built.provider("prospolabs")
    assert prospolabs.settings.price_usd == 0.07
    assert prospolabs.settings.max_concurrency == 3
    assert prospolabs.settings.api_key.get_secret_value() == "prsp-from-file"
    assert "prsp-from-file" not in repr(prospolabs.settings)


def test_keyword_beats_environment_beats_file_beats_default(
    kind: str, folder: Path, plugin_manager: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "swapkit.toml").write_text(TOML)
    monkeypatch.setenv("SWAPKIT_DEADLINE", "30")
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_PRICE_USD", "0.09")
    built = client(kind, plugin_manager)
    assert built.deadline == 30  # environment over file
    assert built.provider("prospolabs").settings.price_usd == 0.09
    built = client(kind, plugin_manager, deadline=10, providers={"prospolabs": {"price_usd": 0.01}})
    assert built.deadline == 10  # keyword over environment
    assert built.provider("prospolabs").settings.price_usd == 0.01
    assert built.provider("prospolabs").settings.max_concurrency == 3  # the file still fills in
    (folder / "swapkit.toml").unlink()
    monkeypatch.delenv("SWAPKIT_DEADLINE")
    assert client(kind, plugin_manager, providers=["prospolabs"]).deadline == DEFAULT_DEADLINE


def test_pyproject_tool_swapkit_is_read_and_swapkit_toml_wins(
    folder: Path, plugin_manager: pluggy.PluginManager
) -> None:
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "app"\n\n[tool.swapkit]\ndeadline = 70\norder = ["prospolabs"]\n'
    )
    config = load_config()
    assert config.deadline == 70
    assert config.order == ["prospolabs"]
    assert config.source == "pyproject.toml"
    (folder / "swapkit.toml").write_text("deadline = 20\n")
    assert load_config().deadline == 20
    assert load_config(False).deadline == DEFAULT_DEADLINE


def test_a_pyproject_without_the_table_is_no_configuration(folder: Path) -> None:
    (folder / "pyproject.toml").write_text('[project]\nname = "app"\n')
    assert load_config().source is None


def test_swapkit_config_names_the_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "conf").mkdir()
    (folder / "conf" / "prod.toml").write_text("strategy = 'fastest'\n")
    monkeypatch.setenv("SWAPKIT_CONFIG", str(folder / "conf" / "prod.toml"))
    assert load_config().strategy == "fastest"
    monkeypatch.setenv("SWAPKIT_CONFIG", str(folder / "nope.toml"))
    with pytest.raises(errors.ConfigurationError, match="SWAPKIT_CONFIG"):
        load_config()
    with pytest.raises(errors.ConfigurationError, match="config="):
        load_config(folder / "missing.toml")


def test_the_environment_alone_configures_order_and_strategy(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWAPKIT_ORDER", "prospolabs, acedata")
    monkeypatch.setenv("SWAPKIT_STRATEGY", "cheapest")
    config = load_config()
    assert config.order == ["prospolabs", "acedata"]
    assert config.strategy == "cheapest"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("deadline = -1\n", "deadline"),
        ("strategy = 'random'\n", "strategy"),
        ("colour = 'blue'\n", "colour"),
        ("deadline = [\n", "cannot read the configuration file"),
        ("[providers.prospolabs]\nprice = 1\n", "has no setting 'price' (in swapkit.toml"),
        ("[providers.prospolabs]\nprice_usd = 'free'\n", "swapkit.toml [providers.prospolabs]"),
    ],
)
def test_a_bad_file_says_what_and_where(
    kind: str, folder: Path, plugin_manager: pluggy.PluginManager, content: str, words: str
) -> None:
    (folder / "swapkit.toml").write_text(content)
    with pytest.raises(errors.ConfigurationError) as caught:
        client(kind, plugin_manager, providers=["prospolabs"])
    assert words in str(caught.value)


def test_the_cli_shows_where_each_setting_came_from(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "swapkit.toml").write_text(TOML)
    monkeypatch.setenv("SWAPKIT_PROSPOLABS_TIMEOUT", "30")
    assert cli.main(["providers"]) == 0
    out = capsys.readouterr().out
    section = out.split("prospolabs  (")[1].split("\n\n")[0]
    assert "swapkit.toml [providers.prospolabs]" in section
    assert "the environment variable SWAPKIT_PROSPOLABS_TIMEOUT" in section
    assert "prsp-from-file" not in out
    assert "****" in section


def test_the_cli_follows_the_file_unless_told_otherwise(
    folder: Path,
    swapkit_sandbox_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from swapkit.cli_jobs import default_ledger
    from swapkit.sandbox import sample_face, sample_scene

    server = swapkit_sandbox_server
    (folder / "face.png").write_bytes(sample_face())
    (folder / "scene.png").write_bytes(sample_scene())
    (folder / "swapkit.toml").write_text(
        'order = ["deepswapai", "prospolabs"]\nstrategy = "cheapest"\nledger = "file.db"\n'
        f'[providers.prospolabs]\napi_key = "prsp-sandbox"\nprice_usd = 0.01\n'
        f'base_url = "{server.base_url("prospolabs")}"\n'
        f'[providers.deepswapai]\napi_key = "ds-sandbox"\nprice_usd = 0.5\n'
        f'base_url = "{server.base_url("deepswapai")}"\n'
    )
    monkeypatch.delenv("SWAPKIT_LEDGER", raising=False)
    assert default_ledger() == Path("file.db")
    # the file's strategy (cheapest) puts Prospolabs first, although the order lists it second
    assert cli.main(["swap", "face.png", "scene.png", "-o", "out.jpg", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["provider"] == "prospolabs"
    assert (folder / "file.db").exists()
    argv = ["swap", "face.png", "scene.png", "-o", "o2.jpg", "--json", "--strategy", "ordered"]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["provider"] == "deepswapai"
