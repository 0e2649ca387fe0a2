"""Client settings from the environment and from a file: ``swapkit.toml`` or ``[tool.swapkit]``.

Every client setting is resolved in one order, **keyword > environment > file > default**:

* a keyword argument of `SwapClient` / `AsyncSwapClient` (or a provider's entry in
  ``providers={...}``) wins;
* then the environment: ``SWAPKIT_ORDER``, ``SWAPKIT_STRATEGY``, ``SWAPKIT_DEADLINE``,
  ``SWAPKIT_MAX_ATTEMPTS``, ``SWAPKIT_MAX_COST_USD``, ``SWAPKIT_LEDGER``,
  ``SWAPKIT_WEBHOOK_URL``, ``SWAPKIT_STATE``, and per provider ``SWAPKIT_<PROVIDER>_<SETTING>``;
* then the file: ``swapkit.toml`` in the working directory, else the ``[tool.swapkit]`` table
  of its ``pyproject.toml`` (or the file ``SWAPKIT_CONFIG`` or ``config=`` names);
* then swapkit's defaults.

The file holds the same names, and one table per provider::

    order = ["prospolabs", "deepswapai"]      # the providers, in fallback order
    strategy = "cheapest"
    deadline = 90
    max_cost_usd = 0.10
    ledger = "var/swapkit.db"
    state = "redis://127.0.0.1:6379/0"        # breakers shared by every process (optional)

    [providers.prospolabs]
    price_usd = 0.05
    max_concurrency = 4

pydantic-settings reads and validates it (its environment and TOML sources; the
``[tool.swapkit]`` table is handed to it as one more source); a mistake names the setting and
where it came from.  Keep API keys in the environment or a secrets manager rather
than in a file in the repository; the file may hold them, and they are treated as secrets.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from swapkit.core.errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_ATTEMPTS",
    "SwapkitConfig",
    "config_file",
    "load_config",
]

#: End-to-end bound of one swap when nothing sets one (seconds).
DEFAULT_DEADLINE = 120.0
#: Attempts per swap, retries and failover hops together.
DEFAULT_MAX_ATTEMPTS = 4
#: The largest configuration file read (bytes).
MAX_FILE_BYTES = 1 << 20


class SwapkitConfig(BaseSettings):
    """The client settings from the environment and the file (keywords are applied by the
    client on top)."""

    model_config = SettingsConfigDict(env_prefix="SWAPKIT_", extra="forbid", frozen=True)

    order: Annotated[list[str] | None, NoDecode] = None
    strategy: Literal["ordered", "cheapest", "fastest"] = "ordered"
    deadline: float = Field(default=DEFAULT_DEADLINE, gt=0, allow_inf_nan=False)
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1)
    max_cost_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    ledger: str | None = None
    webhook_url: str | None = None
    #: A shared state store's URL (``redis://…``, ``sqlite:///path``), see `open_state_store`.
    state: str | None = None
    #: Per provider, its settings from the file (the environment has its own variables).
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: Where the file values came from (None: no file), for messages.
    source: str | None = Field(default=None, exclude=True)

    @field_validator("order", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("ledger", "webhook_url", "state", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    def provider_settings(self, name: str) -> dict[str, Any]:
        return dict(self.providers.get(name) or {})


def config_file(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The file to read: `path`, else ``SWAPKIT_CONFIG``, else ``./swapkit.toml``, else
    ``./pyproject.toml`` when it has a ``[tool.swapkit]`` table; None when there is none."""
    named = path if path is not None else os.environ.get("SWAPKIT_CONFIG") or None
    if named is not None:
        found = Path(named)
        if not found.is_file():
            raise ConfigurationError(
                f"no configuration file at {str(found)!r} (from "
                f"{'config=' if path is not None else 'SWAPKIT_CONFIG'}); fix the path"
            )
        return found
    local = Path("swapkit.toml")
    if local.is_file():
        return local
    pyproject = Path("pyproject.toml")
    if pyproject.is_file() and "swapkit" in _read(pyproject).get("tool", {}):
        return pyproject
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigurationError(f"{path} is over 1 MiB: not a swapkit configuration file")
        with path.open("rb") as handle:
            loaded: dict[str, Any] = tomllib.load(handle)
            return loaded
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read the configuration file {str(path)!r}: {exc}"
        ) from None


def load_config(path: str | os.PathLike[str] | bool | None = None) -> SwapkitConfig:
    """The settings from the environment and the configuration file (`path`; None: look for
    one; False: none)."""
    found = None if path is False else config_file(None if path is True else path)
    sources: list[Any] = []
    if found is not None:
        content = _read(found)  # a clear message for a file that is not TOML
        if found.name == "pyproject.toml":
            table = content.get("tool", {}).get("swapkit", {})
            sources.append(lambda cls: InitSettingsSource(cls, init_kwargs=table))
        else:
            sources.append(lambda cls: TomlConfigSettingsSource(cls, toml_file=found))

    class _Loaded(SwapkitConfig):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, *(make(settings_cls) for make in sources))

    where = str(found) if found is not None else None
    try:
        loaded = _Loaded(source=where)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'config'}: {error['msg']}"
            for error in exc.errors()
        )
        origin = f"{where} or the SWAPKIT_* environment" if where else "the SWAPKIT_* environment"
        raise ConfigurationError(f"invalid swapkit settings (from {origin}): {problems}") from None
    return loaded
